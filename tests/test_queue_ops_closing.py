"""QueueStore against a real Redis, one behaviour per test: complete and abandon, and the
retention of closed requests.

Each state-changing call is checked to append exactly one event of its type to the stream
(invariant 5), and every refusal to append none and change nothing.
"""

from __future__ import annotations

import pytest
from queue_ops_helpers import add_agent, enqueue, load, offered_ids, state_of

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import ErrorCode, NotYourOffer, RequestNotFound, WrongState
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Message
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore, StoreSettings

# -- complete ------------------------------------------------------------------------------------


async def test_complete_returns_the_capacity(store, agents, redis, keys, events):
    await add_agent(agents, "ann", capacity={"chat": 1})
    rid = await enqueue(store)
    await store.offer(rid, "ann", 30)
    await store.accept(rid, "ann")
    await events.new()

    await store.complete(rid, "ann", "solved")

    record = await store.get(rid)
    assert (record.state, record.resolution) == (State.COMPLETED, "solved")
    assert await agents.holds("ann") == {}
    assert await load(agents, "ann") == 0
    assert await store.peek("general", 10) == []
    assert await offered_ids(redis, keys) == set()
    event = await events.one(EventType.COMPLETED)
    assert (event.request, event.agent, event.data["resolution"]) == (rid, "ann", "solved")
    # The capacity is usable again.
    await store.assign(await enqueue(store), "ann")


async def test_a_closed_request_expires_after_the_retention_with_its_keys(redis, keys):
    store = QueueStore(redis, keys, StoreSettings(record_ttl_s=3600))
    agents = AgentStore(redis, keys)
    await add_agent(agents, "ann", capacity={"chat": 2})
    done, left, open_ = [await enqueue(store) for _ in range(3)]
    for rid in (done, left, open_):
        await store.append_message(rid, Message("more"))
    await store.offer(done, "ann", 30)
    await store.reject(done, "ann")  # ann excluded: the request has an excluded set
    await store.assign(done, "ann", force=True)
    await store.complete(done, "ann")
    await store.abandon(left, "customer left")

    for rid in (done, left):
        for key in (keys.request(rid), keys.messages(rid)):
            assert 3_599_000 < await redis.pttl(key) <= 3_600_000
    assert 3_599_000 < await redis.pttl(keys.excluded(done)) <= 3_600_000
    assert await redis.pttl(keys.request(open_)) == -1  # open: kept
    assert await redis.pttl(keys.messages(open_)) == -1

    forever = QueueStore(redis, keys, StoreSettings(record_ttl_s=0))
    await forever.abandon(open_)
    assert await redis.pttl(keys.request(open_)) == -1


async def test_each_class_of_closed_request_keeps_its_own_retention(redis, keys):
    """Seed 003: a normal request 3 months, one at second line or above 6 months (here 1 h and
    2 h); the class is written on the record when it closes."""
    store = QueueStore(redis, keys, StoreSettings(record_ttl_s=3600, important_ttl_s=7200))
    agents = AgentStore(redis, keys)
    await add_agent(agents, "ann", capacity={"chat": 2}, tier=2)
    normal, second_line = await enqueue(store), await enqueue(store, tier=2)
    for rid in (normal, second_line):
        await store.append_message(rid, Message("more"))
        await store.assign(rid, "ann", force=True)
        await store.complete(rid, "ann")
    assert 3_599_000 < await redis.pttl(keys.request(normal)) <= 3_600_000
    assert 7_199_000 < await redis.pttl(keys.request(second_line)) <= 7_200_000
    assert 7_199_000 < await redis.pttl(keys.messages(second_line)) <= 7_200_000
    assert await redis.hget(keys.request(normal), "retention") == b"normal"
    assert await redis.hget(keys.request(second_line), "retention") == b"important"
    left = await enqueue(store, tier=3)
    await store.abandon(left, "customer left")
    assert 7_199_000 < await redis.pttl(keys.request(left)) <= 7_200_000


@pytest.mark.parametrize("state", ["waiting", "offered", "completed", "abandoned"])
async def test_complete_refused_unless_assigned(store, agents, events, state):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    if state == "offered":
        await store.offer(rid, "ann", 30)
    elif state == "completed":
        await store.assign(rid, "ann")
        await store.complete(rid, "ann")
    elif state == "abandoned":
        await store.abandon(rid)
    before = await agents.get("ann")
    await events.new()

    with pytest.raises(WrongState) as refused:
        await store.complete(rid, "ann")

    assert refused.value.code is ErrorCode.WRONG_STATE
    assert await state_of(store, rid) == state
    assert await agents.get("ann") == before
    await events.none()


async def test_complete_by_another_agent_is_refused(store, agents, events):
    await add_agent(agents, "ann")
    await add_agent(agents, "bob")
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    await events.new()

    with pytest.raises(NotYourOffer):
        await store.complete(rid, "bob")
    with pytest.raises(RequestNotFound):
        await store.complete("FD-404", "ann")

    assert await state_of(store, rid) is State.ASSIGNED
    assert await load(agents, "ann") == 1
    await events.none()


# -- abandon -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["waiting", "offered", "assigned"])
async def test_abandon_from_every_open_state(store, agents, redis, keys, events, state):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    if state == "offered":
        await store.offer(rid, "ann", 30)
    elif state == "assigned":
        await store.assign(rid, "ann")
    await events.new()

    await store.abandon(rid, "customer left")

    record = await store.get(rid)
    assert (record.state, record.agent, record.deadline_ms) == (State.ABANDONED, None, None)
    assert record.resolution == "customer left"
    assert await store.peek("general", 10) == []
    assert await offered_ids(redis, keys) == set()
    assert await agents.holds("ann") == {}
    assert await load(agents, "ann") == 0
    event = await events.one(EventType.ABANDONED)
    assert (event.request, event.queue, event.data["reason"]) == (rid, "general", "customer left")
    assert event.agent == ("" if state == "waiting" else "ann")


@pytest.mark.parametrize("ending", ["complete", "abandon"])
async def test_abandon_refused_once_closed(store, agents, events, ending):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    if ending == "complete":
        await store.complete(rid, "ann")
    else:
        await store.abandon(rid)
    await events.new()

    with pytest.raises(WrongState):
        await store.abandon(rid)
    with pytest.raises(RequestNotFound):
        await store.abandon("FD-404")

    assert await state_of(store, rid) == ("completed" if ending == "complete" else "abandoned")
    await events.none()
