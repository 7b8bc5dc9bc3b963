"""A stored request as the store reads it back: the record (its request and where it is in its
life), decoded from the request hash, whether the hash came from HGETALL or from a script's
reply (the scripts of the agent's verbs answer with the record after their change)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from .clocks import Clocks, decode_clocks
from .errors import ErrorCode, raise_for_code
from .request import Priority, Request, decode_request
from .states import State
from .wire import as_bytes, fields, text

_BY_BAND = {p.band: p for p in Priority}
ROW_FIELDS = (
    *("data", "queue", "band", "tier", "enqueued_ms", "state", "seq", "score", "messages"),
    *("sla_due", "sla_span", "preferred"),
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A stored request and where it is in its life."""

    request: Request
    state: State
    agent: str | None
    deadline_ms: int | None
    enqueued_ms: int
    seq: int
    score: int
    messages: int
    resolution: str | None
    why: dict[str, Any] | None = None  # the routing explanation of the last offer or assignment
    clocks: Clocks | None = None  # its service-level clocks (None: no policy applies)
    sla_due_ms: int | None = None  # the nearest due instant among its running clocks
    sla_span_ms: int | None = None  # that target's time from its start to its due instant
    feedback: dict[str, Any] | None = None  # the survey answer (score, dimensions, comment, via)
    follow_up: dict[str, Any] | None = None  # a follow-up call's outcome (reached, verdict, ...)
    closed_ms: int | None = None  # when it was completed or abandoned (the last time)
    summary: str | None = None  # the agent's summary for the customer, given with complete


def _s(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


async def read_record(
    redis: Redis, key: str, request_id: str
) -> tuple[dict[str, bytes], RequestRecord]:
    """A request's hash as stored and its record (RequestNotFound when there is none): what
    an optimistic change reads before the script that checks nothing moved meanwhile."""
    raw = fields(await redis.hgetall(key))
    if not raw:
        raise_for_code(ErrorCode.NOT_FOUND.value, request_id)
    return raw, decode_record(raw)


def decode_record(f: dict[str, bytes]) -> RequestRecord:
    """The record of a request hash (text field names, raw values)."""
    stored = decode_request(f["data"])
    request = dataclasses.replace(
        stored,
        queue=f["queue"].decode(),
        preferred_agent=_s(f.get("preferred")) or stored.preferred_agent,  # a reopen's, sticky
        priority=_BY_BAND[int(f["band"])],
        tier=int(f["tier"]),
        enqueued_at=int(f["enqueued_ms"]) / 1000,
    )
    deadline = f.get("deadline")
    return RequestRecord(
        request=request,
        state=State(f["state"].decode()),
        agent=_s(f.get("agent")),
        deadline_ms=int(deadline) if deadline is not None else None,
        enqueued_ms=int(f["enqueued_ms"]),
        seq=int(f["seq"]),
        score=int(f["score"]),
        messages=int(f["messages"]),
        resolution=_s(f.get("resolution")),
        why=json.loads(f["why"]) if f.get("why") else None,
        clocks=decode_clocks(f.get("sla")),
        sla_due_ms=_int(f.get("sla_due")),
        sla_span_ms=_int(f.get("sla_span")),
        feedback=json.loads(f["feedback"]) if f.get("feedback") else None,
        follow_up=json.loads(f["follow_up_outcome"]) if f.get("follow_up_outcome") else None,
        closed_ms=_int(f.get("closed_ms")),
        summary=_s(f.get("summary")),
    )


def _int(value: bytes | None) -> int | None:
    return int(value) if value else None


class RecordReply:
    """The request hash a script answered with after its change, decoded into the record only
    when `record` is first asked for: a caller that only acts (the dispatcher, a benchmark)
    pays for no decoding, the API's reply for one."""

    __slots__ = ("_fields", "_record")

    def __init__(self, flat: Sequence[Any]) -> None:
        self._fields = {text(k): as_bytes(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}
        self._record: RequestRecord | None = None

    def field(self, name: str) -> str | None:
        """One field of the request hash as text (None when absent)."""
        value = self._fields.get(name)
        return value.decode() if value is not None else None

    @property
    def state(self) -> State:
        return State(self._fields["state"].decode())

    @property
    def queue(self) -> str:
        return self._fields["queue"].decode()

    @property
    def agent(self) -> str | None:
        return self.field("agent")

    @property
    def tier(self) -> int:
        return int(self._fields["tier"])

    @property
    def record(self) -> RequestRecord:
        if self._record is None:
            self._record = decode_record(self._fields)
        return self._record


def decode_row(values: Sequence[bytes | None]) -> RequestRecord | None:
    """A record from the ROW_FIELDS a decision round needs (no holder, deadline nor history:
    a waiting request has none of them); None when the request is gone."""
    if values[0] is None or values[5] is None:
        return None
    f = dict(zip(ROW_FIELDS, values, strict=True))
    stored = decode_request(as_bytes(f["data"]))
    request = dataclasses.replace(
        stored,
        queue=text(f["queue"] or b""),
        preferred_agent=text(f["preferred"] or b"") or stored.preferred_agent,
        priority=_BY_BAND[int(f["band"] or 0)],
        tier=int(f["tier"] or 1),
        enqueued_at=int(f["enqueued_ms"] or 0) / 1000,
    )
    return RequestRecord(
        request=request,
        state=State(text(f["state"] or b"")),
        agent=None,
        deadline_ms=None,
        enqueued_ms=int(f["enqueued_ms"] or 0),
        seq=int(f["seq"] or 0),
        score=int(f["score"] or 0),
        messages=int(f["messages"] or 0),
        resolution=None,
        sla_due_ms=_int(f["sla_due"]),
        sla_span_ms=_int(f["sla_span"]),
    )
