"""What each helpdesk connector made of each request: the helpdesk's ticket id, a create whose
outcome is not known yet, and the follow-up steps of a creation already applied; and the
helpdesk's contact for a customer. This is what keeps a repeated or retried delivery from
creating a second ticket.

Every entry expires `ttl_s` after its last write (by default longer than frontdesk keeps a
request: once the request is gone, no event of it can be delivered any more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from .keys import Keys
from .request import Message, decode_message
from .store import QueueStore
from .wire import as_bytes, text

DEFAULT_TTL_S = 400 * 86400
_TICKET = "ticket"
_ATTEMPT = "attempt_ms"
_DONE = "done:"
_POSTED = "posted"


@dataclass(frozen=True, slots=True)
class TicketEntry:
    """One request as one connector knows it."""

    ticket: str | None  # the helpdesk's ticket id, once known
    attempted: bool  # a create was sent and its outcome is not known: look before creating
    done: frozenset[str]  # follow-up steps of the creation already applied


class TicketMap:
    """Request id -> helpdesk ticket id for one connector (`sink`), and customer -> contact."""

    def __init__(self, redis: Redis, keys: Keys, sink: str, ttl_s: int = DEFAULT_TTL_S) -> None:
        self.redis = redis
        self.keys = keys
        self.sink = sink
        self.ttl_s = ttl_s

    @classmethod
    def of(cls, store: QueueStore, sink: str) -> TicketMap:
        """The map of connector `sink` in the store's Redis, for the store's tenant."""
        return cls(store.redis, store.keys, sink)

    @property
    def tenant(self) -> str:
        return self.keys.tenant

    async def get(self, request_id: str) -> TicketEntry:
        raw = await self.redis.hgetall(self.keys.helpdesk_ticket(self.sink, request_id))
        f = {text(k): text(v) for k, v in raw.items()}
        return TicketEntry(
            ticket=f.get(_TICKET),
            attempted=_ATTEMPT in f,
            done=frozenset(k[len(_DONE) :] for k in f if k.startswith(_DONE)),
        )

    async def ticket(self, request_id: str) -> str | None:
        found = await self.redis.hget(self.keys.helpdesk_ticket(self.sink, request_id), _TICKET)
        return text(found) if found is not None else None

    async def mark_attempt(self, request_id: str) -> None:
        """Note, before sending a create, that its outcome may stay unknown (a timeout, a crash):
        the next attempt then looks for the ticket before creating one."""
        await self._write(request_id, {_ATTEMPT: str(int(time.time() * 1000))})

    async def save(self, request_id: str, ticket_id: str) -> None:
        """The request's ticket is `ticket_id`; the create is no longer in doubt. The ticket
        names the request back (`request_of`), for the helpdesk's own webhooks."""
        key = self.keys.helpdesk_ticket(self.sink, request_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, _TICKET, ticket_id)
            pipe.hdel(key, _ATTEMPT)
            pipe.expire(key, self.ttl_s)
            pipe.set(self.keys.helpdesk_request(self.sink, ticket_id), request_id, ex=self.ttl_s)
            await pipe.execute()

    async def request_of(self, ticket_id: str) -> str | None:
        """The request whose ticket is `ticket_id` (None: no request of ours)."""
        found = await self.redis.get(self.keys.helpdesk_request(self.sink, ticket_id))
        return text(found) if found is not None else None

    async def unposted(self, request_id: str) -> tuple[int, list[Message]]:
        """(how many of the request's messages are on its ticket, the messages after those),
        in one pipelined read."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.helpdesk_ticket(self.sink, request_id), _POSTED)
            pipe.lrange(self.keys.messages(request_id), 0, -1)
            posted, raw = await pipe.execute()
        start = int(posted or 0)
        return start, [decode_message(as_bytes(m)) for m in raw[start:]]

    async def mark_posted(self, request_id: str, count: int) -> None:
        """The first `count` messages of the request are on its ticket."""
        await self._write(request_id, {_POSTED: str(count)})

    async def mark_done(self, request_id: str, step: str) -> None:
        """A follow-up step of the creation (a first message, labels) was applied."""
        await self._write(request_id, {_DONE + step: "1"})

    async def _write(self, request_id: str, mapping: dict[str, str]) -> None:
        key = self.keys.helpdesk_ticket(self.sink, request_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    def lock(self, request_id: str, timeout_s: float) -> Lock:
        """A lock held while one delivery creates the request's ticket; it expires by itself
        after `timeout_s`, so a crashed daemon never blocks the request for good."""
        return self.redis.lock(self.keys.helpdesk_lock(self.sink, request_id), timeout=timeout_s)

    # -- contacts (for helpdesks that need a contact before a ticket) ----------------------------
    async def contact(self, customer_key: str) -> str | None:
        found = await self.redis.get(self.keys.helpdesk_contact(self.sink, customer_key))
        return text(found) if found is not None else None

    async def save_contact(self, customer_key: str, contact: str) -> None:
        key = self.keys.helpdesk_contact(self.sink, customer_key)
        await self.redis.set(key, contact, ex=self.ttl_s)

    async def forget_contact(self, customer_key: str) -> None:
        await self.redis.delete(self.keys.helpdesk_contact(self.sink, customer_key))
