"""The live follower of the figures: a sink of the outbox engine (router/outbound/outbox.py), so
that each event reaches one daemon of those sharing a Redis (the sink's consumer group), and the
apply script counts an event once however often it is delivered (its id in its hour's seen
set). The outbox keeps its own copy of each event until it is delivered, so a trimmed stream
loses the figures nothing; once added they live in their hour buckets, not in the stream.

Calls made in the same tick (the engine delivers up to `concurrency` events at once) share one
pipeline (queues/batch.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from frontdesk.queues.events import Event
from frontdesk.queues.reports import EventAdds, ReportStore
from frontdesk.router.outbound.sinks import DeliveryContext
from frontdesk.router.reports.figures import WANTED, Basis, adds

log = logging.getLogger("frontdesk.reports")

SINK_NAME = "reports"


class ReportSink:
    """Adds each event to the figures; a Sink for the outbox engine."""

    name = SINK_NAME

    def __init__(self, store: ReportStore, basis: Callable[[], Basis]) -> None:
        self.store = store
        self._basis = basis
        self.too_old = 0  # events left out: delivered later than their seen ids are kept

    def wants(self, event: Event) -> bool:
        return event.type in WANTED

    async def deliver(self, event: Event, context: DeliveryContext) -> None:
        found = adds(event, self._basis())
        if not found:
            return
        result = await self.store.apply([EventAdds(event.id, found)])
        if result.too_old:
            self.too_old += result.too_old
            log.warning(
                "reports: event %s is older than the ids kept to count it once; left out "
                "(`frontdesk report rebuild` from an export counts it)",
                event.id,
            )
