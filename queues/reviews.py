"""Quality review in Redis: the daily sample (claimed by one daemon, stored once), the review
queue it fills, and the reviews themselves, one per request, each kept as long as its request.
Every write is one script (lua/quality_claim-2, quality_sample-n, review-6)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from .errors import (
    DecodeError,
    ErrorCode,
    FrontdeskError,
    QueueError,
    RequestNotFound,
    WrongState,
)
from .keys import Keys
from .request import decode_request
from .scripts import Scripts
from .topology import server_time_ms
from .wire import text

READ_BATCH = 500  # request hashes read per pipeline while a day's closed requests are gathered


class AlreadyReviewed(FrontdeskError):
    """The request has its review already: the first one stands."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request {request_id} is reviewed already")
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Review:
    """A request's review: pending (sampled, not yet scored) or done."""

    request: str
    status: str
    day: str
    sampled: bool
    channel: str
    category: str
    agent: str
    queue: str
    closed_ms: int
    scores: dict[str, int] = field(default_factory=dict)
    comment: str = ""
    reviewer: str | None = None
    reviewed_ms: int | None = None

    @classmethod
    def from_hash(cls, request_id: str, raw: dict[Any, Any]) -> Review:
        f = {text(k): text(v) for k, v in raw.items()}
        return cls(
            request=request_id,
            status=f.get("status", "pending"),
            day=f.get("day", ""),
            sampled=f.get("sampled") == "1",
            channel=f.get("channel", ""),
            category=f.get("category", ""),
            agent=f.get("agent", ""),
            queue=f.get("queue", ""),
            closed_ms=int(f.get("closed_ms") or 0),
            scores=json.loads(f["scores"]) if f.get("scores") else {},
            comment=f.get("comment", ""),
            reviewer=f.get("reviewer"),
            reviewed_ms=int(f["reviewed_ms"]) if f.get("reviewed_ms") else None,
        )


@dataclass(frozen=True, slots=True)
class Closed:
    """A request closed in a time range, as the event stream and its hash have it."""

    id: str
    channel: str
    category: str
    agent: str


