"""The event stream: one entry per state change, read by reports, webhooks and the simulator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from . import wire
from .keys import Keys


class EventType(StrEnum):
    """What changed. Request events name the request; agent events name the agent only."""

    ENQUEUED = "enqueued"
    MESSAGE = "message"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    REQUEUED = "requeued"  # assigned work of a vanished agent, back to waiting
    FLAGGED = "flagged"  # assigned work of a vanished agent, flagged to supervisors
    PENDING = "pending"  # the agent waits on the customer: the request's clocks pause
    RESUMED = "resumed"  # the customer answered a pending request: its clocks run again
    MILESTONE = "milestone"  # an agent marked a stage done (a complaint's investigation, ...)
    SLA_WARNING = "sla.warning"  # a service-level target passed its warning point
    SLA_BREACHED = "sla.breached"  # a target's due instant passed before it was met
    SLA_MET = "sla.met"  # a target was met (on time or late: `breached` says)
    QUALITY_SAMPLED = "quality.sampled"  # a day's quality sample was taken (`day`, `size`)
    REVIEW_SUBMITTED = "review.submitted"  # a reviewer scored a closed request
    AGENT_CREATED = "agent_created"
    AGENT_UPDATED = "agent_updated"
    PRESENCE = "presence"
    CUSTOMER_CREATED = "customer_created"
    CUSTOMER_UPDATED = "customer_updated"
    CUSTOMER_LINKED = "customer_linked"  # before customer.merged (kept: older streams hold it)
    CUSTOMER_MERGED = "customer.merged"  # one customer merged into another (its history follows)
    CUSTOMER_LISTED = "customer.listed"  # on a care list (important, low_satisfaction), or again
    CUSTOMER_UNLISTED = "customer.unlisted"  # off a care list
    FEEDBACK = "feedback.received"  # the customer's satisfaction survey answer
    FOLLOW_UP = "follow_up.recorded"  # the outcome of a follow-up call
    REOPENED = "reopened"  # a customer's message on a request completed not long ago
    AUTO_REPLY_DROPPED = "auto_reply.dropped"  # an auto-reply answering no open request
    LONG_WAIT = "long_wait"  # a request still waiting after notices.progress.long_wait_after
    CALL_ATTEMPTED = "call.attempted"  # a callback's call and its outcome (retry_at: re-queued)
    RECLASSIFIED = "reclassified"  # category, priority or skills corrected (before, after)


_BASE_FIELDS = ("type", "req", "agent", "queue", "ts")


@dataclass(frozen=True, slots=True)
class Event:
    """One stream entry."""

    id: str
    type: EventType
    request: str
    agent: str
    queue: str
    ts_ms: int
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry_id: Any, raw: Mapping[Any, Any]) -> Event:
        text = {wire.text(k): wire.text(v) for k, v in raw.items()}
        return cls(
            id=wire.text(entry_id),
            type=EventType(text["type"]),
            request=text["req"],
            agent=text["agent"],
            queue=text["queue"],
            ts_ms=int(text["ts"]),
            data={k: v for k, v in text.items() if k not in _BASE_FIELDS},
        )


def id_order(entry_id: str) -> tuple[int, int]:
    """A stream id ("ms-seq") as a pair that sorts as the stream does."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class StreamBounds:
    """Where the stream stands: its oldest entry kept (None: empty), the last id it ever
    generated ("0-0" for a stream that does not exist), and its length."""

    first: str | None
    last_generated: str
    length: int


class EventLog:
    """Reads the tenant's event stream."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.events

    async def range(
        self, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[Event]:
        """Events with ids from `start` to `end`, oldest first."""
        entries: Any = await self._redis.xrange(self._key, start, end, count=count)
        return [Event.from_entry(i, f) for i, f in entries]

    async def follow(self, after: str = "$", count: int = 100, block_ms: int = 1000) -> list[Event]:
        """Events after id `after`, waiting up to `block_ms` for the first one."""
        reply: Any = await self._redis.xread({self._key: after}, count=count, block=block_ms)
        return [Event.from_entry(i, f) for _, entries in reply for i, f in entries]

    async def bounds(self) -> StreamBounds:
        """The stream's first kept id and last generated id (XINFO STREAM)."""
        try:
            info: Any = await self._redis.xinfo_stream(self._key)
        except ResponseError as exc:  # "no such key": nothing appended since an empty start
            if "no such key" not in str(exc).lower():
                raise
            return StreamBounds(None, "0-0", 0)
        first = info.get("first-entry")
        return StreamBounds(
            wire.text(first[0]) if first else None,
            wire.text(info["last-generated-id"]),
            int(info["length"]),
        )

    async def length(self) -> int:
        return int(await self._redis.xlen(self._key))
