"""Each operation of QueueStore and AgentStore against a real Redis, one behaviour per test, and
the msgpack codec of requests and messages.

Every state-changing call is checked to append exactly one event of its type to the stream
(invariant 5), and every refusal to append none and change nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import (
    AgentRefused,
    DecodeError,
    ErrorCode,
    NotYourOffer,
    QueueError,
    RequestNotFound,
    TopTier,
    WrongState,
)
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.liveness import Liveness
from frontdesk.queues.request import (
    SCHEMA_VERSION,
    Attachment,
    Channel,
    Customer,
    Message,
    Priority,
    Request,
    SkillRequirement,
    decode_message,
    decode_request,
    encode,
)
from frontdesk.queues.states import State
from frontdesk.queues.store import HandOver, QueueStore, StoreSettings
from frontdesk.skills import Agent, Presence

BAND_SHIFT = 2**32


# -- helpers -------------------------------------------------------------------------------------


def new_request(
    queue="general",
    channel=Channel.CHAT,
    external_id=None,
    priority=Priority.MEDIUM,
    **fields,
):
    return Request(
        id="",
        channel=channel,
        queue=queue,
        external_id=external_id,
        priority=priority,
        **fields,
    )


class Events:
    """The events appended since the last call to `new()`."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.seen = 0

    async def new(self) -> list[Event]:
        every = await self.log.range()
        fresh = every[self.seen :]
        self.seen = len(every)
        return fresh

    async def types(self) -> list[EventType]:
        return [e.type for e in await self.new()]

    async def one(self, etype: EventType) -> Event:
        """Exactly one new event, of type `etype`."""
        fresh = await self.new()
        assert [e.type for e in fresh] == [etype]
        return fresh[0]

    async def none(self) -> None:
        assert await self.types() == []


@pytest.fixture
async def events(redis, keys):
    tracker = Events(EventLog(redis, keys))
    await tracker.new()
    return tracker


async def add_agent(agents, agent_id, presence=Presence.AVAILABLE, capacity=None, **fields):
    created = await agents.upsert(
        Agent(
            id=agent_id,
            name=agent_id.title(),
            capacity={"chat": 2} if capacity is None else capacity,
            presence=presence,
            **fields,
        )
    )
    assert created is True
    return agent_id


async def enqueue(store, **fields) -> str:
    result = await store.enqueue(new_request(**fields))
    assert result.created
    return result.id


async def redis_ms(redis) -> int:
    seconds, micros = await redis.time()
    return seconds * 1000 + micros // 1000


async def offered_ids(redis, keys) -> set[str]:
    return {m.decode() for m in await redis.zrange(keys.offers, 0, -1)}


async def load(agents, agent_id, channel="chat") -> int:
    agent = await agents.get(agent_id)
    return agent.load.get(channel, 0)


async def state_of(store, request_id) -> State:
    return (await store.get(request_id)).state


# -- enqueue -------------------------------------------------------------------------------------


async def test_enqueue_stores_a_waiting_request_with_its_score(store, redis, keys, events):
    original = new_request(
        queue="billing",
        channel=Channel.EMAIL,
        external_id="<m1@example.com>",
        priority=Priority.LOW,
        subject="退款",
        body="我的订单还没有退款",
        tier=2,
    )
    before = await redis_ms(redis)
    result = await store.enqueue(original)
    after = await redis_ms(redis)

    assert result.created is True
    assert result.id.startswith("FD-")
    record = await store.get(result.id)
    assert record.state is State.WAITING
    assert record.agent is None and record.deadline_ms is None
    assert before <= record.enqueued_ms <= after
    assert record.score == Priority.LOW.band * BAND_SHIFT + record.seq
    assert record.messages == 0
    assert record.request == dataclasses.replace(
        original, id=result.id, enqueued_at=record.enqueued_ms / 1000
    )
    assert await store.peek("billing", 10) == [result.id]
    assert "billing" in await store.queue_names()
    event = await events.one(EventType.ENQUEUED)
    assert (event.request, event.queue, event.agent) == (result.id, "billing", "")
    assert event.data["channel"] == "email"


