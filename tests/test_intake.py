"""Intake with the example config, through the front door every channel uses: the rules
classify, the dispatcher routes, end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from frontdesk.channels.base import Inbound, Receipt
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.request import Channel, Customer, Priority, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.settings import Settings, load_settings
from frontdesk.router.intake.front import Front
from frontdesk.router.intake.rules import classify
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.skills import Presence

NOON = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Tuesday


@pytest.fixture
def example(repo_root: Path) -> Settings:
    return load_settings(repo_root / "config" / "frontdesk.example.yaml")


async def intake(request: Request, settings: Settings, store: QueueStore) -> Receipt:
    front = Front(store, CustomerStore(store), lambda: settings)
    await front.start()
    return await front.receive(Inbound(request), NOON)


async def test_a_chinese_refund_chat_is_classified_and_offered(store, agents, example) -> None:
    for agent in example.agents:  # every example agent starts offline: these two signed in
        await agents.upsert(agent)
        if agent.id in ("li.na", "wang.wei"):
            await agents.set_presence(agent.id, Presence.AVAILABLE)
    chat = Request(
        "", Channel.CHAT, queue="", external_id="c-1", body="你好, 我要退款",
        customer=Customer(email="new@example.com"),
    )  # fmt: skip
    result = await intake(chat, example, store)
    record = await store.get(result.request_id)
    assert result.created and record is not None and record.state is State.WAITING
    assert record.request.queue == "chat-l1"
    assert record.request.category == "orders-and-payments"
    needs = {s.name: s.min_level for s in record.request.skills}
    assert needs == {"orders": 2, "chinese": 2}
    again = await intake(chat, example, store)
    assert (again.request_id, again.created, again.duplicate) == (result.request_id, False, True)

    await Dispatcher(store, agents, lambda: example).round()
    record = await store.get(result.request_id)
    assert record.state is State.OFFERED
    # li.na and wang.wei are the available L1 agents with orders and chinese >= 2; wang.wei's
    # orders 4 (li.na: 3) fits better: ((4 - 2) / 3 + (5 - 2) / 3) / 2
    assert record.agent == "wang.wei"
    assert record.why is not None and record.why["queue"] == "chat-l1"
    assert record.why["score"]["skill"] == pytest.approx(5 / 6)


async def test_an_important_customer_is_boosted(store, example) -> None:
    mail = Request(
        "", Channel.EMAIL, queue="", external_id="<m1@x>", subject="Question about a feature",
        customer=Customer(email="Procurement@BigClient.example"),
    )  # fmt: skip
    result = await intake(mail, example, store)
    record = await store.get(result.request_id)
    assert record is not None and record.request.queue == "email-l1"
    assert record.request.priority is Priority.HIGH
    flags = example.customers.lookup(record.request.customer)  # the rule that raised it
    again = classify(mail, example.rules, flags, NOON, example.default_queue)
    assert "important-customer" in again.matched
