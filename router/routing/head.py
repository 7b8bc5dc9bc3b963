"""The head scan of one queue, pure: which waiting requests may be routed now, and for how long
each has waited. Both the dispatcher (`Dispatcher._waiting`, reading Redis) and the simulator
(`Engine._scan`, reading its own queues) drive the same `HeadScan`, so they cannot disagree.

- Overflow: a request whose relaxation steps in force name `overflow_to` is to be moved on; the
  caller moves it (a transfer that may fail, in the dispatcher) and says whether it did.
- Held callbacks: a phone callback outside its window or the working hours is held back, and its
  wait counts from when it became eligible. Held ones do not take the window's places: the head
  is read a window at a time past them, `HELD_PAGES` windows at most; each next page starts after
  what was read, less what moved out of the queue.
- Timers: when each held callback is due, and when each kept request's eligibility next changes
  (a relaxation step, the end of the preferred-agent period), in `changes`.

A driver asks `next_page()` (start and size, None when done), reads that many requests from
`start` in the queue's order, hands the waiting ones to `read()`, moves the requests `read()`
returns, passes the outcomes to `moved()`, and when done takes `head()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from frontdesk.queues.request import Request
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.routing.callbacks import eligible_since, hold_until, is_callback
from frontdesk.router.routing.config import Routing

HELD_PAGES = 10  # windows of a queue's head read past held callbacks, at most, per round
_MS = timedelta(milliseconds=1)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Seen(Generic[T]):
    """One waiting request as the scan reads it: the caller's item, its request, and when it
    was enqueued (ms on the scan's clock; its wait counts from here at the earliest)."""

    item: T
    request: Request
    enqueued_ms: int


@dataclass(frozen=True, slots=True)
class Kept(Generic[T]):
    """A request that may be routed now."""

    item: T
    wait_s: float
    wait_from_ms: int  # its wait counts from here (later than its enqueue for a callback)


@dataclass(frozen=True, slots=True)
class Overflow(Generic[T]):
    """A request to move on to the queue `target`, having waited `wait_s`."""

    item: T
    target: str
    wait_s: float
    wait_from_ms: int


@dataclass(frozen=True, slots=True)
class Page:
    """The part of the queue's head to read next: `size` requests from position `start`."""

    start: int
    size: int


@dataclass(frozen=True, slots=True)
class Head(Generic[T]):
    """The queue's head as the matcher sees it, and the timers it sets."""

    waiting: list[Kept[T]]
    changes: list[float] = field(default_factory=list)  # seconds until something changes


class HeadScan(Generic[T]):
    """One scan of one queue's head at one instant (`now`, which is `now_ms` on the caller's
    clock: Redis's epoch milliseconds for the dispatcher, the run's for the simulator)."""

    def __init__(
        self, routing: Routing, now: datetime, now_ms: int, hours: Calendar | None,
        pages: int = HELD_PAGES,
    ) -> None:  # fmt: skip
        self.routing, self.now, self.now_ms, self.hours = routing, now, now_ms, hours
        self.size = routing.window
        self._pages_left = pages
        self._start = 0
        self._waiting: list[Kept[T]] = []
        self._changes: list[float] = []
        self._page: list[Kept[T] | Overflow[T] | None] = []  # None: held
        self._read = 0
        self._done = False
        # what judge() and moved() ask of the routing for every request, worked out once
        self._overflows = any(step.overflow_to for step in routing.relax)
        self._times = [step.after_s for step in routing.relax] + [routing.preferred_agent_for_s]

    def _ms(self, when: datetime) -> int:
        """`when` on the caller's clock, in whole milliseconds (floored)."""
        return self.now_ms + (when - self.now) // _MS

    def judge(self, seen: Seen[T]) -> Kept[T] | Overflow[T] | None:
        """What becomes of one waiting request now: kept, moved on, or held (None; its timer
        is noted in `changes`)."""
        request, now = seen.request, self.now
        wait_from = seen.enqueued_ms
        if is_callback(request):  # nothing else is ever held, nor eligible later than enqueued
            until = hold_until(request, now, self.hours)
            if until is not None:
                self._changes.append((until - now).total_seconds())
                return None
            since = eligible_since(request, now, self.hours)
            if since is not None:
                wait_from = max(wait_from, self._ms(since))
        wait_s = max(0.0, (self.now_ms - wait_from) / 1000)
        if self._overflows:
            target = self.routing.overflow_target(wait_s)
            if target:
                return Overflow(seen.item, target, wait_s, wait_from)
        return Kept(seen.item, wait_s, wait_from)

    def _next_change_s(self, wait_s: float) -> float | None:
        """Routing.next_change_s, on the times worked out once."""
        later = [t - wait_s for t in self._times if t > wait_s]
        return min(later) if later else None

    def next_page(self) -> Page | None:
        """The part of the head to read next, None when the scan is complete."""
        if self._done or self._pages_left <= 0:
            return None
        return Page(self._start, self.size)

    def read(self, seen: Sequence[Seen[T]], read: int | None = None) -> list[Overflow[T]]:
        """One page: `seen`, the waiting requests among the `read` the caller read from the
        page's start (`read` defaults to len(seen)); returns those to move on, in order."""
        self._pages_left -= 1
        self._read = len(seen) if read is None else read
        self._page = [self.judge(s) for s in seen]
        return [v for v in self._page if isinstance(v, Overflow)]

    def moved(self, outcomes: Sequence[bool]) -> None:
        """Completes the page: whether each request `read` returned was moved out of the queue,
        in order (one not moved, taken or moved meanwhile, is kept in its place)."""
        moves = [v for v in self._page if isinstance(v, Overflow)]
        if len(outcomes) != len(moves):
            raise ValueError(f"{len(moves)} requests to move, {len(outcomes)} outcomes")
        went = {id(v): done for v, done in zip(moves, outcomes, strict=True)}
        held = moved = 0
        for v in self._page:
            if v is None:
                held += 1
                continue
            if isinstance(v, Overflow):
                if went[id(v)]:
                    moved += 1  # left the queue: the next page starts that much earlier
                    continue
                v = Kept(v.item, v.wait_s, v.wait_from_ms)
            change = self._next_change_s(v.wait_s)
            if change is not None:
                self._changes.append(change)
            self._waiting.append(v)
        self._page = []
        if not held or self._read < self.size or len(self._waiting) >= self.size:
            self._done = True
        self._start += self._read - moved

    def head(self) -> Head[T]:
        """The requests that may be routed now (a window at most), and the timers."""
        return Head(self._waiting[: self.size], self._changes)
