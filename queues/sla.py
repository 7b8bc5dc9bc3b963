"""Service-level clocks in Redis: the calendars' working spans the scripts count working time
in, an agent's pending/resume and milestones, and the timer's two calls (what is due now; fire
it, each warning or breach claimed once across daemons). The clocks themselves move inside the
scripts of every state change (lua/includes/clocks.lua)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from .errors import raise_for_code
from .keys import Keys
from .record import RecordReply
from .scripts import Scripts
from .wire import text


@dataclass(frozen=True, slots=True)
class Due:
    """What the timer found: the Redis clock's now, the members due (member, instant ms), and
    the instant of the next member still to come (None: none)."""

    now_ms: int
    members: list[tuple[str, int]]
    next_ms: int | None


@dataclass(frozen=True, slots=True)
class Fired:
    """One warning ('w') or breach ('b') this daemon fired."""

    request_id: str
    kind: str
    actions: tuple[str, ...]
    state: str


def member_request(member: str) -> str:
    """The request id of a due member (`<request>|<index>|w|b`)."""
    return member.rsplit("|", 2)[0]


class SlaStore:
    """The service-level side of one tenant's store."""

    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = Scripts(redis)
        self.stream_maxlen = stream_maxlen

    async def publish_calendars(self, weeks: Mapping[str | bytes, bytes]) -> None:
        """Replace the working spans the scripts read, atomically (MULTI: no script sees the
        hash half written)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.calendars)
            if weeks:
                mapping: Any = dict(weeks)
                pipe.hset(self.keys.calendars, mapping=mapping)
            await pipe.execute()

    async def pend(
        self, request_id: str, agent_id: str, resume: bool, reason: str, holder_only: bool
    ) -> RecordReply:
        """assigned -> pending_customer (clocks pause), or back (`resume`: clocks run)."""
        k = self.keys
        result = await self.scripts.pending(
            [k.request(request_id), k.events, *k.sla_keys],
            [request_id, agent_id, "resume" if resume else "pause", self.stream_maxlen,
             "1" if holder_only else "0", reason],
        )  # fmt: skip
        raise_for_code(result, request_id, f"agent {agent_id}")
        return RecordReply(result)

    async def milestone(
        self, request_id: str, agent_id: str, target: str, note: str, holder_only: bool
    ) -> RecordReply:
        """Mark the request's target `target` met now (a complaint's stage)."""
        k = self.keys
        result = await self.scripts.milestone(
            [k.request(request_id), k.events, *k.sla_keys],
            [request_id, agent_id, target, self.stream_maxlen, "1" if holder_only else "0",
             note],
        )  # fmt: skip
        raise_for_code(result, request_id, f"target {target}")
        return RecordReply(result)

    async def due(self, limit: int) -> Due:
        now, flat, upcoming = await self.scripts.sla_due([self.keys.sla_due], [limit])
        members = [(text(m), int(float(s))) for m, s in zip(flat[::2], flat[1::2], strict=True)]
        nxt = text(upcoming)
        return Due(int(now), members, int(float(nxt)) if nxt else None)

    async def fire(self, members: Sequence[tuple[str, int]], late_ms: int) -> list[Fired]:
        """Fire the due `members`: their requests' queues read first (one pipelined read),
        then one script that claims each and records it."""
        if not members:
            return []
        k = self.keys
        ids = [member_request(m) for m, _ in members]
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in ids:
                pipe.hget(k.request(request_id), "queue")
            queues = [text(q) if q is not None else "" for q in await pipe.execute()]
        keys: list[str] = [k.sla_due, k.events, k.sla_stats]
        args: list[Any] = [self.stream_maxlen, late_ms]
        for (m, at), request_id, queue in zip(members, ids, queues, strict=True):
            keys += [k.request(request_id), k.queue(queue or "-")]
            args += [m, at, queue]
        flat = await self.scripts.sla_fire(keys, args)
        return [
            Fired(text(r), text(kind), tuple(a for a in text(acts).split(",") if a), text(s))
            for r, kind, acts, s in zip(flat[::4], flat[1::4], flat[2::4], flat[3::4], strict=True)
        ]

    async def stats(self) -> dict[str, int]:
        """The counters behind /metrics: `<policy>|<target>|<outcome>` and `fr|<channel>|<le>`."""
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.sla_stats)
        return {text(f): int(v) for f, v in raw.items()}

    async def open_clocks(self) -> int:
        """How many warnings and breaches wait to fire."""
        return int(await self.redis.zcard(self.keys.sla_due))
