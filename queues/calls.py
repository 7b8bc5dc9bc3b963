"""Phone callback attempts: the agent holding a callback records each call and its outcome
(lua/call_attempt-7.lua, one script call after one read of the record). A missed call before
the last attempt waits again, its window moved to the retry time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis

from .errors import ErrorCode, StaleRead, raise_for_code
from .keys import Keys
from .record import RecordReply, read_record
from .request import CALLBACK, FROM, UNTIL, Channel, Request, decode_request, encode
from .scripts import Scripts

_ATTEMPTS = 5  # reads and calls while the request keeps changing under it


class Outcome(StrEnum):
    """How a call attempt ended."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"


MISSED = frozenset({Outcome.NO_ANSWER, Outcome.BUSY})


@dataclass(frozen=True, slots=True)
class Attempted:
    """What recording an attempt did: the record after, which attempt it was, and whether the
    request went back to waiting for a retry."""

    reply: RecordReply
    attempt: int
    retried: bool


class _Limits(Protocol):
    @property
    def stream_maxlen(self) -> int: ...


def is_callback(request: Request) -> bool:
    return request.channel is Channel.PHONE and request.attributes.get(CALLBACK) is True


def retried(request: Request, retry_at_s: float) -> Request:
    """`request` with its callback window opening at `retry_at_s` (and no end before it)."""
    attributes = dict(request.attributes)
    attributes[FROM] = retry_at_s
    until = attributes.get(UNTIL)
    if isinstance(until, int | float) and not isinstance(until, bool) and until <= retry_at_s:
        attributes.pop(UNTIL)
    return dataclasses.replace(request, attributes=attributes)


class CallOps:
    """record_call, mixed into QueueStore (which provides these attributes)."""

    redis: Redis
    keys: Keys
    scripts: Scripts
    settings: _Limits

    async def record_call(
        self,
        request_id: str,
        agent_id: str,
        outcome: Outcome,
        retry_at_s: float,
        max_attempts: int,
        note: str = "",
    ) -> Attempted:
        """Record one call attempt of the callback `agent_id` holds. A missed one before
        `max_attempts` waits again until `retry_at_s` (Unix seconds). Refused (WrongState)
        for a request that is no phone callback."""
        k = self.keys
        for _ in range(_ATTEMPTS):
            raw, record = await read_record(self.redis, k.request(request_id), request_id)
            if not is_callback(record.request):
                raise_for_code(ErrorCode.WRONG_STATE.value, request_id, "not a phone callback")
            queue = record.request.queue
            again = encode(retried(decode_request(raw["data"]), retry_at_s))
            result = await self.scripts.call_attempt(
                [k.request(request_id), k.queue(queue), k.agent(agent_id), k.holds(agent_id),
                 k.offers, k.events, k.queues],
                [request_id, agent_id, queue, outcome.value, note, self.settings.stream_maxlen,
                 max_attempts, raw["data"], again, f"{retry_at_s:.3f}"],
            )  # fmt: skip
            if result == ErrorCode.STALE.value:
                continue
            raise_for_code(result, request_id, f"agent {agent_id}")
            flat, attempt, requeued = result
            return Attempted(RecordReply(flat), int(attempt), bool(int(requeued)))
        raise StaleRead(ErrorCode.STALE, request_id, "call attempt")
