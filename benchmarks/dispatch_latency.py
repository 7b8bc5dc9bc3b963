"""Dispatch latency with agents at work: enqueue -> offer, and agent free -> offer.

Starts `frontdesk serve` (a real process, its embedded Redis) with `--agents` agents (capacity 1
on chat), each on the agent WebSocket (router/bench/agents.py) accepting every offer and
completing it after a handle time. Requests are enqueued straight into the queue layer at a fixed
rate (several enqueuers, so that 1,000/s is reached); both latencies come from the event stream's
Redis timestamps (millisecond resolution, one clock). For each rate, two steps:

    keep-up    handle time short enough that the agents keep up (fixed, at most half of what
               the desk could take: min(2 s, agents / rate / 2)): enqueue -> offer, and whether
               the queue grew (waiting at the start and the end of the step)
    saturated  a backlog first (every agent busy and `rate` x 1 s waiting beyond), then
               arrivals at `rate` while agents free at about the same rate (exponential handle
               time of mean agents / rate): agent free -> offer, the time from an agent's
               completion to its next offer, counted only while work was waiting (the stream
               says so: enqueued minus offered, at the moment of the completion), from 1 s
               after the backlog's burst (the burst's first second, 1,000 + rate requests
               enqueued at once, is shown apart: p99 with burst)
Between rates the agents drain what is left: every held request completed at once, the
waiting ones with handle time 0, so that the next rate starts with every agent free.

    python benchmarks/dispatch_latency.py                 # 1,000 agents at 50, 200, 1,000/s
    python benchmarks/dispatch_latency.py --quick --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Request, SkillRequirement
from frontdesk.queues.store import QueueStore
from frontdesk.router.bench.agents import AgentPool, HandleTime
from frontdesk.router.bench.report import machine
from frontdesk.router.bench.target import DaemonProcess
from frontdesk.router.http.auth import digest, new_token

SKILLS = ["billing", "refunds", "account", "product", "orders", "chinese", "english", "it"]
ENQUEUERS = 8
QUEUE = "chat"
SETTLE_MS = 1000  # free -> offer counted from this long after the backlog's burst
BACK_TO_WAITING = {EventType.REJECTED, EventType.EXPIRED, EventType.REQUEUED}


def config(data_dir: Path, agents: int) -> tuple[str, dict[str, str]]:
    tokens = {f"a{i}": new_token() for i in range(agents)}
    lines = [
        "tenant: bench",
        f"redis: {{data_dir: {data_dir}, appendfsync: everysec}}",
        "http: {host: 127.0.0.1, port: 0}",
        "offers: {max_missed_in_a_row: 0}",
        f"skills: [{', '.join(SKILLS)}]",
        "queues:",
        f"  {QUEUE}: {{offer_timeout: 120s, window: 200}}",
        f"default_queue: {QUEUE}",
        "api:",
        "  tokens:",
        *(
            f"    - {{name: {a}, scope: agent, agent: {a}, sha256: {digest(t)}}}"
            for a, t in tokens.items()
        ),
        "agents:",
    ]
    for i in range(agents):
        skills = {SKILLS[(i + k) % len(SKILLS)]: 1 + (i + k) % 5 for k in range(3)}
        body = ", ".join(f"{s}: {lvl}" for s, lvl in skills.items())
        lines.append(
            f"  - {{id: a{i}, skills: {{{body}}}, capacity: {{chat: 1}}, presence: offline}}"
        )
    return "\n".join(lines) + "\n", tokens


def pct(values: list[int], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return float(values[min(len(values) - 1, int(p * len(values)))])


class Feeder:
    """Enqueues requests (skills every agent group can take) at a rate, from several tasks."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.n = 0

    def _request(self) -> Request:
        i = self.n
        self.n += 1
        skill = SKILLS[i % len(SKILLS)]
        return Request(
            "", Channel.CHAT, QUEUE, external_id=f"r-{i}", skills=(SkillRequirement(skill, 1),)
        )

    async def burst(self, count: int) -> None:
        todo = iter(range(count))

        async def one() -> None:
            for _ in todo:
                await self.store.enqueue(self._request())

        await asyncio.gather(*(one() for _ in range(ENQUEUERS)))

    async def steady(self, rate: float, seconds: float) -> float:
        """Enqueue at `rate` for `seconds`; the rate achieved."""
        count = int(rate * seconds)
        t0 = time.perf_counter()
        slots = iter(range(count))

        async def one() -> None:
            for k in slots:
                delay = t0 + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.store.enqueue(self._request())

        await asyncio.gather(*(one() for _ in range(ENQUEUERS)))
        return count / (time.perf_counter() - t0)


def enqueue_to_offer(events: list[Event]) -> list[int]:
    enqueued: dict[str, int] = {}
    out = []
    for e in events:
        if e.type is EventType.ENQUEUED:
            enqueued[e.request] = e.ts_ms
        elif e.type is EventType.OFFERED and e.request in enqueued:
            out.append(e.ts_ms - enqueued.pop(e.request))
    return out


def free_to_offer(events: list[Event], waiting: int, from_ms: int = 0) -> tuple[list[int], int]:
    """(latencies of completions followed by an offer while work waited, completions seen while
    nothing waited), for completions at `from_ms` or later (Redis clock). `waiting` is the
    queue's length just before the first event."""
    freed: dict[str, int] = {}
    out, idle = [], 0
    for e in events:
        if e.type is EventType.ENQUEUED or e.type in BACK_TO_WAITING:
            waiting += 1
        elif e.type is EventType.OFFERED:
            waiting -= 1
            if e.agent in freed:
                out.append(e.ts_ms - freed.pop(e.agent))
        elif e.type is EventType.COMPLETED:
            if waiting > 0 and e.ts_ms >= from_ms:
                freed[e.agent] = e.ts_ms
            else:
                idle += 1
    return out, idle


