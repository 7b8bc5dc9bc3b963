"""The outbox's Redis side: each sink reads the tenant's event stream through its own consumer
group, so that several daemons share its deliveries.

An event read by a consumer (XREADGROUP, or XAUTOCLAIM from a consumer that died) is *admitted*:
in one script it is acknowledged and joins its lane, the ordered list of one request's (agent's,
customer's) events still to deliver. A consumer *takes* the first event of lanes that are due,
under a lease; then marks it *done*, schedules a *retry* (the lane waits behind it), or moves it
to the *dead* letters, which an operator can *replay*. A consumer that dies mid-delivery leaves a
lease that runs out; another takes the lane over and delivers the event again (at least once).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .keys import Keys
from .scripts import Scripts
from .wire import text, texts

ENTRY_ID = re.compile(r"^\d+-\d+$")
_REPLAY_CHUNK = 500


def group_name(sink: str) -> str:
    """The consumer group of `sink` on the event stream."""
    return f"outbox:{sink}"


@dataclass(frozen=True, slots=True)
class Entry:
    """A stream entry as read: its id and its fields (None when it was trimmed away)."""

    id: str
    fields: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Admission:
    """An entry read for a sink: its lane, or None when the sink does not want it."""

    id: str
    lane: str | None
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Leased:
    """The first event of a lane, leased to one consumer for delivery."""

    lane: str
    id: str
    fields: dict[str, str] | None  # None: its copy is gone (never expected)
    attempts: int  # failed attempts before this one


@dataclass(frozen=True, slots=True)
class Taken:
    """What one take found: the events leased, lanes held back, and when the next is due."""

    leased: list[Leased]
    held_back: int
    next_due_ms: int | None  # ms from now until the earliest due lane; None: no lanes at all


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a sink gave up on."""

    sink: str
    id: str
    lane: str
    fields: dict[str, str]
    attempts: int
    error: str
    dead_ms: int


def _entries(reply: Any) -> list[Entry]:
    out = []
    for entry_id, raw in reply or []:
        fields = {text(k): text(v) for k, v in raw.items()} if raw else None
        out.append(Entry(text(entry_id), fields))
    return out


