"""The report figures in Redis: one hash of counters per UTC hour, a list of notes (low-score
comments) per hour, and per hour the ids of the events already added, so that an event
delivered twice counts once. What an event adds is decided by router/reports/figures.py; this
module only knows where it goes (lua/report_apply-n.lua adds a batch of events in one call,
lua/report_clear-n.lua empties hours before a rebuild)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from .keys import Keys
from .scripts import Scripts
from .wire import text

HOUR_MS = 3_600_000
READ_CHUNK = 500  # hours read per pipeline
SEEN_KEPT_MS = 7 * 86_400_000  # an event id is remembered this long after its hour's last write
TAKEN_UP_TO_MS = 6 * 86_400_000  # a live event older than this is not added (its ids may be gone)
KEPT_MS = 400 * 86_400_000  # the figures of an hour are kept this long after its last write


@dataclass(frozen=True, slots=True)
class Add:
    """One increment: `value` added to `field` of the figures of `hour` ('h'), or a note
    (`value`, JSON) appended to that hour's notes ('n')."""

    target: Literal["h", "n"]
    hour: int
    field: str
    value: int | str


@dataclass(frozen=True, slots=True)
class EventAdds:
    """An event's increments, under its stream id (the hour of its seen set is the id's)."""

    id: str
    adds: tuple[Add, ...]


@dataclass(frozen=True, slots=True)
class Applied:
    applied: int
    seen_before: int
    too_old: int


def hour_of(event_id: str) -> int:
    return int(event_id.partition("-")[0]) // HOUR_MS


class ReportStore:
    """Reads and writes the hour buckets of the figures."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = Scripts(redis)

    async def apply(self, batch: Sequence[EventAdds], *, live: bool = True) -> Applied:
        """Add each event of `batch` once (in one script call). `live`: events older than
        TAKEN_UP_TO_MS are left out (a rebuild takes any age)."""
        if not batch:
            return Applied(0, 0, 0)
        index: dict[str, int] = {}
        keys: list[str] = []

        def at(key: str) -> int:
            if key not in index:
                keys.append(key)
                index[key] = len(keys)
            return index[key]

        args: list[Any] = [SEEN_KEPT_MS, KEPT_MS, TAKEN_UP_TO_MS if live else 0, len(batch)]
        for event in batch:
            args += [event.id, at(self.keys.report_seen(hour_of(event.id))), len(event.adds)]
            for add in event.adds:
                key = self.keys.report_hour if add.target == "h" else self.keys.report_notes
                op = "i" if add.target == "h" else "p"
                args += [op, at(key(add.hour)), add.field, add.value]
        applied, again, old = await self.scripts.report_apply(keys, args)
        return Applied(int(applied), int(again), int(old))

    async def hours(self, first: int, end: int) -> dict[int, dict[str, int]]:
        """The figures of every hour in [first, end) that has any, by hour."""
        found: dict[int, dict[str, int]] = {}
        for start in range(first, end, READ_CHUNK):
            span = range(start, min(start + READ_CHUNK, end))
            async with self.redis.pipeline(transaction=False) as pipe:
                for hour in span:
                    pipe.hgetall(self.keys.report_hour(hour))
                replies: list[Any] = await pipe.execute()
            for hour, raw in zip(span, replies, strict=True):
                if raw:
                    found[hour] = {text(k): int(v) for k, v in raw.items()}
        return found

    async def notes(self, first: int, end: int) -> list[str]:
        """The notes of the hours in [first, end), oldest hour first."""
        out: list[str] = []
        for start in range(first, end, READ_CHUNK):
            span = range(start, min(start + READ_CHUNK, end))
            async with self.redis.pipeline(transaction=False) as pipe:
                for hour in span:
                    pipe.lrange(self.keys.report_notes(hour), 0, -1)
                replies: list[Any] = await pipe.execute()
            out += [text(note) for notes in replies for note in notes]
        return out

    async def clear(self, hours: Iterable[int]) -> int:
        """Empty the figures, notes and seen ids of `hours` (before a rebuild); returns how many
        keys were removed."""
        removed = 0
        wanted = sorted(set(hours))
        for start in range(0, len(wanted), READ_CHUNK):
            keys = [
                key
                for hour in wanted[start : start + READ_CHUNK]
                for key in (
                    self.keys.report_hour(hour),
                    self.keys.report_notes(hour),
                    self.keys.report_seen(hour),
                )
            ]
            removed += int(await self.scripts.report_clear(keys, []))
        return removed
