"""Intake: what every channel calls with a normalized request. The classification rules decide
queue, category, priority, skills and tier; then the request is enqueued durably (idempotent by
channel + external id) before the channel may acknowledge it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from frontdesk.queues.request import Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.intake.rules import Classification, classify


@dataclass(frozen=True, slots=True)
class Intake:
    """The request's id, whether this call created it, and how the rules classified it."""

    id: str
    created: bool
    classification: Classification
    stale: bool = False  # a conversation claim changed meanwhile: nothing stored, read again


async def intake(
    request: Request,
    settings: Settings,
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
