"""Make docs/screens/report.png: a scripted working week of a Shanghai desk (Mon-Fri 08:30-18:00)
turned into the events the scripts emit, added to the figures by the live follower's own apply
script on a private redis-server, rendered as the overview report's HTML page and photographed
by headless chromium. Also prints how much Redis holds per hour bucket of that week.

    python benchmarks/report_screenshot.py [--out docs/screens/report.png] [--html FILE]

The week is made up, not measured: arrivals by a working day's curve per channel (chat at the
desk's busy hours, email through the day and night, a few calls and forms), first responses
and handle times drawn from log-normal laws with a seed, a share abandoned, escalated or
transferred, SLA outcomes against the example config's targets, and survey answers.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.reports import HOUR_MS, EventAdds, ReportStore
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.reports.figures import Basis, adds
from frontdesk.router.reports.page import output
from frontdesk.router.reports.query import parse_query
from frontdesk.router.reports.tables import run

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
H = 3600
DESK = Calendar("desk", ZONE, (((8 * H + 1800, 18 * H),),) * 5 + ((), ()))
MONDAY = date(2026, 11, 23)
# per channel: requests on a weekday, mean first response (s), its spread, SLA target (s)
CHANNELS = {"chat": (180, 14, 0.7, 30), "email": (90, 2400, 0.9, 7200), "phone": (25, 900, 0.8,
            86400), "social": (40, 90, 0.8, 300), "form": (30, 3600, 0.9, 7200)}  # fmt: skip
CATEGORIES = ["orders", "account", "product", "advice", "complaints"]
AGENTS = ["li.na", "wang.wei", "sarah", "zhang.min", "omar", "chen.jie"]


class Week:
    def __init__(self, seed: int = 15) -> None:
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self.seq = 0

    def emit(
        self, ms: int, etype: EventType, req: str, agent: str, queue: str, **data: str
    ) -> None:
        self.seq += 1
        self.events.append(Event(f"{ms}-{self.seq}", etype, req, agent, queue, ms, data))

    def arrival(self, day: date, channel: str) -> int:
        """An instant of `day`: chat and social by the desk's hours, email at any hour."""
        r = self.rng
        hour = r.gauss(14, 3.2) if channel in ("chat", "social", "phone") else r.uniform(0, 24)
        hour = min(
            max(hour, 8.6 if channel != "email" else 0), 21.9 if channel != "email" else 23.99
        )
        local = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=hour)
        return int(local.timestamp() * 1000)

    def request(self, n: int, day: date, channel: str) -> None:
        r = self.rng
        _, mean_fr, spread, target = CHANNELS[channel]
        rid, queue = f"FD-{n}", "general" if channel != "email" else "email"
        cat = r.choices(CATEGORIES, [30, 25, 20, 15, 10])[0]
        common = {"channel": channel, "category": cat}
        t0 = self.arrival(day, channel)
        self.emit(t0, EventType.ENQUEUED, rid, "", queue, priority=r.choice(["high", "medium",
                  "medium", "low"]), tier="1", **common)  # fmt: skip
        if r.random() < 0.05:
            self.emit(
                t0 + int(r.uniform(20, 120) * 1000),
                EventType.ABANDONED,
                rid,
                "",
                queue,
                wait_ms="60000",
                state="waiting",
                taken="0",
                reason="left",
                **common,
            )
            return
        agent = r.choice(AGENTS)
        wait = int(r.lognormvariate(math.log(mean_fr * 0.6), spread) * 1000)
        self.emit(t0 + wait - 1, EventType.OFFERED, rid, agent, queue)
        self.emit(t0 + wait, EventType.ACCEPTED, rid, agent, queue, wait_ms=str(wait), first="1",
                  **common)  # fmt: skip
        fr = wait + int(r.lognormvariate(math.log(mean_fr * 0.4), spread) * 1000)
        self.emit(t0 + fr, EventType.MESSAGE, rid, agent, queue, author="agent",
                  first_response_ms=str(fr), **common)  # fmt: skip
        policy = channel if channel in ("chat", "email") else "default"
        late = fr > target * 1000
        if late:
            self.emit(t0 + target * 1000, EventType.SLA_BREACHED, rid, agent, queue, policy=policy,
                      target="first_response")  # fmt: skip
        self.emit(
            t0 + fr,
            EventType.SLA_MET,
            rid,
            agent,
            queue,
            policy=policy,
            target="first_response",
            breached="1" if late else "0",
            **common,
        )
        handle = int(r.lognormvariate(math.log(420 if channel == "chat" else 900), 0.7) * 1000)
        moved = r.random() < 0.12
        closer = agent
        if moved:
            kind = EventType.ESCALATED if r.random() < 0.6 else EventType.TRANSFERRED
            extra = ({"tier": "2", "note": r.choice(["too_complex", "too_slow", "wide_impact"])}
                     if kind is EventType.ESCALATED else {"reason": "wrong queue"})  # fmt: skip
            self.emit(t0 + fr + handle // 2, kind, rid, agent, "l2", **{"from": queue},
                      **extra, **common)  # fmt: skip
            closer = r.choice([a for a in AGENTS if a != agent])
        done = t0 + fr + handle
        self.emit(done, EventType.COMPLETED, rid, closer, queue, resolution="solved",
                  resolution_ms=str(done - t0), handle_ms=str(handle),
                  fcr="0" if moved else "1", tier="2" if moved else "1", **common)  # fmt: skip
        if r.random() < 0.35:
            score = r.choices([1, 2, 3, 4, 5], [3, 4, 10, 33, 50])[0] - (1 if late else 0)
            score = max(score, 1)
            comment = r.choice(["waited too long", "did not solve it", "rude reply"])
            self.emit(done + 300_000, EventType.FEEDBACK, rid, closer, queue, score=str(score),
                      comment=comment if score <= 2 else "", **common)  # fmt: skip

    def presence(self, day: date) -> None:
        for agent in AGENTS:
            start = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=8.5)
            end = start + timedelta(hours=9.5)
            ms = int(end.timestamp() * 1000)
            self.emit(ms, EventType.PRESENCE, "", agent, "", presence="offline", reason="",
                      previous="available", previous_ms=str(int(9.5 * H * 1000)))  # fmt: skip

    def build(self) -> list[Event]:
        n = 1000
        for d in range(5):
            day = MONDAY + timedelta(days=d)
            for channel, (volume, *_) in CHANNELS.items():
                for _ in range(int(volume * self.rng.uniform(0.85, 1.15))):
                    n += 1
                    self.request(n, day, channel)
            self.presence(day)
        return sorted(self.events, key=lambda e: e.ts_ms)


