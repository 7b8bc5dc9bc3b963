"""Dispatch latency: from a request's enqueue to its offer, at a steady arrival rate.

Starts `frontdesk serve` (a real process, on its embedded Redis) with `--agents` agents, enqueues
requests at `--rate` per second for `--seconds`, and reads both events' Redis timestamps from the
event stream (millisecond resolution, one clock for both).

    python benchmarks/dispatch_latency.py                          # 1,000 agents, 50 and 200/s
    python benchmarks/dispatch_latency.py --rates 100 --seconds 10 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from queue_ops import machine
from redis.asyncio import Redis

from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Request, SkillRequirement
from frontdesk.queues.store import QueueStore

SKILLS = ["billing", "refunds", "account", "product", "orders", "chinese", "english", "it"]


def config(data_dir: Path, agents: int) -> str:
    lines = [
        "tenant: bench",
        f"redis: {{data_dir: {data_dir}, appendfsync: everysec}}",
        "http: {port: 0}",
        f"skills: [{', '.join(SKILLS)}]",
        "queues:",
        "  chat: {offer_timeout: 120s, window: 200}",
        "default_queue: chat",
        "agents:",
    ]
    for i in range(agents):
        skills = {SKILLS[(i + k) % len(SKILLS)]: 1 + (i + k) % 5 for k in range(3)}
        body = ", ".join(f"{s}: {lvl}" for s, lvl in skills.items())
        lines.append(
            f"  - {{id: a{i}, skills: {{{body}}}, capacity: {{chat: 3}}, presence: available}}"
        )
    return "\n".join(lines) + "\n"


def start_daemon(path: Path, cwd: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "frontdesk.router.cli.main", "serve", "--config", str(path)],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if m := re.search(r"listening on http://[\d.]+:(\d+)", line):
            return proc, int(m[1])
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"daemon did not start: {line}")


async def measure(
    store: QueueStore, events: EventLog, rate: float, seconds: float
) -> dict[str, Any]:
    start_id = (await events.range("-", "+"))[-1].id if await events.length() else "0-0"
    count = int(rate * seconds)
    ids: list[str] = []
    t0 = time.perf_counter()
    for i in range(count):
        skill = SKILLS[i % len(SKILLS)]
        request = Request("", Channel.CHAT, "chat", external_id=f"r{rate}-{i}",
                          skills=(SkillRequirement(skill, 1 + i % 3),))  # fmt: skip
        ids.append((await store.enqueue(request)).id)
        delay = t0 + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(2.0)  # let the last offers land
    enqueued: dict[str, int] = {}
    latencies: list[int] = []
    for event in await events.range(start_id, "+"):
        if event.type is EventType.ENQUEUED:
            enqueued[event.request] = event.ts_ms
        elif event.type is EventType.OFFERED and event.request in enqueued:
            latencies.append(event.ts_ms - enqueued.pop(event.request))
    latencies.sort()
    for request_id in ids:  # free the agents for the next rate: each rate starts on an empty floor
        await store.abandon(request_id, "benchmark step over")

    def pct(p: float) -> float:
        return float(latencies[min(len(latencies) - 1, int(p * len(latencies)))])

    return {
        "rate_per_s": rate,
        "achieved_rate_per_s": round(count / elapsed, 1),
        "requests": count,
        "offered": len(latencies),
        "not_offered": len(enqueued),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": float(latencies[-1]),
    }


async def run(agents: int, rates: list[float], seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fdlat") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(config(Path(tmp) / "data", agents))
        proc, _port = start_daemon(path, Path(tmp))
        try:
            redis = Redis.from_url(f"unix://{Path(tmp) / 'data' / 'redis.sock'}")
            store = QueueStore(redis, Keys("bench"))
            events = EventLog(redis, Keys("bench"))
            results = [await measure(store, events, r, seconds) for r in rates]
            await redis.aclose()
        finally:
            proc.terminate()
            proc.wait(30)
    return {
        "benchmark": "dispatch_latency",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "agents": agents,
        "seconds_per_rate": seconds,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = asyncio.run(run(args.agents, args.rates, args.seconds))
    m = report["machine"]
    print(f"dispatch_latency: {args.agents} agents, {args.seconds:g} s per rate, "
          f"{m['cpus']} cores, {m['memory_gib']} GiB, {report['date']}")  # fmt: skip
    print(f"{'rate/s':>8}{'offered':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for r in report["results"]:
        print(f"{r['rate_per_s']:>8g}{r['offered']:>9}{r['p50_ms']:>9g}{r['p99_ms']:>9g}"
              f"{r['max_ms']:>9g}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