async def test_enqueue_same_external_message_twice_is_one_request(store, events):
    first = await store.enqueue(new_request(channel=Channel.EMAIL, external_id="<a@b>"))
    again = await store.enqueue(
        new_request(channel=Channel.EMAIL, external_id="<a@b>", subject="resent")
    )

    assert first.created is True
    assert again == dataclasses.replace(first, created=False)
    assert await store.waiting_count("general") == 1
    assert (await store.get(first.id)).request.subject == ""
    assert await events.types() == [EventType.ENQUEUED]


async def test_enqueue_is_idempotent_even_after_the_request_moved_on(store, agents, events):
    await add_agent(agents, "ann")
    first = await store.enqueue(new_request(external_id="chat-7"))
    await store.assign(first.id, "ann")
    await store.complete(first.id, "ann")
    await events.new()

    again = await store.enqueue(new_request(external_id="chat-7"))

    assert again == dataclasses.replace(first, created=False)
    assert await state_of(store, first.id) is State.COMPLETED
    assert await store.waiting_count("general") == 0
    await events.none()


async def test_same_external_id_on_another_channel_is_another_request(store):
    by_mail = await store.enqueue(new_request(channel=Channel.EMAIL, external_id="42"))
    by_form = await store.enqueue(new_request(channel=Channel.FORM, external_id="42"))

    assert by_mail.created and by_form.created
    assert by_mail.id != by_form.id


async def test_enqueue_without_external_id_is_never_deduplicated(store, events):
    same = new_request(subject="help")
    results = [await store.enqueue(same) for _ in range(3)]

    assert all(r.created for r in results)
    assert len({r.id for r in results}) == 3
    assert await store.waiting_count("general") == 3
    assert await events.types() == [EventType.ENQUEUED] * 3


# -- append_message ------------------------------------------------------------------------------


async def test_append_message_counts_up_and_keeps_order(store, events):
    rid = await enqueue(store)
    await events.new()
    first = Message(body="还有一个问题", author="customer", external_id="m1", received_at=1.5)
    second = Message(body="thanks", author="agent")

    assert await store.append_message(rid, first, "chat:m1") == 1
    event = await events.one(EventType.MESSAGE)
    assert (event.request, event.queue, event.data["author"]) == (rid, "general", "customer")
    assert await store.append_message(rid, second) == 2
    assert (await events.one(EventType.MESSAGE)).data["author"] == "agent"

    assert await store.messages(rid) == [first, second]
    assert (await store.get(rid)).messages == 2
    assert await state_of(store, rid) is State.WAITING


async def test_append_message_duplicate_idempotency_key_appends_nothing(store, events):
    rid = await enqueue(store)
    message = Message(body="same mail, polled twice", external_id="<x@y>")
    assert await store.append_message(rid, message, "email:<x@y>") == 1
    await events.new()

    assert await store.append_message(rid, message, "email:<x@y>") == 0

    assert await store.messages(rid) == [message]
    assert (await store.get(rid)).messages == 1
    await events.none()


async def test_append_message_without_key_is_never_deduplicated(store):
    rid = await enqueue(store)
    message = Message(body="again")
    assert [await store.append_message(rid, message) for _ in range(3)] == [1, 2, 3]
    assert await store.messages(rid) == [message] * 3


async def test_append_message_follows_the_request_to_its_holder(store, agents, events):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    await events.new()

    await store.append_message(rid, Message(body="any news?"))

    event = await events.one(EventType.MESSAGE)
    assert (event.agent, event.queue) == ("ann", "general")


@pytest.mark.parametrize("ending", ["complete", "abandon"])
async def test_append_message_refused_on_a_closed_request(store, agents, events, ending):
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    if ending == "complete":
        await store.assign(rid, "ann")
        await store.complete(rid, "ann")
    else:
        await store.abandon(rid, "customer left")
    await events.new()

    with pytest.raises(WrongState) as refused:
        await store.append_message(rid, Message(body="late"), "chat:late")

    assert refused.value.code is ErrorCode.WRONG_STATE
    assert refused.value.request_id == rid
    assert await store.messages(rid) == []
    await events.none()
    # The refused message did not burn its idempotency key: it is not recorded as seen.
    with pytest.raises(WrongState):
        await store.append_message(rid, Message(body="late"), "chat:late")


async def test_append_message_to_unknown_request(store, events):
    with pytest.raises(RequestNotFound) as refused:
        await store.append_message("FD-404", Message(body="hello?"))
    assert refused.value.code is ErrorCode.NOT_FOUND
    assert await store.messages("FD-404") == []
    await events.none()