async def fill(redis: Redis, events: list[Event]) -> ReportStore:
    store = ReportStore(redis, Keys("screenshot"))
    basis = Basis(DESK)
    batch = [EventAdds(e.id, a) for e in events if (a := adds(e, basis))]
    for i in range(0, len(batch), 200):
        await store.apply(batch[i : i + 200], live=False)
    return store


async def bytes_per_hour(redis: Redis, store: ReportStore, events: list[Event]) -> float:
    hours = {e.ts_ms // HOUR_MS for e in events}
    used = [await redis.memory_usage(store.keys.report_hour(h)) or 0 for h in hours]
    return sum(used) / len(used)


async def main_async(args: argparse.Namespace) -> int:
    events = Week().build()
    data = Path(tempfile.mkdtemp(prefix="fd-report-"))
    server = EmbeddedRedis(data, appendfsync="no")
    server.start()
    try:
        redis = Redis.from_url(server.url)
        store = await fill(redis, events)
        per_hour = await bytes_per_hour(redis, store, events)
        params = {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=4)).isoformat()}
        table = await run(store, parse_query("overview", params, {"desk": DESK}))
        page = output(table, "html")
        await redis.aclose()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    html_path = Path(args.html) if args.html else Path(tempfile.mkdtemp()) / "report.html"
    html_path.write_text(page, encoding="utf-8")
    print(f"{len(events)} events; {per_hour:,.0f} bytes of figures per hour bucket (MEMORY USAGE)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="fd-chromium-")
    subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={out.resolve()}", "--window-size=1200,900",
         "--hide-scrollbars", html_path.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    shutil.rmtree(profile, ignore_errors=True)
    print(f"wrote {out} ({out.stat().st_size:,} bytes) from {html_path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screens" / "report.png"))
    parser.add_argument("--html", help="keep the HTML page here")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
