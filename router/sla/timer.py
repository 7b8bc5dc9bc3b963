"""The SLA timer: every daemon runs one. Each step asks Redis what is due by the Redis clock
(one read-only script on the due set), fires it (one script that claims each warning and breach
with a ZREM, so one daemon fires it however many run) and does what only Python can: escalate
a breached request one tier. It then sleeps until the next due instant, at most `tick`, so a
warning fires within a tick of its instant; one that fell due while no daemon ran fires at the
first step after start, marked late.

The step costs one round trip when nothing is due (whatever the number of open clocks or
agents), and three when something is: the due read, the queues of the due requests, the fire.
It also publishes the calendars' working spans the scripts count in (router/sla/spans.py): at
start, after a reload that changed them, and every few hours as the horizon moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from frontdesk.queues.errors import NoNextTier, QueueError
from frontdesk.queues.sla import Fired, SlaStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.sla.policy import Action, SlaSettings
from frontdesk.router.sla.spans import packed

log = logging.getLogger("frontdesk.sla")

BATCH = 200  # due members fired per script call
REPUBLISH_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """What the timer reads of the daemon's settings, as they are now."""

    sla: SlaSettings
    calendars: dict[str, Calendar]
    escalate_to: Callable[[str], str | None]  # a queue -> the queue of its next tier


class _Queue(Protocol):
    @property
    def escalate_to(self) -> str | None: ...


class _Settings(Protocol):
    """The daemon's settings, as far as the timer reads them."""

    @property
    def sla(self) -> SlaSettings: ...
    @property
    def calendars(self) -> dict[str, Calendar]: ...
    @property
    def queues(self) -> Mapping[str, _Queue]: ...


def timer_settings(settings: _Settings) -> TimerSettings:
    def next_tier(queue: str) -> str | None:
        found = settings.queues.get(queue)
        return found.escalate_to if found is not None and found.escalate_to else None

    return TimerSettings(settings.sla, settings.calendars, next_tier)


class SlaTimer:
    def __init__(
        self,
        sla: SlaStore,
        store: QueueStore,
        settings: Callable[[], TimerSettings],
        on_fired: Callable[[Fired], None] | None = None,
    ) -> None:
        self.sla = sla
        self.store = store
        self.settings = settings
        self.on_fired = on_fired
        self._published: tuple[dict[str, Calendar], float] | None = None
        self.fired = 0  # warnings and breaches this daemon fired

    async def publish(self, force: bool = False) -> None:
        """The calendars' spans to Redis, when they changed or the horizon moved on."""
        calendars = self.settings().calendars
        now = time.monotonic()
        last = self._published
        if not force and last and last[0] == calendars and now - last[1] < REPUBLISH_S:
            return
        await self.sla.publish_calendars(await asyncio.to_thread(packed, calendars))
        self._published = (calendars, now)

    async def step(self) -> float:
        """Fire what is due; returns how long to sleep before the next step (seconds)."""
        current = self.settings()
        tick = current.sla.tick_s
        await self.publish()
        due = await self.sla.due(BATCH)
        if due.members:
            late_ms = int(current.sla.late_after_s * 1000)
            for fired in await self.sla.fire(due.members, late_ms):
                self.fired += 1
                if self.on_fired is not None:
                    self.on_fired(fired)
                if Action.ESCALATE in fired.actions and fired.kind == "b":
                    await self._escalate(fired, current)
            if len(due.members) == BATCH:
                return 0.0
        if due.next_ms is None:
            return tick
        return min(tick, max((due.next_ms - due.now_ms) / 1000, 0.0))

    async def _escalate(self, fired: Fired, current: TimerSettings) -> None:
        try:
            await self.store.escalate_to(
                fired.request_id, current.escalate_to, "service level breached"
            )
        except (NoNextTier, QueueError) as exc:  # at the top, closed, pending on the customer
            log.info("breach of %s not escalated: %s", fired.request_id, exc)

    async def run(self, stopping: asyncio.Event) -> None:
        """Steps until `stopping` is set; the daemon's `_forever` retries it while Redis is down."""
        await self.publish(force=True)
        while not stopping.is_set():
            pause = await self.step()
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), pause)