# -- peek ----------------------------------------------------------------------------------------


async def test_peek_orders_by_priority_band_then_arrival(store):
    arrivals = [
        ("low-1", Priority.LOW),
        ("med-1", Priority.MEDIUM),
        ("high-1", Priority.HIGH),
        ("med-2", Priority.MEDIUM),
        ("high-2", Priority.HIGH),
        ("low-2", Priority.LOW),
    ]
    ids = {}
    for name, priority in arrivals:
        ids[name] = await enqueue(store, priority=priority, subject=name)

    expected = ["high-1", "high-2", "med-1", "med-2", "low-1", "low-2"]
    assert await store.peek("general", 10) == [ids[n] for n in expected]
    assert await store.peek("general", 3) == [ids[n] for n in expected[:3]]
    assert await store.waiting_count("general") == 6
    assert await store.peek("elsewhere", 10) == []


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
    rid = await enqueue(store)
    if state == "assigned":
        await store.assign(rid, "ann")
    await events.new()

    with pytest.raises(WrongState) as refused:
        await store.accept(rid, "ann")

    assert refused.value.code is ErrorCode.WRONG_STATE
    assert await state_of(store, rid) == state
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
    assert event.data == {"from": "general", "reason": "wrong queue"}
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

    assert await store.escalate(rid, "l2", "needs a specialist") == 2
    event = await events.one(EventType.ESCALATED)
    assert (event.request, event.agent, event.queue) == (rid, "ann", "l2")
    assert event.data == {"from": "l1", "tier": "2", "note": "needs a specialist"}
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


# -- agents --------------------------------------------------------------------------------------


async def test_upsert_agent_creates_then_updates(agents, events):
    profile = Agent(
        id="ann",
        name="Ann",
        skills={"billing": 4, "中文": 5},
        capacity={"chat": 2, "email": 5},
        tier=2,
        groups=("l2", "billing"),
        presence=Presence.AVAILABLE,
    )
    assert await agents.upsert(profile) is True
    event = await events.one(EventType.AGENT_CREATED)
    assert (event.agent, event.request) == ("ann", "")
    assert dataclasses.replace(await agents.get("ann"), idle_since_ms=0) == profile
    assert await agents.ids() == ["ann"]

    renamed = dataclasses.replace(profile, name="Ann Lee", tier=3, presence=Presence.OFFLINE)
    assert await agents.upsert(renamed) is False
    assert (await events.one(EventType.AGENT_UPDATED)).agent == "ann"
    stored = await agents.get("ann")
    assert (stored.name, stored.tier) == ("Ann Lee", 3)
    assert stored.presence is Presence.AVAILABLE  # an update keeps the live presence
    assert await agents.ids() == ["ann"]
    assert [a.id for a in await agents.all()] == ["ann"]


async def test_recent_agents_is_one_read_shared_by_every_caller(agents, redis):
    await add_agent(agents, "ann")
    await redis.config_resetstat()

    seen = await asyncio.gather(*(agents.recent(60) for _ in range(50)))
    assert all([a.id for a in found] == ["ann"] for found in seen)
    stats = await redis.info("commandstats")
    assert stats["cmdstat_smembers"]["calls"] == 1  # fifty callers, one read

    await add_agent(agents, "bob")
    assert [a.id for a in await agents.recent(60)] == ["ann"]  # young enough: not read again
    assert [a.id for a in await agents.recent(0)] == ["ann", "bob"]
    assert (await redis.info("commandstats"))["cmdstat_smembers"]["calls"] == 2


async def test_new_agent_without_presence_starts_offline(agents):
    await agents.upsert(Agent(id="bob", name="Bob", capacity={"chat": 1}))
    assert (await agents.get("bob")).presence is Presence.OFFLINE


async def test_upsert_refuses_capacity_below_the_current_load(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 2, "email": 2})
    for _ in range(2):
        await store.assign(await enqueue(store), "ann")
    before = await agents.get("ann")
    await events.new()

    with pytest.raises(AgentRefused) as refused:
        await agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 1, "email": 9}))
    assert refused.value.code is ErrorCode.CAPACITY_BELOW_LOAD
    assert "chat" in str(refused.value)
    with pytest.raises(AgentRefused):
        await agents.upsert(Agent(id="ann", name="Ann", capacity={"email": 2}))

    assert await agents.get("ann") == before
    await events.none()
    # Equal to the load is fine.
    assert await agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 2})) is False


