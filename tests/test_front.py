"""The front door: customers recognized by any address, follow-ups threaded onto open requests,
duplicates dropped, status tokens, rate limits. Real Redis, the real Front."""

from __future__ import annotations

import pytest

from frontdesk.queues.customers import addresses
from frontdesk.queues.errors import QueueError
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.router.intake.front import Front, Inbound


def _mail(ext: str, email: str = "li@example.com", **kw) -> Request:
    return Request("", Channel.EMAIL, "", external_id=ext, customer=Customer(email=email), **kw)


async def test_the_same_person_by_any_of_their_addresses(front: Front) -> None:
    c = front.customers
    first = await c.identify(Customer(name="李娜", email="Li@Example.com"))
    assert await c.identify(Customer(email="li@example.com")) == first
    both = await c.identify(Customer(email="li@example.com", phone="+8613800138000"))
    assert both == first
    assert await c.identify(Customer(phone="+8613800138000")) == first
    record = await c.get(first)
    assert record is not None and record.name == "李娜"
    assert record.addresses == {"email:li@example.com", "phone:+8613800138000"}
    other = await c.identify(Customer(email="wang@example.com"))
    assert other != first


async def test_an_address_of_someone_else_is_never_taken_over(front: Front) -> None:
    c = front.customers
    li = await c.identify(Customer(email="li@example.com"))
    wang = await c.identify(Customer(phone="+8613912345678"))
    mixed = await c.identify(Customer(email="li@example.com", phone="+8613912345678"))
    assert mixed == li
    assert await c.identify(Customer(phone="+8613912345678")) == wang


async def test_linking_two_customers(front: Front) -> None:
    c = front.customers
    by_mail = await front.receive(Inbound(_mail("<a@x>")))
    by_chat = await front.receive(
        Inbound(
            Request(
                "",
                Channel.SOCIAL,
                "",
                external_id="w1",
                customer=Customer(handles={"wechat": "o-abc"}),
            )
        )
    )
    assert by_mail.customer_id != by_chat.customer_id
    await c.link(by_mail.customer_id, by_chat.customer_id)
    assert await c.identify(Customer(handles={"wechat": "o-abc"})) == by_mail.customer_id
    listed = [r.request.id for r in await c.requests(by_chat.customer_id)]
    assert sorted(listed) == sorted([by_mail.request_id, by_chat.request_id])
    with pytest.raises(QueueError):
        await c.link(by_mail.customer_id, by_chat.customer_id)  # merged already
    kinds = [e.type for e in await EventLog(front.store.redis, front.store.keys).range()]
    assert kinds.count(EventType.CUSTOMER_CREATED) == 2
    assert EventType.CUSTOMER_MERGED in kinds


async def test_new_request_duplicate_and_threaded_follow_up(front: Front) -> None:
    first = await front.receive(
        Inbound(_mail("<m1@x>", subject="发票"), thread_keys=("email:<m1@x>",))
    )
    assert first.created and not first.appended and not first.duplicate
    record = await front.store.get(first.request_id)
    assert record is not None and record.request.queue == "email"  # the rules decided
    assert record.request.customer.id == first.customer_id

    again = await front.receive(Inbound(_mail("<m1@x>", subject="发票")))
    assert again.duplicate and again.request_id == first.request_id

    reply = await front.receive(
        Inbound(
            _mail("<m2@x>", subject="Re: 发票", body="还有一个问题"),
            thread_refs=("email:<m1@x>",),
            thread_keys=("email:<m2@x>",),
        )
    )
    assert reply.appended and reply.request_id == first.request_id
    messages = await front.store.messages(first.request_id)
    assert len(messages) == 1 and "还有一个问题" in messages[0].body
    resent = await front.receive(Inbound(_mail("<m2@x>"), thread_refs=("email:<m1@x>",)))
    assert resent.duplicate and len(await front.store.messages(first.request_id)) == 1
    # the follow-up's own Message-ID now leads to the request as well
    third = await front.receive(Inbound(_mail("<m3@x>"), thread_refs=("email:<m2@x>",)))
    assert third.appended and third.request_id == first.request_id


async def test_a_reply_to_a_closed_request_opens_a_new_one(front: Front) -> None:
    first = await front.receive(Inbound(_mail("<c1@x>"), thread_keys=("email:<c1@x>",)))
    await front.store.abandon(first.request_id, "spam")
    reply = await front.receive(Inbound(_mail("<c2@x>"), thread_refs=("email:<c1@x>",)))
    assert reply.created and reply.request_id != first.request_id


async def test_join_open_joins_the_customers_open_request_on_that_channel(front: Front) -> None:
    def call(ext: str) -> Inbound:
        request = Request("", Channel.PHONE, "", external_id=ext,
                          customer=Customer(phone="+8613800138000"))  # fmt: skip
        return Inbound(request, join_open=True)

    first = await front.receive(call("cb-1"))
    second = await front.receive(call("cb-2"))
    assert second.appended and second.request_id == first.request_id
    await front.store.abandon(first.request_id, "called back")
    third = await front.receive(call("cb-3"))
    assert third.created and third.request_id != first.request_id
    listed = await front.customers.requests(first.customer_id)
    assert [r.state for r in listed] == [State.WAITING, State.ABANDONED]


async def test_requests_past_retention_leave_the_customers_history(front: Front) -> None:
    first = await front.receive(Inbound(_mail("<h1@x>")))
    second = await front.receive(Inbound(_mail("<h2@x>")))
    keys, redis = front.store.keys, front.store.redis
    assert await redis.zcard(keys.customer_requests(first.customer_id)) == 2
    await front.store.abandon(first.request_id)
    await redis.delete(keys.request(first.request_id))  # as its retention running out does

    listed = await front.customers.requests(first.customer_id)
    assert [r.request.id for r in listed] == [second.request_id]
    assert await redis.zcard(keys.customer_requests(first.customer_id)) == 1  # the index too


async def test_status_tokens(front: Front) -> None:
    receipt = await front.receive(Inbound(_mail("<s@x>")))
    assert front.check_status_token(receipt.request_id, receipt.status_token)
    assert not front.check_status_token(receipt.request_id, "0" * 32)
    assert not front.check_status_token("FD-0", receipt.status_token)


async def test_rate_limits_per_sender_and_source(front: Front, front_settings) -> None:
    limit = front_settings.limits.per_sender.count
    for _ in range(limit):
        assert await front.admit("spam@example.com", None) is None
    wait = await front.admit("spam@example.com", None)
    assert wait is not None and 0 < wait <= front_settings.limits.per_sender.per_s
    assert await front.admit("other@example.com", "127.0.0.1") is None


def test_addresses_are_normalized() -> None:
    customer = Customer(email=" Li@Example.COM ", phone="+8613800138000",
                        handles={"wechat": "o-1", "telegram": "42"})  # fmt: skip
    assert addresses(customer) == [
        "email:li@example.com", "phone:+8613800138000", "telegram:42", "wechat:o-1",
    ]  # fmt: skip


async def test_limits_are_counted_in_turn_and_a_refusal_charges_no_further(front: Front) -> None:
    c, keys, redis = front.customers, front.store.keys, front.store.redis
    limits = [("sender", "li@example.com", 1, 60.0), ("source", "10.0.0.1", 5, 60.0)]
    assert await c.hit(limits) is None
    wait = await c.hit(limits)  # the sender's second in a minute
    assert wait is not None and 59 < wait <= 60
    assert await redis.get(keys.rate("source", "10.0.0.1")) == b"1"  # not charged for it
    assert await c.hit([("source", "10.0.0.1", 5, 60.0)]) is None
    assert await c.hit([]) is None
