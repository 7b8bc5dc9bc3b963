"""QueueStore against a real Redis, one behaviour per test: offer and assign (the hand-over),
accept, reject and expire_overdue (missed offers).

Each state-changing call is checked to append exactly one event of its type to the stream
(invariant 5), and every refusal to append none and change nothing.
"""

from __future__ import annotations

import asyncio

import pytest
from queue_ops_helpers import add_agent, enqueue, load, offered_ids, redis_ms, state_of

from frontdesk.queues.errors import (
    AgentRefused,
    ErrorCode,
    NotYourOffer,
    RequestNotFound,
    WrongState,
)
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel
from frontdesk.queues.states import State
from frontdesk.queues.store import HandOver
from frontdesk.skills import Presence

# -- offer ---------------------------------------------------------------------------------------


async def test_hand_over_offers_and_assigns_in_one_round_trip_each_checked(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 2})
    await add_agent(agents, "bob", capacity={"chat": 1})
    first, second, third, fourth = [await enqueue(store) for _ in range(4)]
    await events.new()

    refused = await store.hand_over(
        [
            HandOver(first, "ann", "general", {"score": 0.5}, offer_timeout_s=30),
            HandOver(second, "ann", "general", None, offer_timeout_s=None),  # assigned
            HandOver(third, "ann", "general", None, offer_timeout_s=30),  # ann is full now
            HandOver(first, "bob", "general", None, offer_timeout_s=30),  # offered already
            HandOver(fourth, "bob", "general", None, offer_timeout_s=None),
        ]
    )

    assert refused[:2] == [None, None] and refused[4] is None
    assert isinstance(refused[2], AgentRefused) and refused[2].code is ErrorCode.NO_CAPACITY
    assert isinstance(refused[3], WrongState)
    assert [(await store.get(r)).state for r in (first, second, third, fourth)] == [
        State.OFFERED,
        State.ASSIGNED,
        State.WAITING,
        State.ASSIGNED,
    ]
    assert await agents.holds("ann") == {first: "chat", second: "chat"}
    assert await store.hand_over([]) == []
    assert await events.types() == [EventType.OFFERED, EventType.ASSIGNED, EventType.ASSIGNED]


async def test_offer_returns_the_deadline_and_reserves_capacity(store, agents, redis, keys, events):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await events.new()

    before = await redis_ms(redis)
    deadline = await store.offer(rid, "ann", timeout_s=30, why={"score": 0.9})
    after = await redis_ms(redis)

    assert before + 30_000 <= deadline <= after + 30_000
    record = await store.get(rid)
    assert (record.state, record.agent, record.deadline_ms) == (State.OFFERED, "ann", deadline)
    assert await store.peek("general", 10) == []
    assert await redis.zscore(keys.offers, rid) == deadline
    assert await agents.holds("ann") == {rid: "chat"}
    assert await load(agents, "ann") == 1
    event = await events.one(EventType.OFFERED)
    assert (event.request, event.agent, event.queue) == (rid, "ann", "general")
    assert event.data["deadline"] == str(deadline)
    assert event.data["why"] == '{"score": 0.9}'


async def refuse_setup(store, agents, case):
    """A waiting request and an agent that `case` says cannot take it; returns (rid, agent)."""
    rid = await enqueue(store)
    if case == "unknown agent":
        return rid, "nobody"
    if case == "agent away":
        return rid, await add_agent(agents, "ann", presence=Presence.AWAY)
    if case == "agent offline":
        return rid, await add_agent(agents, "ann", presence=Presence.OFFLINE)
    if case == "agent excluded":
        await add_agent(agents, "ann")
        await store.offer(rid, "ann", 30)
        await store.reject(rid, "ann", "not my area")
        return rid, "ann"
    if case == "channel full":
        await add_agent(agents, "ann", capacity={"chat": 1})
        await store.assign(await enqueue(store), "ann")
        return rid, "ann"
    if case == "capacity 0":
        return rid, await add_agent(agents, "ann", capacity={"chat": 0, "email": 3})
    if case == "channel missing":
        return rid, await add_agent(agents, "ann", capacity={"email": 3})
    if case == "request not waiting":
        await add_agent(agents, "ann", capacity={"chat": 2})
        await store.offer(rid, await add_agent(agents, "bob"), 30)
        return rid, "ann"
    raise AssertionError(case)


