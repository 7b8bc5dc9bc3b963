"""The front door every channel calls: recognize the customer, thread a follow-up onto their open
request or classify and enqueue a new one (the rules decide queue, category, priority, skills and
tier; the request is enqueued idempotently by channel + external id), and remember how to find it
again, all in one script call (queues/intake.py). Durable on return: a channel acknowledges only
after `receive` returned; if Redis is down it raises RedisError and the channel refuses
temporarily (HTTP 503, SMTP 451)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from frontdesk.channels.base import TOKEN_REF, Inbound, Receipt
from frontdesk.queues.blobs import BlobStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.intake import Arrival, IntakeDesk, Lookup, keep_important
from frontdesk.queues.request import Message, Request, check_text
from frontdesk.queues.store import QueueStore
from frontdesk.router.intake.config import IntakeSettings
from frontdesk.router.intake.rules import classify

log = logging.getLogger("frontdesk.intake")
# `open:<customer>:<channel>`: the customer's open request on a channel that joins it
OPEN_REF = "open:"
MAX_RACES = 5  # lookups of one message when concurrent messages of its conversation keep winning


class Front:
    """Intake for every channel of one daemon."""

    def __init__(
        self, store: QueueStore, customers: CustomerStore, settings: Callable[[], IntakeSettings]
    ) -> None:
        self.store = store
        self.customers = customers
        self.settings = settings
        self.blobs = BlobStore(store.redis, store.keys)
        self.intake = IntakeDesk(store)
        self.intake.sticky_ms = lambda queue: int(self.settings().sticky_for(queue) * 1000)
        self._secret: bytes | None = None
        # a bare score answering a survey (router/feedback/service.py sets it): a receipt, or
        # None for a message that is not one
        self.answers: Callable[[Inbound], Awaitable[Receipt | None]] | None = None

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
        if self.answers is not None and (answered := await self.answers(inbound)) is not None:
            return answered
        settings = self.settings()
        limits = self._limits(*inbound.admit) if inbound.admit else []
        if limits and inbound.contents:  # counted before the contents are stored, as ever
            key = request.idempotency_key
            again = not inbound.admit_again and key and await self.store.seen(key)
            if not again and (wait := await self.customers.hit(limits)) is not None:
                return Receipt("", "", False, False, "", retry_after=wait)
            limits = []
        # the attachments' contents first: a request never refers to content not stored
        await self.blobs.put_many(inbound.contents, self.store.settings.record_ttl_s)
        when = now or datetime.now(UTC)

        made: list[Request] = []  # the request as classified, for the log line

        def classified(found: Request) -> tuple[Request, str]:  # its id, its customer's id set
            flags = settings.customers.lookup(found.customer)
            rules = classify(found, settings.rules, flags, when, settings.default_queue)
            request = rules.apply(found)
            plan = settings.sla.plan(request, flags)
            made.append(request)
            return request, keep_important(plan) if flags.important else plan

        auto = _auto(inbound)
        arrival = Arrival(
            request,
            dataclasses.replace(_message(request), auto=auto),
            lookups=tuple(
                Lookup(ref, ref.removeprefix(TOKEN_REF) if ref.startswith(TOKEN_REF) else None)
                for ref in inbound.thread_refs
            ),
            thread_refs=inbound.thread_refs,
            thread_keys=inbound.thread_keys,
            join_open=OPEN_REF if inbound.join_open else None,
            limits=limits,
            limit_duplicates=inbound.admit_again,
            join_only=inbound.join_only,
            auto=auto,
            reopen_within_ms=int(settings.reopen_within.get(request.channel.value, 0) * 1000),
        )
        # one script call: limits, who, seen before, which conversation, the enqueue or append
        done = await self.intake.take(arrival, classified, MAX_RACES)
        if done.kind == "limited":
            return Receipt("", done.customer_id, False, False, "", retry_after=done.retry_after)
        if done.kind == "closed":
            if auto:
                log.info("auto-reply (%s) from %s answers no open request: dropped", auto,
                         request.customer.email or request.customer.phone or "-")  # fmt: skip
            return Receipt("", done.customer_id, False, False, "", closed=True)
        _log_intake(done.kind, done.request_id, done.customer_id, request, made)
        return Receipt(
            done.request_id,
            done.customer_id,
            done.kind == "created",
            done.kind in ("appended", "reopened"),
            self.status_token(done.request_id),
        )

    async def create(self, request: Request, clocks: str) -> str:
        """A request the desk makes itself (a follow-up call), as given: no rules, no threading
        onto an open request, with these service-level clocks; the same external id twice is
        the first request. Its id."""
        arrival = Arrival(request, _message(request))
        done = await self.intake.take(arrival, lambda found: (found, clocks), MAX_RACES)
        await self.store.durable()
        return done.request_id

    async def admit(self, sender: str | None, source: str | None) -> float | None:
        """Count one message against the configured limits per sender (an address, a number, a
        chat id) and per source (a client IP); None when admitted, else seconds to retry after."""
        return await self.customers.hit(self._limits(sender, source))

    def _limits(self, sender: str | None, source: str | None) -> list[tuple[str, str, int, float]]:
        limits = self.settings().limits
        return [
            (scope, key, limit.count, limit.per_s)
            for scope, key, limit in (
                ("sender", sender, limits.per_sender),
                ("source", source, limits.per_source),
            )
            if key
        ]

    @property
    def secret(self) -> bytes:
        """The tenant's secret behind the customers' links (status, survey)."""
        assert self._secret is not None, "Front.start() reads the secret"
        return self._secret

    def status_token(self, request_id: str) -> str:
        assert self._secret is not None, "Front.start() reads the secret"
        mac = hmac.new(self._secret, request_id.encode(), hashlib.sha256).hexdigest()
        return mac[:32]

    def check_status_token(self, request_id: str, token: str) -> bool:
        """Constant-time check of a customer's status token."""
        return hmac.compare_digest(self.status_token(request_id).encode(), token.encode())


def _log_intake(
    kind: str, request_id: str, customer: str, request: Request, made: list[Request]
) -> None:
    """One INFO line per message taken: a new request (where the rules put it), a follow-up
    joined to an open one; a duplicate only at DEBUG."""
    channel = request.channel.value
    if kind == "created" and made:
        r = made[-1]
        log.info("%s new %s request from %s into %s (category %s, priority %s)", request_id,
                 channel, customer, r.queue, r.category or "-", r.priority.value)  # fmt: skip
    elif kind == "appended":
        log.info("%s follow-up by %s from %s", request_id, channel, customer)
    elif kind == "reopened":
        log.info("%s reopened by a %s follow-up from %s", request_id, channel, customer)
    else:
        log.debug("%s %s (%s from %s)", request_id, kind, channel, customer)


def _auto(inbound: Inbound) -> str | None:
    """Why a robot sent this message (an auto-reply, a bounce, list mail), None for a person:
    such a message only joins the request it answers and never becomes work."""
    if not inbound.auto_submitted:
        return None
    reason = inbound.request.attributes.get("auto_submitted")
    return str(reason) if reason and reason != "no" else "auto-submitted"


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
