"""Queue wait estimates from throughput and free agents."""

from __future__ import annotations

import pytest
from queue_ops_helpers import add_agent, enqueue

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.request import Channel, SkillRequirement
from frontdesk.router.routing.eta import Standing, Throughput, estimate_wait_s


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


async def test_an_agent_without_the_required_skills_is_no_free_place(store, agents) -> None:
    """The estimate counts only the available agents who could take the request: one without
    its required skill leaves it at "no estimate", not "0 s"."""
    skills = (SkillRequirement("orders", 2), SkillRequirement("english", 5, optional=True))
    request_id = await enqueue(store, channel=Channel.FORM, skills=skills)
    standing = Standing(store, agents, Throughput(), lambda queue: ())
    await add_agent(agents, "sarah", capacity={"form": 8}, skills={"advice": 5})
    await add_agent(agents, "tom", capacity={"form": 8}, skills={"orders": 1})  # too low
    record = await store.get(request_id)
    assert record is not None
    assert await standing(record) == {"position": 1, "estimated_wait_s": None}
    assert await standing(record, shared=True) == {"position": 1, "estimated_wait_s": None}
    await add_agent(agents, "li.na", capacity={"form": 5}, skills={"orders": 3})
    fresh = AgentStore(agents.redis, agents.keys)  # its own read cache (AgentStore.recent)
    standing = Standing(store, fresh, Throughput(), lambda queue: ())
    assert await standing(record) == {"position": 1, "estimated_wait_s": 0.0}
    assert await standing(record, shared=True) == {"position": 1, "estimated_wait_s": 0.0}
