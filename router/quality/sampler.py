"""The daily sample's background task: once a day's instant (`quality.at`, the day after) has
passed on the Redis clock, one daemon claims the day, reads its closed requests, draws the
sample (router/quality/sample.py) and stores it in the review queue in one script call. Every
daemon runs one; the day's summary in Redis makes it once, whoever wins the claim.

What it reads: the day's completed and abandoned events from the event stream (its ids are the
Redis clock's milliseconds, so a day is an id range), paged with XRANGE COUNT, then the closed
requests' hashes in pipelines. That is once a day, by one daemon, and its cost is the day's
events and closed requests: nothing per agent, nothing on the path of any request. An index
kept by the complete and abandon scripts would cost every close a write, for a read once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from frontdesk.queues.events import EventLog, id_order
from frontdesk.queues.reviews import Closed, ReviewStore
from frontdesk.router.quality.config import QualitySettings
from frontdesk.router.quality.sample import Row, draw

log = logging.getLogger("frontdesk.quality")

LEASE_MS = 120_000  # a claim outlives a daemon that died drawing by this much
CATCH_UP_DAYS = 3  # days back a daemon that was down samples when it starts again
CHECK_S = 60.0  # the longest wait between two looks at the clock (a clock step, a reload)


@dataclass(frozen=True, slots=True)
class Taken:
    """A day this daemon sampled: how many of how many closed; `partial` when the stream had
    been trimmed past the day's start (events.max_length) and the sample drew from what was
    left."""

    day: date
    size: int
    closed: int
    partial: bool = False


class Sampler:
    """Takes each day's sample once across daemons."""

    def __init__(
        self, reviews: ReviewStore, events: EventLog, settings: Callable[[], QualitySettings]
    ) -> None:
        self.reviews = reviews
        self.events = events
        self.settings = settings
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def rows(self, day: date) -> list[Row]:
        """The day's closed requests (still closed and still kept)."""
        start, end = self.settings().bounds(day)
        closed = await self.reviews.closed_between(start, end)
        return [_row(c) for c in closed]

    async def draw(self, day: date) -> list[Row]:
        """The day's sample as it would be taken now (reads only): the same day, the same
        sample, on any daemon."""
        return draw(await self.rows(day), self.settings().share, await self.reviews.seed(str(day)))

    async def take(self, day: date) -> Taken | None:
        """Sample `day` unless it is sampled already or another daemon is at it (None)."""
        quality = self.settings()
        name = str(day)
        if await self.reviews.claim(name, self.token, LEASE_MS) != 1:
            return None
        start, _ = quality.bounds(day)
        rows = await self.rows(day)
        sample = draw(rows, quality.share, await self.reviews.seed(name))
        bounds = await self.events.bounds()
        # trimmed past the day's start: the stream begins after it and is at its max length
        # (a stream that simply began later, on a new desk, is not short of anything)
        full = bounds.length >= 0.9 * self.reviews.stream_maxlen
        partial = full and bounds.first is not None and id_order(bounds.first) > (start, 0)
        summary = {
            "closed": len(rows),
            "share": quality.share,
            "agents": len({r.agent for r in rows if r.agent}),
            "calendar": quality.calendar,
            "partial": partial,
        }
        picked = [Closed(r.id, r.channel, r.category, r.agent) for r in sample]
        stored = await self.reviews.store_sample(name, self.token, picked, summary)
        if stored is None:
            return None
        if partial:
            log.warning("quality sample of %s drawn from a trimmed event stream (events."
                        "max_length): requests closed before %s are not in it", name,
                        bounds.first)  # fmt: skip
        log.info("quality sample of %s: %d of %d closed requests", name, stored, len(rows))
        return Taken(day, stored, len(rows), partial)

    async def step(self) -> list[Taken]:
        """Sample every due day (the last CATCH_UP_DAYS) not sampled yet."""
        quality = self.settings()
        if quality.share <= 0:
            return []
        last = quality.last_due(await self.reviews.now_ms())
        days = [last - timedelta(days=n) for n in reversed(range(CATCH_UP_DAYS))]
        done = await self.reviews.sampled_days([str(d) for d in days])
        taken = [await self.take(d) for d in days if done[str(d)] is None]
        return [t for t in taken if t is not None]

    async def run(self, stopping: asyncio.Event, once: bool = False) -> None:
        """Until `stopping`: sample what is due, then wait for the next day's instant (at most
        CHECK_S); `once`: one such round."""
        while not stopping.is_set():
            await self.step()
            quality = self.settings()
            now = await self.reviews.now_ms()
            wait_s = (quality.due_ms(quality.last_due(now) + timedelta(days=1)) - now) / 1000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), max(0.05, min(wait_s, CHECK_S)))
            if once:
                return


def _row(closed: Closed) -> Row:
    return Row(closed.id, closed.channel, closed.category, closed.agent)
