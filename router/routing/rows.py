"""What a decision round knows of the waiting requests without reading them again, and the tail
of the event stream that keeps it (and the board, board.py) up to date.

- `Rows`: per waiting request the fields a round needs (its record without history: skills,
  levels, priority, channel, tier, preferred agent, age, queue, score) and the agents excluded
  from it, read once (an HMGET of just those fields, pipelined with the exclusions, for the ids
  of the queue's head this daemon has not seen) and dropped when an event names the request, so
  a steady round reads only what changed. A row whose queue or score differs from what the
  queue's sorted set says is read again too (moved or requeued, whatever the stream said).
- `Tail`: the events appended since the last round, read by the dispatcher itself at the start
  of each round (one XRANGE from the last id it saw): the one way the board and the rows
  learn of changes (the daemon's follower only wakes the round), in order; a gap (the last id
  seen trimmed away, or more events than `limit`) says to read everything again.

Correctness stays with the scripts: they refuse a move on a stale row (not waiting, queue moved,
agent excluded), and a refused move drops its row.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.queues.wire import text
from frontdesk.router.routing.head import Seen

RESYNC_S = 30.0  # every row is read again at least this often (spread: between half and all of it)
TAIL_LIMIT = 20_000  # more events than this since the last round: read everything again


@dataclass(frozen=True, slots=True)
class Row:
    """A waiting request as this daemon last read it."""

    record: RequestRecord
    excluded: frozenset[str]
    seen: Seen[tuple[RequestRecord, frozenset[str]]]  # as the head scan reads it, made once
    until: float  # monotonic time after which it is read again, whatever the stream said


class Rows:
    """The rows of one tenant's waiting requests that this daemon has read."""

    def __init__(self, store: QueueStore, resync_s: float = RESYNC_S) -> None:
        self.store = store
        self.resync_s = resync_s
        self.rows: dict[str, Row] = {}
        self._random = random.Random()
        self.reads = 0  # requests read since created, for tests and benchmarks

    def drop(self, request_id: str) -> None:
        """The request changed (an event named it): read it again when next seen."""
        self.rows.pop(request_id, None)

    def reset(self) -> None:
        """Read every row again when next seen (a gap in the stream)."""
        self.rows.clear()

    def _row(self, record: RequestRecord, excluded: frozenset[str], now: float) -> Row:
        seen = Seen((record, excluded), record.request, record.enqueued_ms)
        # spread over time, so that rows read together are not all read again in one round
        until = now + self.resync_s * self._random.uniform(0.5, 1.0)
        return Row(record, excluded, seen, until)

    async def read(
        self, queue: str, ids: Sequence[str], scores: Sequence[float]
    ) -> list[Row | None]:
        """The row of each of `ids` (with their `scores`) of `queue`'s head, reading those
        not known, not as the sorted set says, or due again; None for one gone meanwhile."""
        rows, now = self.rows, time.monotonic()
        need = []
        for request_id, score in zip(ids, scores, strict=True):
            row = rows.get(request_id)
            if (
                row is None
                or row.record.score != score
                or row.until < now
                or row.record.request.queue != queue
            ):
                need.append(request_id)
        if need:
            self.reads += len(need)
            for request_id, found in zip(need, await self.store.rows(need), strict=True):
                if found is None:
                    rows.pop(request_id, None)
                else:
                    rows[request_id] = self._row(*found, now)
        return [rows.get(request_id) for request_id in ids]


@dataclass(frozen=True, slots=True)
class Change:
    """What a round needs of one event: its type, the request and the agent it names."""

    type: str
    request: str
    agent: str


class Tail:
    """The events appended to the stream since the last read."""

    def __init__(self, redis: Redis, key: str, limit: int = TAIL_LIMIT) -> None:
        self.redis, self.key, self.limit = redis, key, limit
        self.last: str | None = None  # None: not started (everything is to be read)

    async def start(self) -> None:
        """From now on: remembers the stream's last id (before reading the state it follows)."""
        entries: Any = await self.redis.xrevrange(self.key, count=1)
        self.last = text(entries[0][0]) if entries else "0-0"

    async def read(self) -> list[Change] | None:
        """The events since the last read, oldest first; None when some may have been missed
        (not started, the last one seen trimmed away, more than `limit` since)."""
        if self.last is None:
            return None
        entries: Any = await self.redis.xrange(self.key, self.last, "+", count=self.limit + 1)
        if self.last != "0-0":
            if not entries or text(entries[0][0]) != self.last:
                return None  # the last event seen is gone: trimmed (or the stream deleted)
            entries = entries[1:]
        if len(entries) > self.limit:
            return None
        if entries:
            self.last = text(entries[-1][0])
        return [
            Change(text(f.get(b"type", b"")), text(f.get(b"req", b"")), text(f.get(b"agent", b"")))
            for _, f in entries
        ]
