"""One dispatcher round at size, split: reads / build / match / hand-over.

Starts its own redis-server (the binary the embedded mode runs) in a temporary directory, fills
one queue with --waiting chat requests (one required skill of 20, level 1-3, mixed priorities)
and --agents agents (three skills each, chat capacity 1), and times rounds of one Dispatcher:

- cold: the dispatcher's first round (it has read nothing yet); every agent gets an offer.
- busy: every agent rejected its offer (as many changes as agents), then a round.
- steady: a few changes (--changes agents reject their offer, as many new requests), a round;
  the median of --repeat.
- idle: nothing changed since the last round (every agent holds an offer).

    python benchmarks/dispatch_round.py                       # 10,000 waiting x 2,000 agents
    python benchmarks/dispatch_round.py --quick               # 2,000 x 400
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Priority, Request, SkillRequirement
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.skills import Agent, Presence

SKILLS = [f"s{i}" for i in range(20)]
CONFIG = """\
skills: [{skills}]
default_queue: chat
queues:
  chat:
    offer_timeout: 1h
    window: {window}
"""
BATCH = 500


def _request(rng: random.Random) -> Request:
    need = SkillRequirement(rng.choice(SKILLS), rng.randint(1, 3))
    priority = rng.choice([Priority.LOW, Priority.MEDIUM, Priority.MEDIUM, Priority.HIGH])
    return Request("", channel=Channel.CHAT, queue="chat", skills=(need,), priority=priority)


def _agent(i: int, rng: random.Random) -> Agent:
    skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, 3)}
    return Agent(
        f"a{i}", f"Agent {i}", skills=skills, capacity={"chat": 1}, presence=Presence.AVAILABLE
    )


async def _gather(calls: list[Any]) -> None:
    for i in range(0, len(calls), BATCH):
        await asyncio.gather(*calls[i : i + BATCH])


async def _reject(store: QueueStore, n: int | None) -> int:
    """`n` open offers (all with None) rejected by their agents; returns how many."""
    k = store.keys
    ids = [i.decode() for i in await store.redis.zrange(k.offers, 0, -1)]
    if n is not None:
        ids = ids[:n]
    async with store.redis.pipeline(transaction=False) as pipe:
        for r in ids:
            pipe.hget(k.request(r), "agent")
        holders = await pipe.execute()
    await _gather([store.reject(r, a.decode()) for r, a in zip(ids, holders, strict=True)])
    return len(ids)


def _row(name: str, d: Dispatcher, changes: int) -> dict[str, Any]:
    return {"round": name, "changes": changes, **asdict(d.split)}


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="no")
        server.start()
        redis = Redis.from_url(server.url, max_connections=BATCH + 8)
        try:
            keys = Keys("bench")
            store, agents = QueueStore(redis, keys), AgentStore(redis, keys)
            text = CONFIG.format(skills=", ".join(SKILLS), window=args.waiting + 100)
            settings = parse_settings(text, "dispatch_round.yaml")
            began = time.perf_counter()
            await _gather([agents.upsert(_agent(i, rng)) for i in range(args.agents)])
            await _gather([store.enqueue(_request(rng)) for _ in range(args.waiting)])
            fill_s = time.perf_counter() - began
            print(f"filled {args.waiting:,} waiting x {args.agents:,} agents in {fill_s:.1f}s")
            d = Dispatcher(store, agents, lambda: settings)
            rows = []
            await d.round()
            rows.append(_row("cold", d, args.waiting + args.agents))
            changed = await _reject(store, None)
            await d.round()
            rows.append(_row("busy", d, changed))
            steady = []
            for _ in range(args.repeat):
                changed = await _reject(store, args.changes)
                await _gather([store.enqueue(_request(rng)) for _ in range(args.changes)])
                await d.round()
                steady.append(_row("steady", d, changed + args.changes))
            steady.sort(key=lambda r: r["total_ms"])
            rows.append(steady[len(steady) // 2])
            await d.round()
            rows.append(_row("idle", d, 0))
            return rows
        finally:
            await redis.aclose()
            server.stop()


def _print(rows: list[dict[str, Any]]) -> None:
    cols = ["reads_ms", "build_ms", "match_ms", "hand_over_ms", "total_ms"]
    print(f"{'round':<8}{'changes':>9}" + "".join(f"{c:>14}" for c in cols) + f"{'offers':>8}")
    for r in rows:
        line = f"{r['round']:<8}{r['changes']:>9}"
        line += "".join(f"{r[c]:>14.1f}" for c in cols) + f"{r['offers']:>8}"
        print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=2_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 waiting x 400 agents")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    a = parser.parse_args()
    if a.quick:
        a.waiting, a.agents = 2_000, 400
    result = asyncio.run(main(a))
    _print(result)
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    sys.exit(0)