async def test_upsert_removes_a_channel_dropped_from_capacity(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 2, "email": 2})
    await agents.upsert(Agent(id="ann", name="Ann", capacity={"email": 4}))

    ann = await agents.get("ann")
    assert ann.capacity == {"email": 4}
    assert ann.spare("chat") == 0
    with pytest.raises(AgentRefused) as refused:
        await store.offer(await enqueue(store, channel=Channel.CHAT), "ann", 30)
    assert refused.value.code is ErrorCode.NO_CAPACITY


async def test_upsert_keeps_the_load(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 2})
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    await agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 5}))
    ann = await agents.get("ann")
    assert (ann.load, ann.capacity) == ({"chat": 1}, {"chat": 5})
    assert await agents.holds("ann") == {rid: "chat"}


async def test_set_presence_returns_the_previous_one(agents, events):
    await add_agent(agents, "ann", presence=Presence.OFFLINE)
    await events.new()

    assert await agents.set_presence("ann", Presence.AWAY, "lunch") is Presence.OFFLINE
    event = await events.one(EventType.PRESENCE)
    assert (event.agent, event.data) == ("ann", {"presence": "away", "reason": "lunch"})
    ann = await agents.get("ann")
    assert (ann.presence, ann.away_reason) == (Presence.AWAY, "lunch")

    assert await agents.set_presence("ann", Presence.AVAILABLE) is Presence.AWAY
    assert (await events.one(EventType.PRESENCE)).data["presence"] == "available"


async def test_set_presence_available_clears_missed_offers(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 3})
    rid = await enqueue(store)
    await store.offer(rid, "ann", 0)
    await store.expire_overdue()
    assert (await agents.get("ann")).missed == 1

    await agents.set_presence("ann", Presence.AWAY, "break")
    assert (await agents.get("ann")).missed == 1
    await agents.set_presence("ann", Presence.AVAILABLE)
    assert (await agents.get("ann")).missed == 0


async def test_set_presence_of_unknown_agent_is_refused(agents, events):
    with pytest.raises(AgentRefused) as refused:
        await agents.set_presence("nobody", Presence.AVAILABLE)
    assert refused.value.code is ErrorCode.AGENT_NOT_FOUND
    assert await agents.get("nobody") is None
    assert await agents.ids() == []
    await events.none()


# -- one event per state change, across a whole life ---------------------------------------------


async def test_every_state_change_appends_exactly_one_event(store, agents, events):
    """Walk every operation once; each appends one event of its own type. The single exception,
    an expiry that also sets the agent away, appends two and is tested above."""
    customers = CustomerStore(store)
    steps = [
        (lambda: customers.identify(Customer(email="li@example.com")), "customer_created"),
        (
            lambda: customers.identify(Customer(email="li@example.com", phone="+86")),
            "customer_updated",
        ),
        (lambda: customers.identify(Customer(email="wang@example.com")), "customer_created"),
        (lambda: customers.link("C-1", "C-2"), "customer_linked"),
        (lambda: agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 3})), "agent_created"),
        (lambda: agents.upsert(Agent(id="ann", name="A", capacity={"chat": 3})), "agent_updated"),
        (lambda: agents.set_presence("ann", Presence.AVAILABLE), "presence"),
        (lambda: store.enqueue(new_request(external_id="e1")), "enqueued"),
        (lambda: store.enqueue(new_request(external_id="e2")), "enqueued"),
        (lambda: store.enqueue(new_request(external_id="e3")), "enqueued"),
        (lambda: store.append_message("FD-1", Message(body="hi")), "message"),
        (lambda: store.offer("FD-1", "ann", 30), "offered"),
        (lambda: store.reject("FD-1", "ann"), "rejected"),
        (lambda: store.offer("FD-2", "ann", 30), "offered"),
        (lambda: store.accept("FD-2", "ann"), "accepted"),
        (lambda: store.complete("FD-2", "ann"), "completed"),
        (lambda: store.assign("FD-3", "ann"), "assigned"),
        (lambda: store.transfer("FD-3", "billing"), "transferred"),
        (lambda: store.escalate("FD-3", "l2"), "escalated"),
        (lambda: store.offer("FD-3", "ann", 0), "offered"),
        (lambda: store.expire_overdue(), "expired"),
        (lambda: store.abandon("FD-3"), "abandoned"),
        (lambda: store.abandon("FD-1"), "abandoned"),
    ]
    for call, etype in steps:
        await call()
        fresh = await events.new()
        assert [e.type for e in fresh] == [EventType(etype)], (etype, fresh)
    # a vanished agent's assigned work (queues/liveness.py): flagged, then requeued
    live = Liveness(store.redis, store.keys)
    await store.enqueue(new_request(external_id="e4"))
    await store.assign("FD-4", "ann")
    gone_ms = await store.now_ms() - 10_000
    await store.redis.zadd(store.keys.agents_heard, {"ann": gone_ms})
    await store.redis.hset(store.keys.agent("ann"), "last_taken_ms", gone_ms)
    await events.new()
    for action, etype in (("flag", "flagged"), ("requeue", "requeued")):
        steps.append((lambda: None, etype))
        await live.orphan("FD-4", "ann", "general", 1000, action)
        assert [e.type for e in await events.new()] == [EventType(etype)]
    assert {etype for _, etype in steps} == {t.value for t in EventType}


