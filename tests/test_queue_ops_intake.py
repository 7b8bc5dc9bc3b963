"""QueueStore against a real Redis, one behaviour per test: enqueue (and its idempotency),
append_message and peek.

Each state-changing call is checked to append exactly one event of its type to the stream
(invariant 5), and every refusal to append none and change nothing.
"""

from __future__ import annotations

import dataclasses

import pytest
from queue_ops_helpers import BAND_SHIFT, add_agent, enqueue, new_request, redis_ms, state_of

from frontdesk.queues.errors import ErrorCode, RequestNotFound, WrongState
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel, Message, Priority
from frontdesk.queues.states import State

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
