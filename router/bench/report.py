"""What `frontdesk bench load` measures and how it shows it: each request's acknowledgement, the
event stream's timestamps (intake -> offer -> acceptance), Redis memory, processes' CPU; a progress
bar on stderr while it runs; JSON, a text table and a self-contained HTML page (inline SVG charts
drawn by matplotlib, as the reports' are) after.
"""

from __future__ import annotations

import datetime
import html
import math
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from redis.asyncio import Redis

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.keys import Keys
from frontdesk.router.reports.charts import line_chart

PAGE = 10_000  # events read per XRANGE
MIN_WAITING = 1000  # fewer waiting: memory per waiting request is not reported


@dataclass(slots=True)
class Outcome:
    """One request sent: when (seconds since the run started), through which channel, and its
    acknowledgement latency and request id, or why it failed."""

    channel: str
    sent_s: float
    latency_s: float | None = None
    request: str | None = None
    error: str | None = None


@dataclass(slots=True)
class Timing:
    """A request's moments on the Redis clock (ms), from the event stream."""

    enqueued: int | None = None
    offered: int | None = None
    accepted: int | None = None
    completed: int | None = None


@dataclass(slots=True)
class Sample:
    """Once a second while the run lasts: Redis memory and the requests waiting."""

    at_s: float
    used_memory: int
    waiting: int


@dataclass(slots=True)
class Watched:
    """The processes whose CPU is reported, by role."""

    pids: dict[str, list[int]] = field(default_factory=dict)
    start: dict[str, float] = field(default_factory=dict)

    def begin(self) -> None:
        self.start = {role: cpu_seconds(p) for role, p in self.pids.items()}

    def used(self) -> dict[str, float]:
        return {role: cpu_seconds(p) - self.start.get(role, 0.0) for role, p in self.pids.items()}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes, from /proc/<pid>/stat (fields 14 and 15); a
    process that is gone counts 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


# -- Redis ----------------------------------------------------------------------------------------
async def waiting(redis: Redis, keys: Keys) -> int:
    """Requests waiting in every queue of the tenant."""
    members: Any = await redis.smembers(keys.queues)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in members]
    if not names:
        return 0
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.zcard(keys.queue(name))
    return int(sum(await pipe.execute()))


async def sample(redis: Redis, keys: Keys, at_s: float) -> Sample:
    info = await redis.info("memory")
    return Sample(round(at_s, 2), int(info["used_memory"]), await waiting(redis, keys))


async def stream_start(redis: Redis) -> str:
    """An event id before anything this run does (the Redis clock, now)."""
    seconds, micros = await redis.time()
    return f"{int(seconds) * 1000 + int(micros) // 1000}-0"


async def timings(redis: Redis, keys: Keys, start: str, ids: set[str]) -> dict[str, Timing]:
    """The first enqueue, offer (or assignment), acceptance and completion of each of `ids`,
    read from the event stream after `start`; bounded by the stream's length."""
    found: dict[str, Timing] = {}
    after = start
    pages = 1 + int(await redis.xlen(keys.events)) // PAGE
    for _ in range(pages + 1):
        entries: Any = await redis.xrange(keys.events, after, "+", count=PAGE)
        for entry_id, raw in entries:
            event = Event.from_entry(entry_id, raw)
            if event.request not in ids:
                continue
            t = found.setdefault(event.request, Timing())
            if event.type is EventType.ENQUEUED and t.enqueued is None:
                t.enqueued = event.ts_ms
            elif event.type in (EventType.OFFERED, EventType.ASSIGNED) and t.offered is None:
                t.offered = event.ts_ms
            if event.type in (EventType.ACCEPTED, EventType.ASSIGNED) and t.accepted is None:
                t.accepted = event.ts_ms
            elif event.type is EventType.COMPLETED and t.completed is None:
                t.completed = event.ts_ms
        if len(entries) < PAGE:
            break
        after = "(" + (
            entries[-1][0].decode() if isinstance(entries[-1][0], bytes) else entries[-1][0]
        )
    return found