async def test_refusals_append_no_event(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 1})
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    await events.new()
    refusals = [
        lambda: store.offer(rid, "ann", 30),
        lambda: store.assign(rid, "ann"),
        lambda: store.accept(rid, "ann"),
        lambda: store.reject(rid, "ann"),
        lambda: store.complete(rid, "bob"),
        lambda: store.escalate("FD-404", "l2"),
        lambda: store.transfer("FD-404", "x"),
        lambda: store.abandon("FD-404"),
        lambda: store.append_message("FD-404", Message(body="x")),
        lambda: agents.set_presence("bob", Presence.AWAY),
        lambda: agents.upsert(Agent(id="ann", name="Ann", capacity={})),
    ]
    for call in refusals:
        with pytest.raises(QueueError):
            await call()
    await events.none()
    assert await state_of(store, rid) is State.ASSIGNED


# -- codec ---------------------------------------------------------------------------------------

chinese = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=20)
text = st.one_of(st.text(max_size=30), chinese)
optional_text = st.none() | text
finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

attachments = st.lists(
    st.builds(
        Attachment,
        filename=text,
        content_type=st.sampled_from(["image/png", "application/pdf", "text/plain; charset=gbk"]),
        size=st.integers(min_value=0, max_value=2**40),
        ref=optional_text,
    ),
    max_size=3,
).map(tuple)

requests = st.builds(
    Request,
    id=st.from_regex(r"FD-[0-9]{1,9}", fullmatch=True),
    channel=st.sampled_from(Channel),
    queue=text,
    external_id=optional_text,
    entry_point=optional_text,
    customer=st.builds(
        Customer,
        id=optional_text,
        name=optional_text,
        email=optional_text,
        phone=st.none() | st.from_regex(r"\+86[0-9]{11}", fullmatch=True),
        handles=st.dictionaries(text, text, max_size=3),
    ),
    subject=text,
    body=text,
    language=st.none() | st.sampled_from(["zh-CN", "en", "zh-TW"]),
    attachments=attachments,
    category=optional_text,
    priority=st.sampled_from(Priority),
    skills=st.lists(
        st.builds(
            SkillRequirement,
            name=text,
            min_level=st.integers(min_value=1, max_value=5),
            optional=st.booleans(),
        ),
        max_size=3,
    ).map(tuple),
    tier=st.integers(min_value=1, max_value=3),
    preferred_agent=optional_text,
    received_at=finite,
    enqueued_at=st.none() | finite,
    attributes=st.dictionaries(
        text, st.one_of(st.none(), st.booleans(), int64, finite, text), max_size=4
    ),
)

messages = st.builds(
    Message,
    body=text,
    author=st.sampled_from(["customer", "agent", "system"]),
    external_id=optional_text,
    received_at=finite,
    attachments=attachments,
)


@given(requests)
def test_request_codec_round_trip(request):
    raw = encode(request)
    assert decode_request(raw) == request
    assert Request.decode(request.encode()) == request


@given(messages)
def test_message_codec_round_trip(message):
    assert decode_message(encode(message)) == message