async def step(log: EventLog, store: QueueStore, run: Any) -> tuple[list[Event], int, int, float]:
    """Run `run()` (which returns the rate achieved) between two marks of the stream; the events
    in between, the waiting count at start and end, and the rate."""
    bounds = await log.bounds()
    start_id, before = bounds.last_generated, await store.waiting_count(QUEUE)
    rate = await run()
    await asyncio.sleep(1.0)  # the last offers land
    after = await store.waiting_count(QUEUE)
    events = await log.range(f"({start_id}", "+") if start_id != "0-0" else await log.range()
    return events, before, after, rate


async def measure(
    pool: AgentPool, feeder: Feeder, log: EventLog, agents: int, rate: float, seconds: float
) -> dict[str, Any]:
    keep_s = min(2.0, agents / rate / 2)
    pool.handle = HandleTime("fixed", keep_s)
    events, w0, w1, achieved = await step(log, feeder.store, lambda: feeder.steady(rate, seconds))
    latencies = enqueue_to_offer(events)
    keep = {
        "handle_s": keep_s,
        "achieved_rate_per_s": round(achieved, 1),
        "offered": len(latencies),
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": pct(latencies, 1.0),
        "waiting_start": w0,
        "waiting_end": w1,
        "queue_grew": w1 > w0 + rate * 0.05,
    }
    mean_s = agents / rate
    pool.handle = HandleTime("exp", mean_s)

    backlog: list[int] = []
    settled: list[int] = []

    async def saturate() -> float:
        await feeder.burst(agents + int(rate))  # every agent busy, a second of work waiting
        backlog.append(await feeder.store.waiting_count(QUEUE))
        settled.append(await feeder.store.now_ms() + SETTLE_MS)
        return await feeder.steady(rate, seconds)

    waiting_before = await feeder.store.waiting_count(QUEUE)
    events, w0, w1, achieved = await step(log, feeder.store, saturate)
    freed, idle = free_to_offer(events, waiting_before, settled[0])
    with_burst, _ = free_to_offer(events, waiting_before)
    sat = {
        "handle_mean_s": round(mean_s, 2),
        "achieved_rate_per_s": round(achieved, 1),
        "samples": len(freed),
        "completions_while_empty": idle,
        "p50_ms": pct(freed, 0.5),
        "p99_ms": pct(freed, 0.99),
        "max_ms": pct(freed, 1.0),
        "p99_ms_with_burst": pct(with_burst, 0.99),
        "waiting_start": backlog[0],
        "waiting_end": w1,
    }
    pool.handle = HandleTime("fixed", 0.0)  # drain before the next rate
    deadline = time.monotonic() + 120
    while await feeder.store.waiting_count(QUEUE) and time.monotonic() < deadline:
        await pool.finish_all()  # the saturated step's long holds too: every agent free again
        await asyncio.sleep(0.2)
    await pool.finish_all()
    await asyncio.sleep(1.0)  # the last completions land
    return {"rate_per_s": rate, "keep_up": keep, "saturated": sat}


async def run(agents: int, rates: list[float], seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fdlat") as tmp:
        path = Path(tmp) / "bench.yaml"
        text, tokens = config(Path(tmp) / "data", agents)
        path.write_text(text)
        daemon = DaemonProcess(path)
        redis: Redis | None = None
        pool: AgentPool | None = None
        try:
            daemon.wait_ready()
            redis = Redis.from_url(f"unix://{Path(tmp) / 'data' / 'redis.sock'}")
            store, log = QueueStore(redis, Keys("bench")), EventLog(redis, Keys("bench"))
            pool = AgentPool((daemon.url,), tokens, HandleTime("fixed", 0.0))
            await pool.start()
            feeder = Feeder(store)
            results = [await measure(pool, feeder, log, agents, r, seconds) for r in rates]
            errors = dict(pool.tally.errors)
        finally:
            if pool is not None:
                await pool.stop()
            if redis is not None:
                await redis.aclose()
            daemon.stop()
    return {
        "benchmark": "dispatch_latency",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "agents": agents,
        "seconds_per_step": seconds,
        "agent_errors": errors,
        "results": results,
    }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def show(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"dispatch_latency: {report['agents']} agents (capacity 1), "
        f"{report['seconds_per_step']:g} s per step, {m['cpus']} cores, {report['date']}"
    )
    print("enqueue -> offer (agents keep up)")
    print(f"{'rate/s':>8}{'reached':>9}{'offered':>9}{'p50 ms':>8}{'p99 ms':>8}{'waiting':>14}")
    for r in report["results"]:
        k = r["keep_up"]
        grew = "grew" if k["queue_grew"] else "flat"
        print(
            f"{r['rate_per_s']:>8g}{k['achieved_rate_per_s']:>9g}{k['offered']:>9}"
            f"{_ms(k['p50_ms']):>8}{_ms(k['p99_ms']):>8}"
            f"{k['waiting_start']:>6}->{k['waiting_end']:<5}{grew}"
        )
    print("agent free -> offer (saturated: a backlog waiting)")
    print(
        f"{'rate/s':>8}{'reached':>9}{'samples':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'p99 with burst':>16}{'waiting':>14}"
    )
    for r in report["results"]:
        s = r["saturated"]
        print(
            f"{r['rate_per_s']:>8g}{s['achieved_rate_per_s']:>9g}{s['samples']:>9}"
            f"{_ms(s['p50_ms']):>8}{_ms(s['p99_ms']):>8}{_ms(s['p99_ms_with_burst']):>16}"
            f"{s['waiting_start']:>6}->{s['waiting_end']:<5}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0, 1000.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s per step")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    report = asyncio.run(run(args.agents, args.rates, seconds))
    show(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
