"""Intake in one round trip (queues/intake.py, lua/intake-n.lua), counted by the daemon's own
round-trip counter (one per command alone or pipeline, tests/redis_counting.py) on the Front's
client: what one message costs; and the optimistic plan is refused and made again when a
mapping moves under it (a merge of customers between the plan and the call)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis_counting import Counted

from frontdesk.channels.base import Inbound
from frontdesk.queues.blobs import reference
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Attachment, Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.intake.front import Front


@pytest.fixture
async def doors(redis_server, redis, store, front_settings) -> AsyncIterator[Any]:
    """Front doors (two daemons) on counting clients: `make()` -> (front, its wire)."""
    made: list[Redis] = []

    async def make() -> tuple[Front, Counted]:
        wire = Counted(redis_server.url)
        client = wire.client
        made.append(client)
        own = QueueStore(client, Keys("test"), store.settings)
        door = Front(own, CustomerStore(own), lambda: front_settings)
        await door.start()
        return door, wire

    yield make
    for client in made:
        await client.aclose()


def _form(key: str, email: str, **kw: Any) -> Inbound:
    request = Request(
        "", Channel.FORM, "", external_id=f"site:help:{key}", entry_point="web:help",
        customer=Customer(name="Li Na", email=email), subject="Refund", body="Where is it?",
        received_at=time.time(), **kw,
    )  # fmt: skip
    return Inbound(request)


def _social(n: int, sender: str = "wa-1") -> Inbound:
    request = Request(
        "", Channel.SOCIAL, "", external_id=f"wamid-{sender}-{n}", body=f"message {n}",
        customer=Customer(handles={"whatsapp": sender}), entry_point="whatsapp:desk",
    )  # fmt: skip
    ref = f"whatsapp:{sender}"
    return Inbound(request, thread_refs=(ref,), thread_keys=(ref,))


async def _counted(wire: Counted, door: Front, inbound: Inbound) -> tuple[Any, int]:
    wire.mark()
    receipt = await door.receive(inbound)
    return receipt, wire.since().n


async def test_a_new_web_form_request_is_one_round_trip(doors, store) -> None:
    door, wire = await doors()
    warm, _ = await _counted(wire, door, _form("k0", "first@example.com"))  # id blocks taken

    new, trips = await _counted(wire, door, _form("k1", "li@example.com"))
    assert (new.created, trips) == (True, 1)  # a customer never seen, and their request
    again, trips = await _counted(wire, door, _form("k2", "li@example.com"))
    assert (again.created, again.customer_id, trips) == (True, new.customer_id, 1)
    record = await store.get(again.request_id)
    assert record is not None and record.state is State.WAITING
    assert record.request.customer.id == new.customer_id != warm.customer_id


async def test_a_follow_up_and_a_duplicate_are_one_round_trip_each(doors, store) -> None:
    door, wire = await doors()
    first, _ = await _counted(wire, door, _social(0))

    follow, trips = await _counted(wire, door, _social(1))
    assert (follow.appended, follow.request_id, trips) == (True, first.request_id, 1)
    again, trips = await _counted(wire, door, _social(1))
    assert (again.duplicate, again.request_id, trips) == (True, first.request_id, 1)
    assert len(await store.messages(first.request_id)) == 1


async def test_a_callback_joining_the_open_request_is_one_round_trip(doors) -> None:
    door, wire = await doors()

    def call(n: int) -> Inbound:
        request = Request("", Channel.PHONE, "", external_id=f"cb-{n}",
                          customer=Customer(phone="+8613800138000"))  # fmt: skip
        return Inbound(request, join_open=True)

    first, _ = await _counted(wire, door, call(0))
    joined, trips = await _counted(wire, door, call(1))
    assert (joined.appended, joined.request_id, trips) == (True, first.request_id, 1)


async def test_attachments_cost_one_round_trip_more(doors, store) -> None:
    door, wire = await doors()
    await _counted(wire, door, _form("k0", "first@example.com"))
    data = b"%PDF-1.4 invoice"
    ref = reference(data)
    inbound = _form(
        "k1", "li@example.com", attachments=(Attachment("a.pdf", "application/pdf", 16, ref),)
    )
    with_file = Inbound(inbound.request, contents={ref: data})

    receipt, trips = await _counted(wire, door, with_file)
    assert (receipt.created, trips) == (True, 2)  # the content first, then the request
    assert await door.blobs.get(ref) == data


async def test_a_cold_cache_costs_one_refused_call_more(doors) -> None:
    """A second daemon knows nothing of what the first stored: its first follow-up of the
    conversation is planned as a new customer's new request, refused with the facts, and made
    again; the next one is one round trip."""
    one, _ = await doors()
    other, wire = await doors()
    first = await one.receive(_social(0))
    await _counted(wire, other, _form("k0", "other@example.com"))  # its own id blocks taken

    follow, trips = await _counted(wire, other, _social(1))
    assert (follow.appended, follow.request_id, follow.customer_id) == (
        True, first.request_id, first.customer_id,
    )  # fmt: skip
    assert trips == 2
    follow, trips = await _counted(wire, other, _social(2))
    assert (follow.appended, trips) == (True, 1)


async def test_a_merge_between_plan_and_call_is_planned_again_with_the_facts(doors) -> None:
    """Both customers are in the cache, unmerged; another daemon links the second into the
    first; a message from the second's address is refused (its address and its customer
    moved), planned again from what the script saw, and lands with the first customer."""
    door, wire = await doors()
    other, _ = await doors()
    li = await door.receive(_form("k1", "li@example.com"))
    wang = await door.receive(_form("k2", "wang@example.com"))
    assert li.customer_id != wang.customer_id
    await other.customers.link(li.customer_id, wang.customer_id)
    calls = door.intake.calls
    log = EventLog(door.store.redis, door.store.keys)
    before = len(await log.range())

    later, trips = await _counted(wire, door, _form("k3", "wang@example.com"))

    assert (later.created, later.customer_id) == (True, li.customer_id)
    assert [e.type for e in (await log.range())[before:]] == [EventType.ENQUEUED]  # once
    assert (door.intake.calls - calls, trips) == (2, 2)  # STALE, then the call that stored it
    listed = [r.request.id for r in await door.customers.requests(li.customer_id)]
    assert later.request_id in listed and wang.request_id in listed
    record = await door.store.get(later.request_id)
    assert record is not None and record.request.customer.id == li.customer_id
    again, trips = await _counted(wire, door, _form("k4", "wang@example.com"))
    assert (again.customer_id, trips) == (li.customer_id, 1)  # learnt


async def test_a_chain_of_merges_unknown_to_the_cache_is_followed(doors) -> None:
    door, _ = await doors()
    other, _ = await doors()
    ids = [(await other.receive(_form(f"k{i}", f"p{i}@example.com"))).customer_id for i in range(4)]
    for into, merged in zip(ids[1:], ids[:-1], strict=True):  # p0 -> p1 -> p2 -> p3
        await other.customers.link(into, merged)
    assert await other.customers.resolve(ids[0]) == ids[3]

    for i in range(4):
        receipt = await door.receive(_form(f"m{i}", f"p{i}@example.com"))
        assert (receipt.created, receipt.customer_id) == (True, ids[3])


async def test_the_rate_limits_count_in_the_same_round_trip(doors, redis, keys) -> None:
    door, wire = await doors()
    await _counted(wire, door, _form("k0", "first@example.com"))
    form = _form("k1", "li@example.com")

    receipt, trips = await _counted(
        wire, door, Inbound(form.request, admit=("li@example.com", "203.0.113.9"))
    )
    assert (receipt.created, receipt.retry_after, trips) == (True, None, 1)
    assert int(await redis.get(keys.rate("sender", "li@example.com"))) == 1
    assert int(await redis.get(keys.rate("source", "203.0.113.9"))) == 1


async def test_over_a_limit_nothing_is_stored_and_it_cost_one_round_trip(
    redis_server, redis, store, keys
) -> None:
    from conftest import FRONT_CONFIG

    from frontdesk.router.daemon.settings import parse_settings

    settings = parse_settings(
        FRONT_CONFIG.replace("per_sender: {count: 1000", "per_sender: {count: 2"), "front.yaml"
    )
    wire = Counted(redis_server.url)
    client = wire.client
    try:
        own = QueueStore(client, keys, store.settings)
        door = Front(own, CustomerStore(own), lambda: settings)
        await door.start()
        for n in range(2):
            inbound = _form(f"k{n}", "li@example.com")
            ok = await door.receive(Inbound(inbound.request, admit=("li@example.com", None)))
            assert ok.created
        over = _form("k-over", "li@example.com")
        receipt, trips = await _counted(
            wire, door, Inbound(over.request, admit=("li@example.com", None))
        )
        assert receipt.retry_after is not None and receipt.retry_after > 0
        assert (receipt.created, receipt.appended, receipt.duplicate, trips) == (
            False, False, False, 1,
        )  # fmt: skip
        assert await redis.zcard(keys.queue("general")) == 2
        assert await redis.get(keys.idempotency(over.request.idempotency_key)) is None
    finally:
        await client.aclose()


async def test_a_platform_retry_is_not_counted_again_and_still_one_round_trip(
    doors, redis, keys
) -> None:
    door, wire = await doors()
    await _counted(wire, door, _social(0, "wa-9"))
    message = _social(1)
    limited = Inbound(
        message.request,
        thread_refs=message.thread_refs,
        thread_keys=message.thread_keys,
        admit=("whatsapp:wa-1", None),
        admit_again=False,
    )

    first, trips = await _counted(wire, door, limited)
    assert (first.created, trips) == (True, 1)
    again, trips = await _counted(wire, door, limited)
    assert (again.duplicate, again.request_id, trips) == (True, first.request_id, 1)
    assert int(await redis.get(keys.rate("sender", "whatsapp:wa-1"))) == 1  # counted once


async def test_a_new_customer_at_two_daemons_at_once_is_one_customer(doors, store) -> None:
    """Both plan a new customer under their own pre-allocated id; the script of the first
    makes it, the other's is refused (the address has an owner now) and lands with it."""
    fronts = [(await doors())[0] for _ in range(2)]
    log = EventLog(store.redis, store.keys)
    receipts = await asyncio.gather(
        *(fronts[n % 2].receive(_form(f"c{n}", "new@example.com")) for n in range(6))
    )
    assert len({r.customer_id for r in receipts}) == 1
    assert all(r.created for r in receipts) and len({r.request_id for r in receipts}) == 6
    made = [e for e in await log.range() if e.type is EventType.CUSTOMER_CREATED]
    assert len(made) == 1
    record = await CustomerStore(store).get(receipts[0].customer_id)
    assert record is not None and record.addresses == {"email:new@example.com"}


