"""Where events go out: signed webhooks and helpdesk connectors are sinks that an outbox feeds
from the event stream, at least once, in order per request, with retries and a dead-letter list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import FrontdeskError
from frontdesk.queues.events import Event
from frontdesk.queues.store import QueueStore


class DeliveryError(FrontdeskError):
    """A sink could not deliver an event."""


class RetryLater(DeliveryError):
    """A passing failure (timeout, 5xx, 429): try again, after `after_s` if the far end said."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


class Undeliverable(DeliveryError):
    """A failure that retrying cannot fix (4xx other than 408/429, a refused payload): the event
    goes to the dead-letter list at once."""


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What a sink may read while delivering: requests and agents (never written by a sink)."""

    store: QueueStore
    agents: AgentStore


class Sink(Protocol):
    """A destination for events."""

    name: str

    def wants(self, event: Event) -> bool:
        """Whether this sink takes this event at all (filtered out: acknowledged, not sent)."""
        ...

    async def deliver(self, event: Event, context: DeliveryContext) -> None:
        """Deliver one event; raise RetryLater or Undeliverable when it could not."""
        ...