REFUSALS = {
    "unknown agent": (AgentRefused, ErrorCode.AGENT_NOT_FOUND),
    "agent away": (AgentRefused, ErrorCode.AGENT_UNAVAILABLE),
    "agent offline": (AgentRefused, ErrorCode.AGENT_UNAVAILABLE),
    "agent excluded": (AgentRefused, ErrorCode.AGENT_EXCLUDED),
    "channel full": (AgentRefused, ErrorCode.NO_CAPACITY),
    "capacity 0": (AgentRefused, ErrorCode.NO_CAPACITY),
    "channel missing": (AgentRefused, ErrorCode.NO_CAPACITY),
    "request not waiting": (WrongState, ErrorCode.WRONG_STATE),
}


@pytest.mark.parametrize("verb", ["offer", "assign"])
@pytest.mark.parametrize("case", list(REFUSALS))
async def test_offer_and_assign_refusals(store, agents, redis, keys, events, verb, case):
    rid, agent_id = await refuse_setup(store, agents, case)
    before_record = await store.get(rid)
    before_agent = await agents.get(agent_id)
    before_offers = await offered_ids(redis, keys)
    await events.new()

    error, code = REFUSALS[case]
    with pytest.raises(error) as refused:
        if verb == "offer":
            await store.offer(rid, agent_id, 30)
        else:
            await store.assign(rid, agent_id)

    assert refused.value.code is code
    assert refused.value.request_id == rid
    assert await store.get(rid) == before_record
    assert await agents.get(agent_id) == before_agent
    assert await offered_ids(redis, keys) == before_offers
    await events.none()


@pytest.mark.parametrize("verb", ["offer", "assign"])
async def test_offer_and_assign_unknown_request(store, agents, events, verb):
    await add_agent(agents, "ann")
    await events.new()
    with pytest.raises(RequestNotFound):
        if verb == "offer":
            await store.offer("FD-404", "ann", 30)
        else:
            await store.assign("FD-404", "ann")
    assert await agents.holds("ann") == {}
    await events.none()


async def test_capacity_is_counted_per_channel(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 1, "email": 1})
    chat = [await enqueue(store, channel=Channel.CHAT) for _ in range(2)]
    mail = await enqueue(store, channel=Channel.EMAIL)

    await store.offer(chat[0], "ann", 30)
    with pytest.raises(AgentRefused) as refused:
        await store.offer(chat[1], "ann", 30)
    assert refused.value.code is ErrorCode.NO_CAPACITY
    await store.assign(mail, "ann")

    ann = await agents.get("ann")
    assert ann.load == {"chat": 1, "email": 1}
    assert await agents.holds("ann") == {chat[0]: "chat", mail: "email"}


# -- assign and accept ---------------------------------------------------------------------------


async def test_assign_gives_the_request_without_an_offer(store, agents, redis, keys, events):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await events.new()

    await store.assign(rid, "ann", why={"rule": "email"})

    record = await store.get(rid)
    assert (record.state, record.agent, record.deadline_ms) == (State.ASSIGNED, "ann", None)
    assert await store.peek("general", 10) == []
    assert await offered_ids(redis, keys) == set()
    assert await agents.holds("ann") == {rid: "chat"}
    assert await load(agents, "ann") == 1
    event = await events.one(EventType.ASSIGNED)
    assert (event.request, event.agent, event.queue) == (rid, "ann", "general")
    assert event.data["why"] == '{"rule": "email"}'


async def test_accept_turns_the_offer_into_an_assignment(store, agents, redis, keys, events):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await store.offer(rid, "ann", 30)
    await events.new()

    await store.accept(rid, "ann")

    record = await store.get(rid)
    assert (record.state, record.agent, record.deadline_ms) == (State.ASSIGNED, "ann", None)
    assert await offered_ids(redis, keys) == set()
    assert await agents.holds("ann") == {rid: "chat"}
    assert await load(agents, "ann") == 1
    event = await events.one(EventType.ACCEPTED)
    assert (event.request, event.agent, event.queue) == (rid, "ann", "general")


async def test_accept_by_another_agent_is_not_their_offer(store, agents, events):
    await add_agent(agents, "ann")
    await add_agent(agents, "bob")
    rid = await enqueue(store)
    await store.offer(rid, "ann", 30)
    await events.new()

    with pytest.raises(NotYourOffer) as refused:
        await store.accept(rid, "bob")

    assert refused.value.code is ErrorCode.NOT_YOUR_OFFER
    record = await store.get(rid)
    assert (record.state, record.agent) == (State.OFFERED, "ann")
    assert await agents.holds("bob") == {}
    await events.none()