class ReviewStore:
    """The review side of one tenant's store."""

    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int, record_ttl_s: int = 0) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = Scripts(redis)
        self.stream_maxlen = stream_maxlen
        self.keep_ms = record_ttl_s * 1000

    async def now_ms(self) -> int:
        return await server_time_ms(self.redis, self.keys)

    async def seed(self, day: str) -> bytes:
        """The day's sampling seed: the tenant's random secret with the day (the same day gives
        the same seed on every daemon; an agent cannot compute it)."""
        await self.redis.set(self.keys.secret, secrets.token_hex(32), nx=True)
        secret = text(await self.redis.get(self.keys.secret))
        return f"quality:{secret}:{day}".encode()

    # -- the daily sample ------------------------------------------------------------------------
    async def sampled_days(self, days: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """The summary of each day's sample (None: not taken yet)."""
        raw: Any = await self.redis.hmget(self.keys.quality_days, list(days)) if days else []
        return {d: json.loads(v) if v else None for d, v in zip(days, raw, strict=True)}

    async def claim(self, day: str, token: str, lease_ms: int) -> int:
        """1 claimed, 0 sampled already, -1 another daemon holds the day."""
        k = self.keys
        return int(
            await self.scripts.quality_claim(
                [k.quality_days, k.quality_claim(day)], [day, token, lease_ms]
            )
        )

    async def store_sample(
        self, day: str, token: str, sample: Sequence[Closed], summary: dict[str, Any]
    ) -> int | None:
        """Put the day's sample in the review queue (one script call); the number stored, or
        None when the day was sampled already or its claim is another's."""
        k = self.keys
        keys = [
            k.quality_days,
            k.quality_claim(day),
            k.reviews_pending,
            k.review_day(day),
            k.events,
        ]
        args: list[Any] = [day, token, self.stream_maxlen, json.dumps(summary), self.keep_ms]
        for row in sample:
            keys += [k.request(row.id), k.review(row.id)]
            args += [row.id, row.category]
        result: Any = await self.scripts.quality_sample(keys, args)
        if isinstance(result, int):
            return None
        return int(result[0])

    async def closed_between(self, start_ms: int, end_ms: int, page: int = 2000) -> list[Closed]:
        """Every request whose last close (completed, abandoned) in [start_ms, end_ms) is in the
        event stream and that is closed still, with its channel, category and agent. Reads the
        range's events in pages of `page` (XRANGE COUNT), then the closed requests' hashes in
        pipelines of READ_BATCH: once a day, off every hot path; its cost is the day's events."""
        agents: dict[str, str] = {}
        start = f"{start_ms}-0"
        end = f"{end_ms - 1}-18446744073709551615"
        while True:
            entries: Any = await self.redis.xrange(self.keys.events, start, end, count=page)
            for _, fields in entries:
                kind = text(fields.get(b"type", b""))
                if kind in ("completed", "abandoned"):
                    request_id = text(fields[b"req"])
                    agents.pop(request_id, None)  # the last close wins, in order
                    agents[request_id] = text(fields.get(b"agent", b""))
            if len(entries) < page:
                break
            start = "(" + text(entries[-1][0])
        rows: list[Closed] = []
        ids = list(agents)
        for at in range(0, len(ids), READ_BATCH):
            batch = ids[at : at + READ_BATCH]
            async with self.redis.pipeline(transaction=False) as pipe:
                for request_id in batch:
                    pipe.hmget(self.keys.request(request_id), "state", "channel", "data")
                found = await pipe.execute()
            for request_id, (state, channel, data) in zip(batch, found, strict=True):
                if state not in (b"completed", b"abandoned") or data is None:
                    continue  # gone (retention), or opened again since
                rows.append(Closed(request_id, text(channel or b""), _category(data),
                                   agents[request_id]))  # fmt: skip
        return rows

    # -- reviews ---------------------------------------------------------------------------------
    async def submit(
        self, request_id: str, reviewer: str, scores: dict[str, int], comment: str, day: str,
        category: str,
    ) -> Review:  # fmt: skip
        """Record the review; RequestNotFound, WrongState (not closed) or AlreadyReviewed."""
        k = self.keys
        keys = [
            k.request(request_id), k.review(request_id), k.reviews_pending, k.reviews_done,
            k.review_day(day), k.events,
        ]  # fmt: skip
        args = [
            request_id, reviewer, json.dumps(scores, sort_keys=True), comment,
            self.stream_maxlen, day, category, self.keep_ms,
        ]  # fmt: skip
        result: Any = await self.scripts.review(keys, args)
        if result == -1:
            raise RequestNotFound(ErrorCode.NOT_FOUND, request_id)
        if result == -2:
            raise WrongState(ErrorCode.WRONG_STATE, request_id, "not closed")
        if result == -3:
            raise AlreadyReviewed(request_id)
        if isinstance(result, int):
            raise QueueError(ErrorCode(result), request_id)
        flat = list(result)
        return Review.from_hash(request_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def get(self, request_id: str) -> Review | None:
        raw: Any = await self.redis.hgetall(self.keys.review(request_id))
        return Review.from_hash(request_id, raw) if raw else None

    async def listed(self, status: str, day: str | None, limit: int) -> list[Review]:
        """Reviews by status (pending: oldest closed first; done: latest reviewed first), of
        one day or of all; entries whose review expired with its request are left out."""
        k = self.keys
        if day is not None:
            ids = [text(m) for m in await self.redis.zrange(k.review_day(day), 0, -1)]
        elif status == "pending":
            ids = [text(m) for m in await self.redis.zrange(k.reviews_pending, 0, limit * 2)]
        else:
            ids = [text(m) for m in await self.redis.zrevrange(k.reviews_done, 0, limit * 2)]
        out: list[Review] = []
        for at in range(0, len(ids), READ_BATCH):
            batch = ids[at : at + READ_BATCH]
            async with self.redis.pipeline(transaction=False) as pipe:
                for request_id in batch:
                    pipe.hgetall(k.review(request_id))
                found = await pipe.execute()
            out += [Review.from_hash(i, raw) for i, raw in zip(batch, found, strict=True) if raw]
        return [r for r in out if r.status == status][:limit]


def _category(data: bytes) -> str:
    """The category in a request's msgpack record ('' when unclassified or unreadable)."""
    try:
        return decode_request(data).category or ""
    except DecodeError:
        return ""
