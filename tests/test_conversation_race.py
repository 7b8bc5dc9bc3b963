"""Concurrent messages of one conversation become one request (issue 10, defect 3).

Two daemons are two `Front`s, each with its own Redis connection, on one Redis: their lookups and
enqueues interleave at every await, as two processes' do. Before the enqueue claimed the
conversation atomically, four messages of one sender delivered at once opened two to four
requests."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.intake.front import Front, Inbound

TRIALS = 10
MESSAGES = 4


@pytest.fixture
async def fronts(redis_server, store: QueueStore, front_settings):
    """Two front doors on one Redis, each with a client of its own."""
    made: list[Redis] = []
    doors = []
    for _ in range(2):
        client = Redis.from_url(redis_server.url)
        made.append(client)
        own = QueueStore(client, Keys("test"), store.settings)
        door = Front(own, CustomerStore(own), lambda: front_settings)
        await door.start()
        doors.append(door)
    yield doors
    for client in made:
        await client.aclose()


def _social(trial: int, n: int) -> Inbound:
    sender = f"wa-{trial}"
    request = Request(
        "",
        Channel.SOCIAL,
        "",
        external_id=f"wamid-{trial}-{n}",
        body=f"message {n}",
        customer=Customer(handles={"whatsapp": sender}),
        entry_point="whatsapp:desk",
    )
    ref = f"whatsapp:{sender}"
    return Inbound(request, thread_refs=(ref,), thread_keys=(ref,))


def _callback(trial: int, n: int) -> Inbound:
    request = Request(
        "",
        Channel.PHONE,
        "",
        external_id=f"call-{trial}-{n}",
        body=f"call me back {n}",
        customer=Customer(phone=f"+86138{trial:08d}"),
    )
    return Inbound(request, join_open=True)


async def _requests_of(store: QueueStore) -> set[str]:
    events = await EventLog(store.redis, store.keys).range("-", "+", count=10_000)
    return {e.request for e in events if e.type is EventType.ENQUEUED}


@pytest.mark.parametrize("make", [_social, _callback], ids=["thread-ref", "join-open"])
async def test_concurrent_messages_of_one_sender_thread_onto_one_request(
    fronts: list[Front], store: QueueStore, make
) -> None:
    for trial in range(TRIALS):
        before = await _requests_of(store)
        receipts = await asyncio.gather(
            *(fronts[n % 2].receive(make(trial, n)) for n in range(MESSAGES))
        )
        made = await _requests_of(store) - before
        assert len(made) == 1, f"trial {trial}: {MESSAGES} messages opened {sorted(made)}"
        (request_id,) = made
        assert {r.request_id for r in receipts} == {request_id}
        assert sum(r.created for r in receipts) == 1
        assert sum(r.appended for r in receipts) == MESSAGES - 1
        thread = await store.messages(request_id)
        assert len(thread) == MESSAGES - 1  # the first message is the request itself


async def test_the_same_message_delivered_at_once_is_still_one_request(
    fronts: list[Front], store: QueueStore
) -> None:
    receipts = await asyncio.gather(*(fronts[n % 2].receive(_social(0, 0)) for n in range(4)))
    assert len({r.request_id for r in receipts}) == 1
    assert sum(r.created for r in receipts) == 1
    assert not any(r.appended for r in receipts)
    assert await store.messages(receipts[0].request_id) == []


async def test_a_message_after_its_request_closed_opens_a_new_one(
    fronts: list[Front], store: QueueStore, agents
) -> None:
    first = await fronts[0].receive(_callback(0, 0))
    await store.abandon(first.request_id, "customer gone")
    second = await fronts[1].receive(_callback(0, 1))
    assert second.created and second.request_id != first.request_id
    third = await fronts[0].receive(_callback(0, 2))
    assert third.appended and third.request_id == second.request_id
    record = await store.get(second.request_id)
    assert record is not None and record.state is State.WAITING


async def test_a_claim_taken_meanwhile_writes_nothing(store: QueueStore) -> None:
    winner = await store.enqueue(_social(1, 0).request, {"whatsapp:wa-1": None})
    assert winner.created
    late = await store.enqueue(_social(1, 1).request, {"whatsapp:wa-1": None})
    assert late.stale and late.id == winner.id and not late.created
    assert await _requests_of(store) == {winner.id}
    assert await store.waiting_count("") == 1  # the late request was not stored
