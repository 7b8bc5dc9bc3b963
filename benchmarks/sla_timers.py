"""Service-level clocks at size: what 100,000 open clocks cost the dispatcher, and how close to
its instant a warning or a breach fires.

Starts its own redis-server (the binary the embedded mode runs) in a temporary directory.

1. Dispatcher cost: two tenants side by side on the same server, each with --waiting chat
   requests (as benchmarks/dispatch_round.py makes them) and --agents agents, plus parked
   requests in a queue no agent serves, --open-clocks / 2 requests in all. Tenant `bare` has no SLA
   policy; tenant `clocks` has one (first response 1 h, resolution 8 h: nothing falls due
   during the run), so every request there carries two running clocks (--open-clocks in all)
   and the due set holds two members (warning, breach) per clock. Both are filled through the
   front door (the intake script). Then a steady dispatcher round (a few rejects and new
   requests, then a round; the median of --repeat) on each, and the SLA timer's step with
   nothing due (the median of 200).
2. Timer accuracy: a `frontdesk serve` process (its own interpreter: the load generator stays
   out of it) on a third tenant; this process opens --fired chat requests at about 500/s with a
   first response of 2 s (warning at 50%). Each warning and breach event carries its instant
   (`at`) and the Redis time it was appended (`ts`): fired minus due, p50/p99/max in ms.

    python benchmarks/sla_timers.py                 # 10,000 waiting x 2,000 agents, 100,000 clocks
    python benchmarks/sla_timers.py --quick         # 2,000 x 400, 20,000 clocks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dispatch_round import SKILLS, _agent, _gather, _reject, _request
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.intake.front import Front, Inbound
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.router.sla.timer import SlaTimer, timer_settings

ROUTING = """\
tenant: {tenant}
skills: [{skills}]
default_queue: chat
limits:
  per_sender: {{count: 1000000, per: 1m}}
  per_source: {{count: 1000000, per: 1m}}
queues:
  chat: {{offer_timeout: 1h, window: {window}}}
  parked: {{groups: [nobody]}}
rules:
  - name: parked
    when: {{attribute: {{parked: "yes"}}}}
    then: {{queue: parked}}
"""
POLICY = """\
sla:
  policies:
    - name: chat
      when: {channel: chat}
      targets: {first_response: 1h, resolution: 8h}
"""
ACCURACY = """\
tenant: acc
redis: {{url: "{url}"}}
http: {{port: 0}}
queues:
  chat: {{offer_timeout: 1h}}
default_queue: chat
limits:
  per_sender: {{count: 1000000, per: 1m}}
  per_source: {{count: 1000000, per: 1m}}
sla:
  tick: 250ms
  policies:
    - name: chat
      when: {{channel: chat}}
      targets:
        first_response: {{within: 2s, warning_at: 50%}}
