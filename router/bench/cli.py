"""`frontdesk bench load`: load-test frontdesk through its real channels.

    frontdesk bench load --start --rate 200 --duration 30 --mix form=3,webhook=3,smtp=2,chat=2 \\
        --agents 200 --json out.json --html out.html
    frontdesk bench load --url http://127.0.0.1:8080 --config frontdesk.yaml \\
        --agent-tokens agents.txt --pid "$(pidof -s frontdesk)" --rate 100 --duration 60

`--start` runs `frontdesk serve` itself on a generated config (embedded Redis in a temporary
directory; `--daemons N` runs N daemons on one redis-server that it starts too), with `--agents`
agents. `--url` drives a daemon already running: its config gives the site keys, the generic
webhook's secret, the SMTP listener and Redis (for the event stream and memory); the agent
tokens come from `--agent-tokens`, since the config keeps only their digests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from frontdesk.queues.keys import Keys
from frontdesk.router.bench.agents import AgentPool, HandleTime
from frontdesk.router.bench.load import Plan, drive, parse_mix
from frontdesk.router.bench.report import (
    Progress,
    Sample,
    Watched,
    page,
    sample,
    stream_start,
    summarize,
    table,
    timings,
)
from frontdesk.router.bench.target import (
    CHANNELS,
    DaemonProcess,
    Target,
    generate_config,
    read_tokens,
    started_target,
    target_from_config,
)
from frontdesk.router.conf.yaml import parse_duration
from frontdesk.router.daemon.redis_connect import from_url
from frontdesk.router.daemon.redis_server import EmbeddedRedis

MAX_SAMPLES = 4 * 3600  # once a second: longer than any run may last


async def run(
    plan: Plan,
    target: Target,
    agents: int | None,
    handle: HandleTime,
    drain_s: float,
    progress: Progress,
    setup: dict[str, Any],
) -> dict[str, Any]:
    """One load run against `target` with `agents` of its agent tokens at work (None: all)."""
    if target.redis_url is None:
        raise SystemExit("bench load needs the target's Redis (for the event stream)")
    redis = from_url(target.redis_url)
    keys = Keys(target.tenant)
    tokens = dict(sorted(target.agent_tokens.items())[: agents if agents is not None else None])
    pool = AgentPool(target.urls, tokens, handle, plan.seed)
    samples: list[Sample] = []
    stop = asyncio.Event()
    try:
        start_id = await stream_start(redis)
        await pool.start()
        watched = Watched({"daemons": list(target.pids), "bench": [os.getpid()]})
        if target.redis_pid:
            watched.pids["redis"] = [target.redis_pid]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        watched.begin()

        async def sampler() -> None:
            for _ in range(MAX_SAMPLES):  # bounded: once a second
                samples.append(await sample(redis, keys, loop.time() - t0))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    return

        sampling = asyncio.create_task(sampler())
        outcomes, intake_s = await drive(plan, target, progress)
        ids = {o.request for o in outcomes if o.error is None and o.request}
        deadline = loop.time() + drain_s
        while tokens and loop.time() < deadline and not ids <= pool.tally.accepted:
            await asyncio.sleep(0.1)  # every request accepted, or the drain time is up
        cpu, wall = watched.used(), loop.time() - t0
        stop.set()
        await sampling
        samples.append(await sample(redis, keys, loop.time() - t0))
        await pool.stop()
        found = await timings(redis, keys, start_id, ids)
    finally:
        stop.set()
        await pool.stop()
        await redis.aclose()
    setup |= {
        "agents": len(tokens),
        "handle_time": str(handle),
        "mix": plan.mix,
        "rate": plan.rate,
        "duration_s": plan.duration_s,
        "requests": plan.requests,
        "concurrency": plan.concurrency,
    }
    return summarize(outcomes, intake_s, found, samples, cpu, wall, pool.tally.as_dict(), setup)


def start_and_run(
    plan: Plan,
    agents: int,
    handle: HandleTime,
    drain_s: float,
    progress: Progress,
    daemons: int = 1,
    redis_url: str | None = None,
    redis_pid: int | None = None,
    setup: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start `daemons` daemons on a generated config with `agents` agents, run, stop them. One
    daemon uses its embedded Redis; several share `redis_url`, else a redis-server started
    here (the one the embedded mode runs, on a unix socket, AOF on, appendfsync everysec)."""
    with tempfile.TemporaryDirectory(prefix="fdbench-") as tmp:
        own: EmbeddedRedis | None = None
        if daemons > 1 and redis_url is None:
            own = EmbeddedRedis(Path(tmp) / "redis", appendfsync="everysec")
            own.start()
            redis_url, redis_pid = own.url, own.pid
        generated = generate_config(Path(tmp), agents, redis_url)
        procs = [DaemonProcess(generated.path, f"daemon{n}") for n in range(daemons)]
        try:
            for proc in procs:
                proc.wait_ready()
            target = started_target(generated, procs, redis_url, redis_pid)
            about = {"daemons": daemons, "started": True, "redis": redis_url or "embedded"}
            return asyncio.run(
                run(plan, target, agents, handle, drain_s, progress, about | (setup or {}))
            )
        finally:
            for proc in procs:
                proc.stop()
            if own is not None:
                own.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontdesk bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="drive intake through the real channels")
    where = load.add_mutually_exclusive_group(required=True)
    where.add_argument("--start", action="store_true", help="start frontdesk serve itself")
    where.add_argument("--url", help="a running daemon, e.g. http://127.0.0.1:8080 (loopback)")
    load.add_argument("--config", type=Path, help="with --url: the daemon's config file")
    load.add_argument("--agent-tokens", type=Path, help="with --url: 'AGENT TOKEN' lines")
    load.add_argument(
        "--pid",
        type=int,
        action="append",
        default=[],
        help="with --url: the daemon's process id, for its CPU (repeatable)",
    )
    load.add_argument("--daemons", type=int, default=1, help="with --start: daemons on one Redis")
    load.add_argument(
        "--rate", type=float, default=0.0, help="requests per second in all (0: as fast as it goes)"
    )
    load.add_argument("--duration", default="10s", help="sending stops after this (default 10s)")
    load.add_argument("--requests", type=int, help="and after this many requests")
    load.add_argument(
        "--mix",
        help="channel weights, e.g. form=3,webhook=3,smtp=2,chat=2 "
        "(default: every channel the target has, equally)",
    )
    load.add_argument("--concurrency", type=int, default=64, help="requests in flight at most")
    load.add_argument(
        "--agents", type=int, help="agents at work (--start default 50; --url: every token given)"
    )
    load.add_argument(
        "--handle", default="exp:2s", help="handle time: exp:2s, lognormal:2s, fixed:500ms"
    )
    load.add_argument(
        "--chat-hold", default="30s", help="a chat customer waits this long at most for an agent"
    )
    load.add_argument(
        "--drain", default="30s", help="after sending, wait this long at most for every acceptance"
    )
    load.add_argument("--timeout", default="30s", help="per request")
    load.add_argument("--seed", type=int, default=1)
    load.add_argument("--json", type=Path, help="write the report as JSON")
    load.add_argument("--html", type=Path, help="write the table and charts as one HTML file")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _seconds(parser: argparse.ArgumentParser, name: str, value: str) -> float:
    seconds = parse_duration(value)
    if seconds is None or seconds < 0:
        parser.error(f"--{name}: a duration such as 30s, 500ms or 2m, got {value!r}")
    return seconds


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.url and args.config is None:
        parser.error("--url needs --config, the daemon's config file")
    if args.start and (args.config or args.agent_tokens or args.pid):
        parser.error("--config, --agent-tokens and --pid go with --url")
    try:
        handle = HandleTime.parse(args.handle)
        mix = parse_mix(args.mix) if args.mix else None
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.daemons <= 16 or args.concurrency < 1 or args.rate < 0:
        parser.error("--daemons 1..16, --concurrency 1 or more, --rate 0 or more")
    agents = args.agents if args.agents is not None else (50 if args.start else None)
    hold = _seconds(parser, "chat-hold", args.chat_hold) if agents != 0 else 0.0
    plan = Plan(
        mix or {},
        args.rate or None,
        _seconds(parser, "duration", args.duration),
        args.requests,
        args.concurrency,
        _seconds(parser, "timeout", args.timeout),
        hold,
        args.seed,
    )
    drain = _seconds(parser, "drain", args.drain)
    progress = Progress(not args.quiet)
    if args.start:
        if not mix:
            plan = replace(plan, mix={c: 1.0 for c in CHANNELS})
        report = start_and_run(plan, agents or 0, handle, drain, progress, args.daemons)
    else:
        tokens = read_tokens(args.agent_tokens) if args.agent_tokens else {}
        target = target_from_config(args.url, args.config, tokens, tuple(args.pid))
        if not mix:
            plan = replace(plan, mix={c: 1.0 for c in target.channels})
        about = {"daemons": len(target.urls), "started": False, "url": args.url}
        report = asyncio.run(run(plan, target, agents, handle, drain, progress, about))
    report["command"] = "frontdesk bench load " + " ".join(argv)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.html:
        args.html.write_text(page(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