# -- figures --------------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """count, p50, p95, p99 and max (nearest rank), in milliseconds, of values in seconds."""
    if not values:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000, 2)

    return {
        "count": len(ordered),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def summarize(
    outcomes: list[Outcome],
    intake_s: float,
    found: dict[str, Timing],
    samples: list[Sample],
    cpu: dict[str, float],
    wall_s: float,
    agents: dict[str, Any],
    setup: dict[str, Any],
) -> dict[str, Any]:
    """The report: a JSON-ready dict."""
    ok = [o for o in outcomes if o.error is None]
    ids = {o.request for o in ok if o.request}
    channels = sorted({o.channel for o in outcomes})
    per_channel = {
        ch: {
            "sent": sum(1 for o in outcomes if o.channel == ch),
            "acknowledged": sum(1 for o in ok if o.channel == ch),
            **percentiles([o.latency_s or 0.0 for o in ok if o.channel == ch]),
        }
        for ch in channels
    }
    to_offer = [(t.offered - t.enqueued) / 1000 for t in found.values() if t.enqueued and t.offered]
    to_accept = [
        (t.accepted - t.enqueued) / 1000 for t in found.values() if t.enqueued and t.accepted
    ]
    peak = max(samples, key=lambda s: s.waiting, default=None)
    base = samples[0].used_memory if samples else 0
    end = samples[-1].used_memory if samples else 0
    return {
        "benchmark": "bench_load",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "setup": setup,
        "sent": len(outcomes),
        "acknowledged": len(ok),
        "requests": len(ids),
        "intake_seconds": round(intake_s, 3),
        "accepted_per_s": round(len(ok) / intake_s, 1) if intake_s > 0 else None,
        "errors": dict(Counter(o.error for o in outcomes if o.error).most_common()),
        "channels": per_channel,
        "acknowledgement": percentiles([o.latency_s or 0.0 for o in ok]),
        "enqueued": sum(1 for t in found.values() if t.enqueued),
        "offered": sum(1 for t in found.values() if t.offered),
        "accepted": sum(1 for t in found.values() if t.accepted),
        "completed": sum(1 for t in found.values() if t.completed),
        "not_offered": sorted(i for i in ids if not (found.get(i) and found[i].offered))[:20],
        "intake_to_offer": percentiles(to_offer),
        "intake_to_acceptance": percentiles(to_accept),
        "redis": {
            "used_memory_start": base,
            "used_memory_end": end,
            "peak_waiting": peak.waiting if peak else 0,
            "used_memory_at_peak_waiting": peak.used_memory if peak else 0,
            # everything a request leaves in Redis: record, idempotency key, customer, events
            "bytes_per_request": round((end - base) / len(ids)) if ids else None,
            # INFO memory / waiting, at the second the most requests waited (when enough did
            # for it to mean something: run with --agents 0 to measure it)
            "bytes_per_waiting_request": round(peak.used_memory / peak.waiting)
            if peak and peak.waiting >= MIN_WAITING
            else None,
        },
        "cpu": {
            role: {"seconds": round(s, 2), "cores": round(s / wall_s, 2) if wall_s else None}
            for role, s in cpu.items()
        },
        "wall_seconds": round(wall_s, 2),
        "agents": agents,
        "series": _series(outcomes, found, samples),
    }


def _series(
    outcomes: list[Outcome], found: dict[str, Timing], samples: list[Sample]
) -> dict[str, Any]:
    """Per second of the run: acknowledgements by channel, offers, acceptances, p50/p99
    acknowledgement latency; and the samples."""
    acks: dict[str, Counter[int]] = {}
    lat: dict[int, list[float]] = {}
    for o in outcomes:
        if o.error is None and o.latency_s is not None:
            second = int(o.sent_s + o.latency_s)
            acks.setdefault(o.channel, Counter())[second] += 1
            lat.setdefault(int(o.sent_s), []).append(o.latency_s)
    first = min((t.enqueued for t in found.values() if t.enqueued), default=0)
    offers = Counter((t.offered - first) // 1000 for t in found.values() if t.offered)
    accepts = Counter((t.accepted - first) // 1000 for t in found.values() if t.accepted)
    seconds = 1 + max([*(max(c, default=0) for c in acks.values()), *offers, *accepts, 0])
    return {
        "acknowledged": {ch: [c[s] for s in range(seconds)] for ch, c in sorted(acks.items())},
        "offered": [offers[s] for s in range(seconds)],
        "accepted": [accepts[s] for s in range(seconds)],
        "ack_p50_ms": [_pct(lat.get(s), 0.5) for s in range(seconds)],
        "ack_p99_ms": [_pct(lat.get(s), 0.99) for s in range(seconds)],
        "waiting": [[s.at_s, s.waiting] for s in samples],
        "used_memory_mib": [[s.at_s, round(s.used_memory / 2**20, 2)] for s in samples],
    }


def _pct(values: list[float] | None, p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000, 2)


def machine() -> dict[str, Any]:
    """The machine a benchmark ran on, as every benchmark reports it: cores, CPU model, memory,
    Python, platform, the load average at the start and the date."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    return {
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine meanwhile
        "date": datetime.date.today().isoformat(),
    }


# -- for people -----------------------------------------------------------------------------------
def _ms(value: object) -> str:
    return "-" if value is None else f"{value:,.1f}" if isinstance(value, float) else str(value)


def table(report: dict[str, Any]) -> str:
    """The report as plain text."""
    m, s = report["machine"], report["setup"]
    lines = [
        f"frontdesk bench load: {report['sent']:,} sent, {report['acknowledged']:,} acknowledged "
        f"in {report['intake_seconds']:.1f} s = {report['accepted_per_s'] or 0:,.1f} accepted/s "
        f"({s.get('rate') or 'as fast as it goes'} target, {s.get('daemons', 1)} daemon(s), "
        f"{s.get('agents', 0)} agents; {m['cpus']} cores, {m['memory_gib']} GiB, {report['date']})",
        "",
        f"{'acknowledgement':<22}{'sent':>8}{'acked':>8}{'p50 ms':>10}{'p95 ms':>10}"
        f"{'p99 ms':>10}{'max ms':>10}",
    ]
    for ch, c in report["channels"].items():
        lines.append(
            f"{ch:<22}{c['sent']:>8}{c['acknowledged']:>8}{_ms(c['p50_ms']):>10}"
            f"{_ms(c['p95_ms']):>10}{_ms(c['p99_ms']):>10}{_ms(c['max_ms']):>10}"
        )
    for name, key in (
        ("intake -> offer", "intake_to_offer"),
        ("intake -> acceptance", "intake_to_acceptance"),
    ):
        c = report[key]
        lines.append(
            f"{name:<22}{'':>8}{c['count']:>8}{_ms(c['p50_ms']):>10}{_ms(c['p95_ms']):>10}"
            f"{_ms(c['p99_ms']):>10}{_ms(c['max_ms']):>10}"
        )
    r = report["redis"]
    lines += [
        "",
        f"offered {report['offered']:,}, accepted {report['accepted']:,}, completed "
        f"{report['completed']:,} of {report['requests']:,} requests",
        "errors: " + (", ".join(f"{k} x{v}" for k, v in report["errors"].items()) or "none"),
        f"redis: {_bytes(r['bytes_per_request'])} per request stored; peak {r['peak_waiting']:,} "
        f"waiting at {_bytes(r['used_memory_at_peak_waiting'])} used "
        f"({_bytes(r['bytes_per_waiting_request'])} per waiting request)",
        "cpu (cores busy on average): "
        + ", ".join(f"{role} {c['cores']}" for role, c in report["cpu"].items()),
    ]
    return "\n".join(lines)


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} B"


def page(report: dict[str, Any]) -> str:
    """A self-contained HTML page: the table and three charts, no script, no external file."""
    s = report["series"]
    per_second = {f"{ch} acknowledged": list(v) for ch, v in s["acknowledged"].items()}
    per_second |= {"offered": s["offered"], "accepted": s["accepted"]}
    waiting = {"waiting": [w for _, w in s["waiting"]]}
    charts = [
        line_chart("Requests per second", per_second, "requests/s"),
        line_chart(
            "Acknowledgement latency (by second sent)",
            {"p50": s["ack_p50_ms"], "p99": s["ack_p99_ms"]},
            "ms",
        ),
        line_chart("Requests waiting (sampled once a second)", waiting, "requests"),
    ]
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>frontdesk bench load</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}"
        "</style></head><body>\n<h1>frontdesk bench load</h1>\n"
        f"<pre>{html.escape(table(report))}</pre>\n" + "\n".join(charts) + "\n</body></html>\n"
    )


# -- while it runs --------------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on stderr, redrawn in place on a terminal, a line every 5 s
    otherwise; silent when `enabled` is false."""

    WIDTH = 30

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def show(self, done: float, text: str, final: bool = False) -> None:
        """`done` is the fraction of the run behind us (by count or time, whichever is ahead)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not (final or self.tty or now - self._last >= 5.0):
            return
        self._last = now
        filled = int(self.WIDTH * min(1.0, max(0.0, done)))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"[{bar}] {100 * min(1.0, done):3.0f}% {text}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else "\x1b[K"))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