async def test_accept_after_the_deadline_is_refused(store, agents, redis, keys, events):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    deadline = await store.offer(rid, "ann", timeout_s=0.05)
    while await redis_ms(redis) <= deadline:  # bounded by the 50 ms timeout
        await asyncio.sleep(0.02)
    await events.new()

    with pytest.raises(WrongState) as refused:
        await store.accept(rid, "ann")

    assert refused.value.code is ErrorCode.OFFER_EXPIRED
    record = await store.get(rid)
    assert (record.state, record.agent) == (State.OFFERED, "ann")
    assert await offered_ids(redis, keys) == {rid}
    await events.none()


@pytest.mark.parametrize("state", ["waiting", "assigned"])
async def test_accept_refused_unless_offered(store, agents, events, state):
    await add_agent(agents, "ann")
    await add_agent(agents, "bob")
    rid = await enqueue(store)
    if state == "assigned":
        await store.assign(rid, "bob")  # another's: accepting one's own is idempotent
    await events.new()

    with pytest.raises(WrongState) as refused:
        await store.accept(rid, "ann")

    assert refused.value.code is ErrorCode.WRONG_STATE
    assert await state_of(store, rid) == state
    await events.none()


@pytest.mark.parametrize("how", ["assigned", "accepted"])
async def test_accept_is_idempotent_for_the_holder(store, agents, events, how):
    """An assign-mode queue's request, or an accept retried: the holder's accept answers the
    record and thread again, changing nothing and emitting nothing."""
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    if how == "assigned":
        await store.assign(rid, "ann")
    else:
        await store.offer(rid, "ann", 30)
        await store.accept(rid, "ann")
    await events.new()

    again = await store.accept_full(rid, "ann")

    assert (again.record.state, again.record.agent) == (State.ASSIGNED, "ann")
    assert await agents.holds("ann") == {rid: "chat"}
    assert await load(agents, "ann") == 1
    await events.none()


async def test_accept_unknown_request(store, agents):
    await add_agent(agents, "ann")
    with pytest.raises(RequestNotFound):
        await store.accept("FD-404", "ann")


# -- reject --------------------------------------------------------------------------------------


async def test_reject_puts_the_request_back_at_its_original_place(
    store, agents, redis, keys, events
):
    await add_agent(agents, "ann")
    a = await enqueue(store, subject="A")
    b = await enqueue(store, subject="B")
    score = (await store.get(a)).score
    await store.offer(a, "ann", 30)
    assert await store.peek("general", 10) == [b]
    await events.new()

    await store.reject(a, "ann", "not my language")

    assert await store.peek("general", 10) == [a, b]
    record = await store.get(a)
    assert (record.state, record.agent, record.deadline_ms) == (State.WAITING, None, None)
    assert record.score == score
    assert await redis.zscore(keys.queue("general"), a) == score
    assert await offered_ids(redis, keys) == set()
    assert await agents.holds("ann") == {}
    assert await load(agents, "ann") == 0
    assert await store.excluded(a) == {"ann"}
    event = await events.one(EventType.REJECTED)
    assert (event.request, event.agent, event.queue) == (a, "ann", "general")
    assert event.data["reason"] == "not my language"


async def test_rejected_request_goes_to_someone_else(store, agents):
    await add_agent(agents, "ann")
    await add_agent(agents, "bob")
    rid = await enqueue(store)
    await store.offer(rid, "ann", 30)
    await store.reject(rid, "ann")

    with pytest.raises(AgentRefused):
        await store.assign(rid, "ann")
    await store.offer(rid, "bob", 30)
    await store.reject(rid, "bob")

    assert await store.excluded(rid) == {"ann", "bob"}
    assert await state_of(store, rid) is State.WAITING


async def test_reject_refusals(store, agents, events):
    await add_agent(agents, "ann")
    await add_agent(agents, "bob")
    waiting = await enqueue(store)
    offered = await enqueue(store)
    await store.offer(offered, "ann", 30)
    await events.new()

    with pytest.raises(NotYourOffer):
        await store.reject(offered, "bob")
    with pytest.raises(WrongState) as refused:
        await store.reject(waiting, "ann")
    assert refused.value.code is ErrorCode.WRONG_STATE
    with pytest.raises(RequestNotFound):
        await store.reject("FD-404", "ann")

    assert (await store.get(offered)).agent == "ann"
    assert await store.excluded(offered) == set()
    await events.none()


