"""QueueStore against a real Redis, one behaviour per test: transfer (to another queue) and
escalate (to a higher tier).

Each state-changing call is checked to append exactly one event of its type to the stream
(invariant 5), and every refusal to append none and change nothing.
"""

from __future__ import annotations

import pytest
from queue_ops_helpers import add_agent, enqueue, load, offered_ids

from frontdesk.queues.errors import ErrorCode, RequestNotFound, TopTier, WrongState
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Priority
from frontdesk.queues.states import State

# -- transfer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["waiting", "offered", "assigned"])
async def test_transfer_keeps_the_age_and_releases_the_holder(
    store, agents, redis, keys, events, state
):
    await add_agent(agents, "ann")
    old = await enqueue(store, queue="general")
    newer = await enqueue(store, queue="billing")
    urgent = await enqueue(store, queue="billing", priority=Priority.HIGH)
    score = (await store.get(old)).score
    if state == "offered":
        await store.offer(old, "ann", 30)
    elif state == "assigned":
        await store.assign(old, "ann")
    await events.new()

    await store.transfer(old, "billing", "wrong queue")

    assert await store.peek("billing", 10) == [urgent, old, newer]
    assert await store.peek("general", 10) == []
    record = await store.get(old)
    assert (record.state, record.agent, record.request.queue) == (State.WAITING, None, "billing")
    assert record.score == score
    assert await offered_ids(redis, keys) == set()
    assert await agents.holds("ann") == {}
    assert await load(agents, "ann") == 0
    event = await events.one(EventType.TRANSFERRED)
    assert (event.request, event.queue) == (old, "billing")
    assert event.data == {
        "from": "general",
        "reason": "wrong queue",
        "channel": "chat",
        "category": "",
    }
    assert event.agent == ("" if state == "waiting" else "ann")


async def test_transfer_to_a_new_queue_registers_it(store):
    rid = await enqueue(store)
    await store.transfer(rid, "vip")
    assert await store.queue_names() == {"general", "vip"}
    assert await store.peek("vip", 10) == [rid]


async def test_transfer_refused_once_closed(store, events):
    rid = await enqueue(store)
    await store.abandon(rid)
    await events.new()

    with pytest.raises(WrongState):
        await store.transfer(rid, "billing")
    with pytest.raises(RequestNotFound):
        await store.transfer("FD-404", "billing")

    assert await store.peek("billing", 10) == []
    await events.none()


# -- escalate ------------------------------------------------------------------------------------


async def test_escalate_raises_the_tier_until_the_top(store, agents, redis, keys, events):
    await add_agent(agents, "ann")
    rid = await enqueue(store, queue="l1")
    later = await enqueue(store, queue="l3")
    score = (await store.get(rid)).score
    await store.assign(rid, "ann")
    await events.new()

    assert await store.escalate(rid, "l2", "needs a specialist", "complexity") == 2
    event = await events.one(EventType.ESCALATED)
    assert (event.request, event.agent, event.queue) == (rid, "ann", "l2")
    assert event.data == {
        "from": "l1",
        "tier": "2",
        "note": "needs a specialist",
        "reason_code": "complexity",
        "channel": "chat",
        "category": "",
    }
    assert await load(agents, "ann") == 0
    assert await agents.holds("ann") == {}

    assert await store.escalate(rid, "l3") == 3
    assert (await events.one(EventType.ESCALATED)).data["tier"] == "3"
    record = await store.get(rid)
    assert (record.state, record.request.tier, record.request.queue) == (State.WAITING, 3, "l3")
    assert record.score == score
    assert await store.peek("l3", 10) == [rid, later]
    assert await store.peek("l2", 10) == []

    with pytest.raises(TopTier) as refused:
        await store.escalate(rid, "l4")
    assert refused.value.code is ErrorCode.TOP_TIER
    assert await store.peek("l3", 10) == [rid, later]
    assert "l4" not in await store.queue_names()
    assert (await store.get(rid)).request.tier == 3
    await events.none()


async def test_escalate_refused_once_closed(store, events):
    rid = await enqueue(store)
    await store.abandon(rid)
    await events.new()
    with pytest.raises(WrongState):
        await store.escalate(rid, "l2")
    with pytest.raises(RequestNotFound):
        await store.escalate("FD-404", "l2")
    assert (await store.get(rid)).request.tier == 1
    await events.none()
