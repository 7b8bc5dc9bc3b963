"""The front door every channel calls: recognize the customer, thread a follow-up onto their open
request or classify and enqueue a new one (`intake`: the rules decide queue, category, priority,
skills and tier, then the request is enqueued idempotently by channel + external id), and remember
how to find it again. Durable on return: a channel acknowledges only after `receive` returned; if
Redis is down it raises RedisError and the channel refuses temporarily (HTTP 503, SMTP 451)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from frontdesk.channels.base import TOKEN_REF, Inbound, Receipt
from frontdesk.queues.blobs import BlobStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import ErrorCode, StaleRead, WrongState
from frontdesk.queues.request import Message, Request, check_text
from frontdesk.queues.states import OPEN_STATES
from frontdesk.queues.store import QueueStore
from frontdesk.router.intake.config import IntakeSettings
from frontdesk.router.intake.rules import Classification, classify

# `open:<customer>:<channel>`: the customer's open request on a channel that joins it
OPEN_REF = "open:"
MAX_RACES = 5  # lookups of one message when concurrent messages of its conversation keep winning


@dataclass(frozen=True, slots=True)
class Intake:
    """The request's id, whether this call created it, and how the rules classified it."""

    id: str
    created: bool
    classification: Classification
    stale: bool = False  # a conversation claim changed meanwhile: nothing stored, read again


async def intake(
    request: Request,
    settings: IntakeSettings,
    store: QueueStore,
    now: datetime | None = None,
    claims: Mapping[str, str | None] | None = None,
) -> Intake:
    """Classify `request` with the configured rules and enqueue it, claiming the conversation
    references `claims` (see `QueueStore.enqueue`); durable on return unless `stale`."""
    flags = settings.customers.lookup(request.customer)
    found = classify(
        request, settings.rules, flags, now or datetime.now(UTC), settings.default_queue
    )
    enqueued = await store.enqueue(found.apply(request), claims)
    return Intake(enqueued.id, enqueued.created, found, enqueued.stale)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """The open request a message continues, or the references a new request would claim."""

    target: str | None
    claims: dict[str, str | None]


class Front:
    """Intake for every channel of one daemon."""

    def __init__(
        self, store: QueueStore, customers: CustomerStore, settings: Callable[[], IntakeSettings]
    ) -> None:
        self.store = store
        self.customers = customers
        self.settings = settings
        self.blobs = BlobStore(store.redis, store.keys)
        self._secret: bytes | None = None

    async def start(self) -> None:
        """Read (or make, once per tenant) the secret behind customers' status tokens."""
        self._secret = await self.customers.secret()

    async def receive(self, inbound: Inbound, now: datetime | None = None) -> Receipt:
        """Store what came in; with `redis.wait_replicas`, return (the channel's yes) only
        once that many replicas have it too, else raise a RedisError (refuse temporarily)."""
        receipt = await self._receive(inbound, now)
        await self.store.durable()
        return receipt

    async def _receive(self, inbound: Inbound, now: datetime | None = None) -> Receipt:
        request = inbound.request
        check_text(request)  # text that is not text: refused (EncodeError) before anything is kept
        # the attachments' contents first: a request never refers to content not stored
        await self.blobs.put_many(inbound.contents, self.store.settings.record_ttl_s)
        customer_id = await self.customers.identify(request.customer)
        request = dataclasses.replace(
            request, customer=dataclasses.replace(request.customer, id=customer_id)
        )
        key = request.idempotency_key
        if key and (seen := await self.store.seen(key)):
            # a retry: finish what the first delivery may not have (the thread references)
            await self.customers.remember(inbound.thread_keys + inbound.thread_refs, seen)
            return Receipt(seen, customer_id, False, False, self.status_token(seen))
        for _ in range(MAX_RACES):
            found = await self._open_request_for(inbound, customer_id)
            if found.target is not None:
                try:
                    count = await self.store.append_message(
                        found.target, _message(request), request.idempotency_key
                    )
                except WrongState:
                    continue  # closed since we looked: look again
                await self.customers.remember(inbound.thread_keys, found.target)
                token = self.status_token(found.target)
                return Receipt(found.target, customer_id, False, count > 0, token)
            result = await intake(request, self.settings(), self.store, now, found.claims)
            if result.stale:
                continue  # a concurrent message of this conversation made its request first
            if result.created:  # the claims lead to it already
                refs = tuple(r for r in inbound.thread_keys if r not in found.claims)
            else:  # the same message came before: finish what its first delivery may not have
                refs = inbound.thread_keys + inbound.thread_refs
            await self.customers.remember(refs, result.id)
            return Receipt(
                result.id, customer_id, result.created, False, self.status_token(result.id)
            )
        raise StaleRead(ErrorCode.STALE, None, f"conversation of customer {customer_id}")

    async def _open_request_for(self, inbound: Inbound, customer_id: str) -> _Lookup:
        """The open request this message continues, if any; else the conversation references a
        new request claims, with what each led to (so that the enqueue can tell if a concurrent
        message of the same conversation got there first)."""
        refs = list(inbound.thread_refs)
        if inbound.join_open:
            refs.append(f"{OPEN_REF}{customer_id}:{inbound.request.channel.value}")
        claims: dict[str, str | None] = {}
        for ref in refs:
            request_id = claims[ref] = await self.customers.thread(ref)
            if request_id is None and ref.startswith(TOKEN_REF):
                request_id = ref.removeprefix(TOKEN_REF)  # "[#FD-12]" in a mail's subject
            if request_id and await self._is_open(request_id):
                return _Lookup(request_id, {})
        if inbound.join_open:  # a request opened before its conversation was claimed
            channel = inbound.request.channel
            for record in await self.customers.requests(customer_id):
                if record.state in OPEN_STATES and record.request.channel is channel:
                    return _Lookup(record.request.id, {})
        return _Lookup(None, claims)

    async def _is_open(self, request_id: str) -> bool:
        record = await self.store.get(request_id)
        return record is not None and record.state in OPEN_STATES

    async def admit(self, sender: str | None, source: str | None) -> float | None:
        """Count one message against the configured limits per sender (an address, a number, a
        chat id) and per source (a client IP); None when admitted, else seconds to retry after."""
        limits = self.settings().limits
        return await self.customers.hit(
            [
                (scope, key, limit.count, limit.per_s)
                for scope, key, limit in (
                    ("sender", sender, limits.per_sender),
                    ("source", source, limits.per_source),
                )
                if key
            ]
        )

    def status_token(self, request_id: str) -> str:
        assert self._secret is not None, "Front.start() reads the secret"
        mac = hmac.new(self._secret, request_id.encode(), hashlib.sha256).hexdigest()
        return mac[:32]

    def check_status_token(self, request_id: str, token: str) -> bool:
        """Constant-time check of a customer's status token."""
        return hmac.compare_digest(self.status_token(request_id).encode(), token.encode())


def _message(request: Request) -> Message:
    """A follow-up as the request's thread keeps it."""
    body = request.body if not request.subject else f"{request.subject}\n\n{request.body}"
    return Message(
        body=body,
        author="customer",
        external_id=request.external_id,
        received_at=request.received_at or datetime.now(UTC).timestamp(),
        attachments=request.attachments,
    )