async def test_a_chat_message_is_one_round_trip_and_an_ended_chat_opens_nothing(
    doors, store, redis, keys
) -> None:
    """As channels/chat sends a message: only to join the conversation's request, counted
    against the limits unless it is a resend, all in the one call."""
    door, wire = await doors()
    start = Request("", Channel.CHAT, "", external_id="conv1:start", body="hello",
                    customer=Customer(email="chat@example.com"))  # fmt: skip
    started = await door.receive(Inbound(start, thread_keys=("chat:conv1",)))

    def message(n: int) -> Inbound:
        request = Request("", Channel.CHAT, "", external_id=f"conv1:m{n}", body=f"m{n}",
                          customer=Customer(id=started.customer_id))  # fmt: skip
        return Inbound(request, thread_refs=("chat:conv1",), admit=("chat:conv1", None),
                       admit_again=False, join_only=True)  # fmt: skip

    await _counted(wire, door, message(0))  # the customer's id read once
    sent, trips = await _counted(wire, door, message(1))
    assert (sent.appended, sent.request_id, trips) == (True, started.request_id, 1)
    resent, trips = await _counted(wire, door, message(1))
    assert (resent.duplicate, trips) == (True, 1)
    assert int(await redis.get(keys.rate("sender", "chat:conv1"))) == 2  # the resend: not counted

    await store.abandon(started.request_id, "the customer ended the chat")
    after, trips = await _counted(wire, door, message(2))
    assert (after.closed, after.created, after.appended, after.duplicate, trips) == (
        True, False, False, False, 1,
    )  # fmt: skip
    assert await redis.zcard(keys.customer_requests(started.customer_id)) == 1  # none opened
    assert await redis.get(keys.idempotency("chat:conv1:m1")) is not None
    assert await redis.get(keys.idempotency("chat:conv1:m2")) is None
    assert len(await store.messages(started.request_id)) == 2