@given(requests)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)
async def test_stored_request_reads_back_equal(store, request):
    # The records of earlier examples stay (the fixture flushes once per test); ids never clash
    # because enqueue numbers requests from the counter whatever `id` was generated.
    result = await store.enqueue(dataclasses.replace(request, id=""))
    record = await store.get(result.id)
    if not result.created:  # an external id seen by an earlier example
        return
    assert record.request == dataclasses.replace(
        request, id=result.id, enqueued_at=record.enqueued_ms / 1000
    )


def _valid_request_body() -> dict:
    body = msgpack.unpackb(encode(Request(id="FD-1", channel=Channel.CHAT, queue="q")))
    assert body["v"] == SCHEMA_VERSION
    return body


def _pack(body) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


GARBAGE = {
    "empty": b"",
    "invalid byte": b"\xc1",
    "truncated": encode(Request(id="FD-1", channel=Channel.CHAT, queue="q"))[:-3],
    "trailing bytes": encode(Request(id="FD-1", channel=Channel.CHAT, queue="q")) + b"\x00",
    "not utf-8": b"\xa2\xff\xfe",
    "json": b'{"id": "FD-1"}',
    "int map key": _pack({1: "x", "v": SCHEMA_VERSION}),
    "a list": _pack([1, 2, 3]),
    "a string": _pack("FD-1"),
    "no version": _pack({k: v for k, v in _valid_request_body().items() if k != "v"}),
    "version 2": _pack({**_valid_request_body(), "v": SCHEMA_VERSION + 1}),
    "version as text": _pack({**_valid_request_body(), "v": str(SCHEMA_VERSION)}),
    "missing channel": _pack({k: v for k, v in _valid_request_body().items() if k != "channel"}),
    "unknown channel": _pack({**_valid_request_body(), "channel": "fax"}),
    "unknown priority": _pack({**_valid_request_body(), "priority": "urgent"}),
    "unknown field": _pack({**_valid_request_body(), "colour": "red"}),
    "customer not a map": _pack({**_valid_request_body(), "customer": "ann"}),
    "attachment not a map": _pack({**_valid_request_body(), "attachments": [["a.png"]]}),
    "skills not a list": _pack({**_valid_request_body(), "skills": 3}),
}


@pytest.mark.parametrize("raw", GARBAGE.values(), ids=list(GARBAGE))
def test_decode_request_garbage_raises_decode_error_keeping_the_bytes(raw):
    with pytest.raises(DecodeError) as failed:
        decode_request(raw)
    assert failed.value.raw == raw
    assert failed.value.what == "request"
    assert failed.value.cause is not None


MESSAGE_GARBAGE = {
    "invalid byte": b"\xc1",
    "a list": _pack(["hi"]),
    "version 0": _pack({"v": 0, "body": "hi", "attachments": []}),
    "no attachments": _pack({"v": SCHEMA_VERSION, "body": "hi"}),
    "no body": _pack({"v": SCHEMA_VERSION, "attachments": []}),
    "a request": encode(Request(id="FD-1", channel=Channel.CHAT, queue="q")),
}


@pytest.mark.parametrize("raw", MESSAGE_GARBAGE.values(), ids=list(MESSAGE_GARBAGE))
def test_decode_message_garbage_raises_decode_error_keeping_the_bytes(raw):
    with pytest.raises(DecodeError) as failed:
        decode_message(raw)
    assert failed.value.raw == raw
    assert failed.value.what == "message"


msgpack_values = st.recursive(
    st.none() | st.booleans() | int64 | finite | text | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@given(st.binary(max_size=64) | st.builds(_pack, msgpack_values))
def test_decode_anything_gives_a_request_or_decode_error(raw):
    for decode in (decode_request, decode_message):
        try:
            decode(raw)
        except DecodeError as failed:
            assert failed.raw == raw


@given(
    st.fixed_dictionaries(
        {},
        optional={name: msgpack_values for name in _valid_request_body()},
    )
)
def test_decode_request_with_any_field_values_never_escapes_decode_error(fields):
    raw = _pack({**fields, "v": SCHEMA_VERSION})
    try:
        decoded = decode_request(raw)
    except DecodeError as failed:
        assert failed.raw == raw
    else:
        assert isinstance(decoded, Request)
