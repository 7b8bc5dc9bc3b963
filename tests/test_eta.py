"""Queue wait estimates from throughput and free agents."""

from __future__ import annotations

import pytest

from frontdesk.queues.events import Event, EventType
from frontdesk.router.routing.eta import Throughput, estimate_wait_s


def _event(etype: EventType, queue: str, ts_ms: int) -> Event:
    return Event(f"{ts_ms}-0", etype, "FD-1", "ann", queue, ts_ms)


def test_rate_counts_served_requests_over_the_horizon() -> None:
    t = Throughput(horizon_s=600)
    t.observe(_event(EventType.ENQUEUED, "chat", 0))
    for i in range(30):
        t.observe(_event(EventType.ACCEPTED, "chat", 10_000 + i * 10_000))
    t.observe(_event(EventType.OFFERED, "chat", 50_000))  # an offer is not service
    t.observe(_event(EventType.ASSIGNED, "email", 50_000))
    assert t.rate("chat", 300_000) == pytest.approx(30 / 300)
    assert t.rate("email", 300_000) == pytest.approx(1 / 300)
    assert t.rate("chat", 700_000) == pytest.approx(21 / 600)  # the first 9 fell out
    assert t.rate("phone", 300_000) == 0


def test_a_young_tracker_measures_over_at_least_a_minute() -> None:
    t = Throughput()
    t.observe(_event(EventType.ACCEPTED, "chat", 1_000))
    assert t.rate("chat", 2_000) == pytest.approx(1 / 60)


@pytest.mark.parametrize(
    ("position", "rate", "free", "expected"),
    [(1, 0.0, 1, 0.0), (3, 0.0, 3, 0.0), (5, 0.1, 1, 40.0), (2, 0.5, 0, 4.0), (4, 0.0, 0, None)],
)
def test_estimate(position: int, rate: float, free: int, expected: float | None) -> None:
    assert estimate_wait_s(position, rate, free) == expected