# -- expire_overdue ------------------------------------------------------------------------------


async def test_expire_overdue_takes_back_only_overdue_offers(store, agents, redis, keys, events):
    await add_agent(agents, "ann", capacity={"chat": 3})
    older = await enqueue(store)
    overdue = await enqueue(store)
    fresh = await enqueue(store)
    await store.offer(overdue, "ann", 0)
    await store.offer(fresh, "ann", 60)
    await events.new()

    assert await store.expire_overdue() == [(overdue, "ann")]

    assert await store.peek("general", 10) == [older, overdue]
    record = await store.get(overdue)
    assert (record.state, record.agent, record.deadline_ms) == (State.WAITING, None, None)
    assert await store.excluded(overdue) == {"ann"}
    assert await offered_ids(redis, keys) == {fresh}
    assert await agents.holds("ann") == {fresh: "chat"}
    ann = await agents.get("ann")
    assert (ann.load, ann.missed, ann.presence) == ({"chat": 1}, 1, Presence.AVAILABLE)
    event = await events.one(EventType.EXPIRED)
    assert (event.request, event.agent, event.queue) == (overdue, "ann", "general")

    assert await store.expire_overdue() == []
    await events.none()


async def test_missing_offers_in_a_row_sets_the_agent_away(store, agents, events):
    # The fixture's StoreSettings has max_missed_offers=2.
    assert store.settings.max_missed_offers == 2
    await add_agent(agents, "ann", capacity={"chat": 3})
    first, second = await enqueue(store), await enqueue(store)

    await store.offer(first, "ann", 0)
    await events.new()
    assert await store.expire_overdue() == [(first, "ann")]
    assert await events.types() == [EventType.EXPIRED]
    assert (await agents.get("ann")).presence is Presence.AVAILABLE

    await store.offer(second, "ann", 0)
    await events.new()
    assert await store.expire_overdue() == [(second, "ann")]

    # The expiry that crosses the limit is the one state change that appends two events:
    # the request's `expired` and then the agent's `presence` (two things changed).
    fresh = await events.new()
    assert [e.type for e in fresh] == [EventType.EXPIRED, EventType.PRESENCE]
    assert fresh[0].request == second
    assert (fresh[1].agent, fresh[1].request, fresh[1].data["presence"]) == ("ann", "", "away")
    ann = await agents.get("ann")
    assert (ann.presence, ann.away_reason, ann.missed, ann.load) == (
        Presence.AWAY,
        "missed offers",
        2,
        {},
    )
    third = await enqueue(store)
    with pytest.raises(AgentRefused) as refused:
        await store.offer(third, "ann", 30)
    assert refused.value.code is ErrorCode.AGENT_UNAVAILABLE


async def test_accepting_resets_the_run_of_missed_offers(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 3})
    missed_1, taken, missed_2 = [await enqueue(store) for _ in range(3)]

    await store.offer(missed_1, "ann", 0)
    assert await store.expire_overdue() == [(missed_1, "ann")]
    await store.offer(taken, "ann", 30)
    await store.accept(taken, "ann")
    assert (await agents.get("ann")).missed == 0
    await store.offer(missed_2, "ann", 0)
    assert await store.expire_overdue() == [(missed_2, "ann")]

    ann = await agents.get("ann")
    assert (ann.presence, ann.missed) == (Presence.AVAILABLE, 1)


async def test_rejecting_is_not_missing(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 3})
    for _ in range(store.settings.max_missed_offers + 1):
        rid = await enqueue(store)
        await store.offer(rid, "ann", 30)
        await events.new()
        await store.reject(rid, "ann", "not mine")
        assert await events.types() == [EventType.REJECTED]

    ann = await agents.get("ann")
    assert (ann.presence, ann.missed) == (Presence.AVAILABLE, 0)


async def test_expiring_an_offer_of_an_agent_already_away_emits_no_presence(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 3})
    first, second = await enqueue(store), await enqueue(store)
    await store.offer(first, "ann", 0)
    await store.offer(second, "ann", 0)
    await agents.set_presence("ann", Presence.OFFLINE, "end of shift")
    await events.new()

    assert sorted(await store.expire_overdue()) == sorted([(first, "ann"), (second, "ann")])

    assert await events.types() == [EventType.EXPIRED, EventType.EXPIRED]
    ann = await agents.get("ann")
    assert (ann.presence, ann.away_reason, ann.load) == (Presence.OFFLINE, "end of shift", {})
