"""Which customer notices went out: one small key per request event, so that an event the outbox
delivers again (it delivers at least once) sends no second notice.

A delivery first claims the notice (SET NX of `pending:<token>` with a short TTL, the longest a
send may take); after the send it marks it sent (`sent:<ms>`, kept for the retention time); when
the send certainly failed it releases its claim, so that the next attempt may send. A daemon that
dies between the send and the mark leaves a claim that expires by itself, and the next attempt
sends again: at most one duplicate per crash, never a notice lost.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import WatchError

from .errors import raise_for_code
from .keys import Keys
from .request import Message, encode
from .store import QueueStore, RequestRecord
from .wire import text

_PENDING = "pending:"
_SENT = "sent:"
_SHOWN = "shown:"
_CLAIM_ATTEMPTS = 3


def closing_tag(record: RequestRecord) -> str:
    """The tag of a closed request's closing notice in its thread: its state and when it closed
    (a request reopened and closed again gets a new one)."""
    return f"{record.state.value}:{record.closed_ms or 0}"


class ClaimState(StrEnum):
    """What a claim found."""

    NEW = "new"  # ours: send, then mark_sent (or release)
    PENDING = "pending"  # another delivery holds it (or died holding it): try again later
    SENT = "sent"  # already sent: nothing to do


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    token: str = ""  # the claim's token, when it is ours
    retry_in_s: float = 0.0  # PENDING: how long the other claim still holds at most


class NoticeLog:
    """Claims and records of customer notices for one tenant."""

    def __init__(
        self, redis: Redis, keys: Keys, sent_ttl_s: int, store: QueueStore | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.sent_ttl_s = sent_ttl_s
        self.store = store

    @classmethod
    def of(cls, store: QueueStore) -> NoticeLog:
        """The notices of the store's tenant, each sent mark kept as long as the store keeps
        idempotency records."""
        return cls(store.redis, store.keys, store.settings.idempotency_ttl_s, store)

    async def append(self, request_id: str, message: Message, tag: str) -> int:
        """Append a notice (author system) to the request's thread, open or closed, once per
        `tag`; its message count after, 0 when it was appended before. RequestNotFound when
        the request is gone."""
        assert self.store is not None
        result = await self.store.scripts.append_notice(
            [self.keys.notice(request_id, f"thread:{tag}"), self.keys.request(request_id),
             self.keys.messages(request_id), self.keys.events],
            [request_id, encode(message), self.sent_ttl_s, self.store.settings.stream_maxlen],
        )  # fmt: skip
        raise_for_code(result, request_id)
        return int(result)

    async def mark_shown(self, request_id: str, tag: str) -> None:
        """A customer's open chat showed the notice `tag` (the socket tells, so that the sink
        sends no email copy)."""
        stamp = str(int(time.time() * 1000))
        await self.redis.set(
            self.keys.notice(request_id, f"shown:{tag}"), _SHOWN + stamp, ex=self.sent_ttl_s
        )

    async def shown(self, request_id: str, tag: str) -> bool:
        """Whether an open chat showed the notice `tag`."""
        return bool(await self.redis.exists(self.keys.notice(request_id, f"shown:{tag}")))

    async def claim(self, request_id: str, event_id: str, hold_s: float) -> Claim:
        """Claim the notice of an event for `hold_s` seconds (the longest a send may take)."""
        key = self.keys.notice(request_id, event_id)
        hold_ms = max(1, int(hold_s * 1000))
        for _ in range(_CLAIM_ATTEMPTS):
            token = secrets.token_hex(8)
            if await self.redis.set(key, _PENDING + token, nx=True, px=hold_ms):
                return Claim(ClaimState.NEW, token)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                found, ttl_ms = await pipe.execute()
            if found is None:
                continue  # it expired in between: claim again
            if text(found).startswith(_SENT):
                return Claim(ClaimState.SENT)
            return Claim(ClaimState.PENDING, retry_in_s=max(int(ttl_ms), 0) / 1000)
        return Claim(ClaimState.PENDING)

    async def mark_sent(self, request_id: str, event_id: str, ttl_s: float | None = None) -> None:
        """The notice went out: never again for this event (for the retention time, or
        `ttl_s`: a progress notice's rate limit)."""
        stamp = str(int(time.time() * 1000))
        ttl_ms = int((ttl_s if ttl_s is not None else self.sent_ttl_s) * 1000)
        await self.redis.set(
            self.keys.notice(request_id, event_id), _SENT + stamp, px=max(1, ttl_ms)
        )

    async def release(self, request_id: str, event_id: str, token: str) -> bool:
        """Give up our claim after a send that certainly failed; False when it was no longer
        ours (it expired and another delivery claimed it), which is then left alone."""
        key = self.keys.notice(request_id, event_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                found = await pipe.get(key)
                if found is None or text(found) != _PENDING + token:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.delete(key)
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def state(self, request_id: str, event_id: str) -> ClaimState | None:
        """Where the notice of an event stands: None when no delivery has claimed it."""
        found = await self.redis.get(self.keys.notice(request_id, event_id))
        if found is None:
            return None
        return ClaimState.SENT if text(found).startswith(_SENT) else ClaimState.PENDING


class WaitTimer:
    """When a waiting request's wait counts as long (progress notices): one due-set member per
    request, armed when it starts waiting, fired by the daemons' notice ticks. A tick costs one
    read when nothing is due, and one script more for what is, never a scan of a queue."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.keys = store.keys

    async def arm(self, request_id: str, due_ms: int) -> None:
        """The request waits from now on; long at `due_ms` (a later arm moves it)."""
        await self.store.redis.zadd(self.keys.wait_due, {request_id: due_ms})

    async def fire(self, again_ms: int, batch: int = 200) -> list[str]:
        """The requests that fell due: an event `long_wait` for those still waiting (due again
        after `again_ms`); the others leave the due set."""
        now_ms = int(time.time() * 1000)
        due = await self.store.redis.zrangebyscore(self.keys.wait_due, "-inf", now_ms, 0, batch)
        if not due:
            return []
        ids = [text(d) for d in due]
        fired = await self.store.scripts.long_wait(
            [self.keys.wait_due, self.keys.events, *(self.keys.request(i) for i in ids)],
            [self.store.settings.stream_maxlen, again_ms, *ids],
        )
        return [text(f) for f in fired or []]