"""


async def _fill(front: Front, n: int, parked: bool, rng: random.Random, tag: str) -> None:
    async def one(i: int) -> None:
        base = _request(rng)
        request = Request(
            "", Channel.CHAT, "chat", skills=base.skills, priority=base.priority,
            external_id=f"{tag}-{i}", customer=Customer(id=f"cust-{tag}-{i}"),
            attributes={"parked": "yes"} if parked else {},
        )  # fmt: skip
        await front.receive(Inbound(request))

    await _gather([one(i) for i in range(n)])


async def _tenant(redis: Redis, name: str, args: argparse.Namespace, sla: bool) -> dict[str, Any]:
    rng = random.Random(12)
    text = ROUTING.format(tenant=name, skills=", ".join(SKILLS), window=args.waiting + 100)
    settings = parse_settings(text + (POLICY if sla else ""), f"{name}.yaml")
    keys = Keys(name)
    store, agents = QueueStore(redis, keys), AgentStore(redis, keys)
    front = Front(store, CustomerStore(store), lambda: settings)
    await front.start()
    timer = SlaTimer(store.sla, store, lambda: timer_settings(settings))
    await timer.publish(force=True)
    began = time.perf_counter()
    await _gather([agents.upsert(_agent(i, rng)) for i in range(args.agents)])
    await _fill(front, args.waiting, False, rng, "w")
    # two clocks per request (first response, resolution): open_clocks / 2 requests in all
    await _fill(front, args.open_clocks // 2 - args.waiting, True, rng, "p")
    fill_s = time.perf_counter() - began
    d = Dispatcher(store, agents, lambda: settings)
    await d.round()
    await _reject(store, None)
    await d.round()
    steady = []
    for _ in range(args.repeat):
        changed = await _reject(store, args.changes)
        await _fill(front, args.changes, False, rng, f"n{len(steady)}")
        await d.round()
        steady.append(d.split.total_ms)
        assert changed >= 0
    steps = []
    for _ in range(200):
        t0 = time.perf_counter()
        await timer.step()
        steps.append((time.perf_counter() - t0) * 1000)
    return {
        "tenant": name,
        "open_clocks": await redis.zcard(keys.sla_due) // 2 if sla else 0,  # warning + breach
        "fill_s": round(fill_s, 1),
        "steady_round_ms": round(statistics.median(steady), 1),
        "timer_step_ms": round(statistics.median(steps), 3),
    }


def _settings_for_accuracy(url: str) -> Settings:
    return parse_settings(ACCURACY.format(url=url), "acc.yaml")


async def _accuracy(redis: Redis, url: str, n: int, tmp: Path) -> dict[str, Any]:
    config = tmp / "acc.yaml"
    config.write_text(ACCURACY.format(url=url))
    proc = subprocess.Popen(
        [sys.executable, "-m", "frontdesk.router.cli.main", "serve", "--config", str(config)],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if re.search(r"listening on http://", line):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start")
        settings = _settings_for_accuracy(url)
        store = QueueStore(redis, Keys("acc"))
        front = Front(store, CustomerStore(store), lambda: settings)
        await front.start()
        began = time.perf_counter()
        for i in range(n):  # about 500/s, so that due instants spread over the run
            request = Request(
                "", Channel.CHAT, "hi", external_id=f"a{i}", customer=Customer(id=f"a{i}")
            )
            await front.receive(Inbound(request))
            lag = began + (i + 1) / 500 - time.perf_counter()
            if lag > 0:
                await asyncio.sleep(lag)
        log = EventLog(redis, Keys("acc"))
        wanted = {EventType.SLA_WARNING, EventType.SLA_BREACHED}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fired = [e for e in await log.range() if e.type in wanted]
            if len(fired) >= 2 * n:
                break
            await asyncio.sleep(0.25)
        delays = sorted(e.ts_ms - int(e.data["at"]) for e in fired)
        late = sum(1 for e in fired if e.data.get("late") == "1")
        return {
            "fired": len(fired),
            "expected": 2 * n,
            "p50_ms": delays[len(delays) // 2],
            "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
            "max_ms": delays[-1],
            "late": late,
        }
    finally:
        proc.terminate()
        proc.wait(10)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="no")
        server.start()
        redis = Redis.from_url(server.url, max_connections=600)
        try:
            bare = await _tenant(redis, "bare", args, sla=False)
            print(json.dumps(bare))
            clocks = await _tenant(redis, "clocks", args, sla=True)
            print(json.dumps(clocks))
            accuracy = await _accuracy(redis, server.url, args.fired, Path(tmp))
            print(json.dumps(accuracy))
            return {"dispatcher": [bare, clocks], "accuracy": accuracy}
        finally:
            await redis.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=2_000)
    parser.add_argument("--open-clocks", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--fired", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="2,000 x 400, 20,000 clocks")
    parser.add_argument("--json", type=Path, help="write the result here too")
    a = parser.parse_args()
    if a.quick:
        a.waiting, a.agents, a.open_clocks, a.fired, a.repeat = 2_000, 400, 20_000, 500, 3
    result = asyncio.run(main(a))
    b, c = result["dispatcher"]
    print(
        f"steady round: {b['steady_round_ms']} ms without clocks, {c['steady_round_ms']} ms with "
        f"{c['open_clocks']:,} open clocks; timer step {c['timer_step_ms']} ms"
    )
    acc = result["accuracy"]
    print(
        f"timer accuracy (fired - due): p50 {acc['p50_ms']} ms, p99 {acc['p99_ms']} ms, max "
        f"{acc['max_ms']} ms over {acc['fired']} of {acc['expected']}"
    )
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    sys.exit(0)
