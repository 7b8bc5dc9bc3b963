"""Progress notices: the customer hears that their request was escalated, transferred, or is
still waiting after a long time (`notices.progress`), at most once per `at_most_every` for one
request, whichever of the three asks first.

A long wait is found without scanning any queue: each request that starts waiting (enqueued,
transferred, escalated, requeued, reopened) gets one entry in a due set
(`queues.notices.WaitTimer`, a sorted set by due instant, as the SLA's due set is); the notice
sink's tick (run by the outbox engine, every second) reads the entries that fell due (a batch of
at most 200) and fires them in one script (queues/lua/long_wait-n.lua): each one still waiting
gets a `long_wait` event (due again after `at_most_every`), which the sink then delivers like
any other; the rest leave the set. Work per tick grows with the entries due, never with the
length of a queue or the number of agents.
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.notices import WaitTimer
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import Checker, Path

ON = ("escalated", "transferred", "long_wait")
_KEYS = ("on", "long_wait_after", "at_most_every")
PROGRESS_OF = {EventType.ESCALATED: "escalated", EventType.TRANSFERRED: "transferred"}
# the events after which a request waits in a queue (again): its long wait is armed anew
ARMS = frozenset({EventType.ENQUEUED, EventType.TRANSFERRED, EventType.ESCALATED,
                  EventType.REQUEUED, EventType.REOPENED})  # fmt: skip
TICK_S = 1.0  # the longest a due long wait waits for its event


@dataclass(frozen=True, slots=True)
class ProgressSettings:
    """`notices.progress`: which progress the customer hears, and how often at most."""

    on: frozenset[str]
    long_wait_after_s: float = 600.0
    at_most_every_s: float = 1800.0


def parse_progress(check: Checker, raw: object, path: Path) -> ProgressSettings | None:
    """The `progress` section under notices (None when there is none: no progress notices)."""
    if raw is None:
        return None
    before = len(check.problems)
    if isinstance(raw, dict) and True in raw:  # YAML 1.1 reads a bare `on:` as true
        raw = {("on" if k is True else k): v for k, v in raw.items()}
    body = check.mapping(path, raw, _KEYS)
    if not isinstance(raw, dict):
        return None
    on = body.get("on", list(ON))
    found: set[str] = set()
    if not isinstance(on, list):
        check.error((*path, "on"), f"must be a list of some of {', '.join(ON)}")
    else:
        for i, item in enumerate(on):
            if (name := check.choice((*path, "on", i), item, ON)) is not None:
                found.add(name)
    after = check.duration((*path, "long_wait_after"), body.get("long_wait_after", "10m"))
    every = check.duration((*path, "at_most_every"), body.get("at_most_every", "30m"))
    for name, value in (("long_wait_after", after), ("at_most_every", every)):
        if value is not None and value <= 0:
            check.error((*path, name), "must be above 0")
    if len(check.problems) > before or after is None or every is None:
        return None
    return ProgressSettings(frozenset(found), after, every)


def progress_of(event: Event) -> str:
    """What progress an event tells: escalated, transferred, long_wait; "" for none."""
    return PROGRESS_OF.get(event.type) or event.data.get("progress", "")


def wanted(p: ProgressSettings | None, event: Event) -> bool:
    """Whether the customer hears the progress `event` tells."""
    return p is not None and progress_of(event) in p.on


def arms(p: ProgressSettings | None, event: Event) -> bool:
    """Whether `event` starts (again) a wait that may grow long."""
    return p is not None and "long_wait" in p.on and event.type in ARMS


async def arm(store: QueueStore, p: ProgressSettings, event: Event) -> None:
    """The request waits from the event on: long after long_wait_after."""
    await WaitTimer(store).arm(event.request, event.ts_ms + int(p.long_wait_after_s * 1000))


async def tick(store: QueueStore, p: ProgressSettings | None) -> float:
    """Fire the long waits that fell due (each still waiting gets a `long_wait` event, which
    the sink delivers as a progress notice); the seconds until the next look."""
    if p is None or "long_wait" not in p.on:
        return TICK_S * 5
    await WaitTimer(store).fire(int(p.at_most_every_s * 1000))
    return min(TICK_S, p.long_wait_after_s / 4)
