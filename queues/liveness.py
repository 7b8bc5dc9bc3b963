"""Agent liveness in Redis: when each agent was last heard (an open agent WebSocket, an API call
with its token), shared by every daemon, and the scripts that let a vanished agent's presence and
work go. Several daemons share one Redis and any of them can be SIGKILLed, so nothing about
liveness lives in one daemon's memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from .keys import Keys
from .scripts import Scripts
from .wire import text, texts

ORPHANS_LISTED = 1000  # flagged requests read at most, per look


@dataclass(frozen=True, slots=True)
class Held:
    """A request an agent holds, as read for the sweeper."""

    request_id: str
    state: str  # offered or assigned ('' when the request is gone)
    queue: str


@dataclass(frozen=True, slots=True)
class Orphan:
    """Assigned work flagged to supervisors: its agent has not been heard since `since_ms`."""

    request_id: str
    queue: str
    agent: str
    since_ms: int


class Liveness:
    """Last-heard times of one tenant's agents, and letting vanished agents go."""

    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int = 1_000_000) -> None:
        self.redis = redis
        self.keys = keys
        self.stream_maxlen = stream_maxlen
        self.scripts = Scripts(redis)

    async def hear(self, agent_ids: Iterable[str]) -> int:
        """Note every agent of `agent_ids` as heard now, in one call; returns the Redis clock."""
        return int(await self.scripts.hear([self.keys.agents_heard], sorted(agent_ids)))

    async def last_heard(self, agent_id: str) -> int | None:
        score = await self.redis.zscore(self.keys.agents_heard, agent_id)
        return int(score) if score is not None else None

    async def unheard(self, before_ms: int, limit: int = 1000) -> list[tuple[str, int]]:
        """(agent, last heard ms) of the agents not heard since `before_ms`, longest gone first."""
        rows = await self.redis.zrangebyscore(
            self.keys.agents_heard, "-inf", f"({before_ms}", start=0, num=limit, withscores=True
        )
        return [(text(row[0]), int(row[1])) for row in rows]

    async def vanish(self, agent_id: str, grace_ms: int, reason: str) -> int:
        """Set the agent away when it is available and was not heard for `grace_ms`: 1 when set
        away, 0 when it was not available, negative (ErrorCode) when it was heard meanwhile or
        is unknown."""
        k = self.keys
        return int(
            await self.scripts.vanish(
                [k.agent(agent_id), k.holds(agent_id), k.agents_heard, k.events],
                [agent_id, grace_ms, reason, self.stream_maxlen],
            )
        )

    async def held(self, agent_id: str) -> tuple[list[Held], int]:
        """What the agent holds (state and queue of each request) and when it last took work
        (ms), in two round trips."""
        k = self.keys
        ids = sorted(texts(await self.redis.hkeys(k.holds(agent_id))))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(k.agent(agent_id), "last_taken_ms")
            for request_id in ids:
                pipe.hmget(k.request(request_id), "state", "queue")
            replies = await pipe.execute()
        taken = int(text(replies[0]) or 0) if replies[0] is not None else 0
        out = [
            Held(request_id, text(state or b""), text(queue or b""))
            for request_id, (state, queue) in zip(ids, replies[1:], strict=True)
        ]
        return out, taken

    async def release_offer(
        self, request_id: str, agent_id: str, queue: str, grace_ms: int, reason: str
    ) -> bool:
        """Take back an offer of a vanished agent at once; False when it was not (the agent
        was heard, or the offer moved on meanwhile)."""
        k = self.keys
        result = await self.scripts.release_offer(
            [k.request(request_id), k.queue(queue), k.agent(agent_id), k.holds(agent_id),
             k.offers, k.agents_heard, k.events],
            [request_id, agent_id, queue, grace_ms, reason, self.stream_maxlen],
        )  # fmt: skip
        return int(result) == 1

    async def orphan(
        self, request_id: str, agent_id: str, queue: str, after_ms: int, action: str
    ) -> int:
        """Requeue (1) or flag (2) assigned work of an agent gone past `after_ms`; 0 when it was
        already flagged for this absence, negative (ErrorCode) when it moved or the agent was
        heard meanwhile."""
        k = self.keys
        return int(
            await self.scripts.orphan(
                [k.request(request_id), k.queue(queue), k.agent(agent_id), k.holds(agent_id),
                 k.agents_heard, k.events, k.orphans],
                [request_id, agent_id, queue, after_ms, action, self.stream_maxlen],
            )
        )  # fmt: skip

    async def orphans(self) -> list[Orphan]:
        """Work flagged as orphaned whose agent is still gone (not heard since), oldest first."""
        k = self.keys
        ids = texts(await self.redis.zrange(k.orphans, 0, ORPHANS_LISTED - 1))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in ids:
                pipe.hmget(k.request(request_id), "state", "agent", "queue", "flagged")
            rows = await pipe.execute()
        found: list[tuple[str, str, str, int]] = []
        for request_id, row in zip(ids, rows, strict=True):
            state, agent, queue, flagged = (text(v) if v is not None else "" for v in row)
            who, _, since = flagged.rpartition(":")
            if state == "assigned" and agent and who == agent and since.isdigit():
                found.append((request_id, agent, queue, int(since)))
        if not found:
            return []
        heard = await self.redis.zmscore(k.agents_heard, [agent for _, agent, _, _ in found])
        return [
            Orphan(request_id, queue, agent, since)
            for (request_id, agent, queue, since), score in zip(found, heard, strict=True)
            if score is not None and int(score) <= since
        ]

    async def prune_orphans(self) -> int:
        """Drop listed orphans that are no longer flagged work; returns how many."""
        k = self.keys
        ids = texts(await self.redis.zrange(k.orphans, 0, ORPHANS_LISTED - 1))
        if not ids:
            return 0
        return int(await self.scripts.prune_orphans([k.orphans, *(k.request(i) for i in ids)], ids))


__all__ = ["Held", "Liveness", "Orphan"]