class Outbox:
    """The outboxes of one tenant's sinks."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = Scripts(redis)

    # -- reading the stream ----------------------------------------------------------------------
    async def ensure_group(self, sink: str, start: str = "$") -> bool:
        """Create the sink's group (reading from `start`: `$` new events only, `0` the whole
        stream) unless it exists; True when created."""
        await self.redis.sadd(self.keys.outbox_sinks, sink)
        try:
            await self.redis.xgroup_create(self.keys.events, group_name(sink), start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def read(self, sink: str, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        """New entries for this consumer; waits up to `block_ms` for the first (None: no wait)."""
        reply: Any = await self.redis.xreadgroup(
            group_name(sink), consumer, {self.keys.events: ">"}, count=count, block=block_ms
        )
        return [e for _, entries in reply or [] for e in _entries(entries)]

    async def reclaim(self, sink: str, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Entries read by any consumer but not admitted for `min_idle_ms` (it died between the
        two), now this consumer's; at most `count`."""
        reply: Any = await self.redis.xautoclaim(
            self.keys.events, group_name(sink), consumer, min_idle_ms, "0-0", count=count
        )
        entries = _entries(reply[1])
        gone = texts(reply[2]) if len(reply) > 2 else []  # Redis 7: trimmed away, no longer pending
        return entries + [Entry(i, None) for i in gone]

    async def pending(self, sink: str) -> int:
        """Entries read by the sink's consumers and not yet admitted."""
        summary: Any = await self.redis.xpending(self.keys.events, group_name(sink))
        return int(summary["pending"])

    async def admit(self, sink: str, admissions: Sequence[Admission]) -> int:
        """Acknowledge entries and put the wanted ones in their lanes; returns how many joined
        (an entry another consumer admitted first is skipped)."""
        if not admissions:
            return 0
        k = self.keys
        args: list[str] = [group_name(sink)]
        for a in admissions:
            args += [a.id, a.lane or "", json.dumps(a.fields, ensure_ascii=False)]
        result = await self.scripts.outbox_admit(
            [k.events, k.outbox_lanes(sink), k.outbox_events(sink), k.outbox_due(sink)], args
        )
        return int(result)

    # -- delivering ------------------------------------------------------------------------------
    async def take(
        self, sink: str, consumer: str, count: int, lease_ms: int, scan: int | None = None
    ) -> Taken:
        """Lease the first event of up to `count` due lanes to `consumer` for `lease_ms`."""
        k = self.keys
        held, next_ms, taken = await self.scripts.outbox_take(
            [
                k.events,
                k.outbox_lanes(sink),
                k.outbox_events(sink),
                k.outbox_due(sink),
                k.outbox_leases(sink),
                k.outbox_attempts(sink),
            ],
            [group_name(sink), count, lease_ms, consumer, scan or 4 * count],
        )
        leased = [
            Leased(text(lane), text(i), json.loads(raw) if raw is not None else None, int(n))
            for lane, i, raw, n in taken
        ]
        return Taken(leased, int(held), None if int(next_ms) < 0 else int(next_ms))

    async def done(self, sink: str, lane: str, entry_id: str, consumer: str) -> bool:
        """The event is delivered; False when this consumer's lease was lost meanwhile."""
        k = self.keys
        result = await self.scripts.outbox_done(
            [
                k.outbox_lanes(sink),
                k.outbox_events(sink),
                k.outbox_due(sink),
                k.outbox_leases(sink),
                k.outbox_attempts(sink),
            ],
            [lane, entry_id, consumer],
        )
        return bool(result)

    async def retry(
        self, sink: str, lane: str, entry_id: str, consumer: str, attempts: int, delay_ms: int
    ) -> bool:
        """Try the event again in `delay_ms`, after `attempts` failures; the lane waits."""
        k = self.keys
        result = await self.scripts.outbox_retry(
            [k.outbox_due(sink), k.outbox_leases(sink), k.outbox_attempts(sink)],
            [lane, entry_id, consumer, attempts, max(0, delay_ms)],
        )
        return bool(result)

    async def dead(
        self, sink: str, lane: str, entry_id: str, consumer: str, attempts: int, error: str
    ) -> bool:
        """Give up on the event: into the dead letters; the lane's next event is due."""
        k = self.keys
        result = await self.scripts.outbox_dead(
            [
                k.outbox_lanes(sink),
                k.outbox_due(sink),
                k.outbox_leases(sink),
                k.outbox_attempts(sink),
                k.outbox_dead(sink),
                k.outbox_events(sink),
            ],
            [lane, entry_id, consumer, attempts, error],
        )
        return bool(result)

    async def release(self, sink: str, consumer: str) -> int:
        """Give back every lane `consumer` holds a lease on, due at once (it is stopping);
        returns how many."""
        k = self.keys
        result = await self.scripts.outbox_release(
            [k.outbox_due(sink), k.outbox_leases(sink)], [consumer]
        )
        return int(result)

    # -- operators -------------------------------------------------------------------------------
    async def sinks(self) -> list[str]:
        """Every sink that has had an outbox on this tenant, by name."""
        return sorted(texts(await self.redis.smembers(self.keys.outbox_sinks)))

    async def dead_letters(self, sink: str) -> list[DeadLetter]:
        """The sink's dead letters, oldest event first."""
        k = self.keys
        raw = {text(i): v for i, v in (await self.redis.hgetall(k.outbox_dead(sink))).items()}
        ids = sorted(raw, key=_order)
        copies = await self.redis.hmget(k.outbox_events(sink), ids) if ids else []
        out = []
        for entry_id, copy in zip(ids, copies, strict=True):
            record = json.loads(raw[entry_id])
            out.append(
                DeadLetter(
                    sink=sink,
                    id=entry_id,
                    lane=str(record["lane"]),
                    fields=json.loads(copy) if copy is not None else {},
                    attempts=int(record["attempts"]),
                    error=str(record["error"]),
                    dead_ms=int(record["dead_ms"]),
                )
            )
        return out

    async def dead_count(self, sink: str) -> int:
        return int(await self.redis.hlen(self.keys.outbox_dead(sink)))

    async def replay(self, sink: str, entry_ids: Sequence[str] | None = None) -> list[str]:
        """Put dead letters back in their lanes, due at once; None: every one of the sink's.
        Returns the ids replayed."""
        k = self.keys
        if entry_ids is None:
            entry_ids = sorted(texts(await self.redis.hkeys(k.outbox_dead(sink))), key=_order)
        wanted = [i for i in entry_ids if ENTRY_ID.match(i)]
        replayed: list[str] = []
        for start in range(0, len(wanted), _REPLAY_CHUNK):
            result = await self.scripts.outbox_replay(
                [
                    k.outbox_dead(sink),
                    k.outbox_lanes(sink),
                    k.outbox_due(sink),
                    k.outbox_attempts(sink),
                    k.outbox_events(sink),
                ],
                wanted[start : start + _REPLAY_CHUNK],
            )
            replayed += texts(result)
        return replayed

    async def purge(
        self, sink: str, entry_ids: Sequence[str] | None = None, older_than_ms: int | None = None
    ) -> list[str]:
        """Remove dead letters for good: `entry_ids` (None: every one of the sink's), only those
        dead for longer than `older_than_ms` when given. Returns the ids purged."""
        k = self.keys
        if entry_ids is None:
            entry_ids = sorted(texts(await self.redis.hkeys(k.outbox_dead(sink))), key=_order)
        purged: list[str] = []
        for start in range(0, len(entry_ids), _REPLAY_CHUNK):
            result = await self.scripts.outbox_purge(
                [k.outbox_dead(sink), k.outbox_events(sink)],
                [
                    -1 if older_than_ms is None else older_than_ms,
                    *entry_ids[start : start + _REPLAY_CHUNK],
                ],
            )
            purged += texts(result)
        return purged

    async def backlog(self, sink: str) -> int:
        """Events admitted for the sink and not yet delivered or dead."""
        return int(await self.redis.zcard(self.keys.outbox_lanes(sink)))

    async def due_in_ms(self, sink: str, lane: str) -> int | None:
        """When the lane's first event is tried next, in ms from now (Redis clock); None: the
        lane has nothing to deliver."""
        score = await self.redis.zscore(self.keys.outbox_due(sink), lane)
        if score is None:
            return None
        seconds, micros = await self.redis.time()
        return int(score) - (int(seconds) * 1000 + int(micros) // 1000)

    async def forget_consumers(self, sink: str, idle_ms: int, keep: str) -> list[str]:
        """Remove the group's consumers that hold nothing and were idle for `idle_ms` (daemons
        long gone), except `keep`; returns their names."""
        group = group_name(sink)
        gone = []
        for info in await self.redis.xinfo_consumers(self.keys.events, group):
            name = text(info["name"])
            if name != keep and int(info["pending"]) == 0 and int(info["idle"]) > idle_ms:
                await self.redis.xgroup_delconsumer(self.keys.events, group, name)
                gone.append(name)
        return gone


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
