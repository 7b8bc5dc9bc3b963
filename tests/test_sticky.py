"""Sticky routing: a returning customer's last agent in a queue (who completed their last
request there, within `queues.<q>.sticky.within`) is the new request's preferred agent, found by
the intake script itself (no extra round trip) from what the complete script recorded. The real
Front, the real dispatcher, a real Redis."""

from __future__ import annotations

import pytest
from conftest import FRONT_CONFIG

from frontdesk.channels.base import Inbound
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import ConfigError, render
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.intake.front import Front
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.skills import Agent, Presence

STICKY = FRONT_CONFIG.replace(
    "  chat: {offer_timeout: 20s}\n", "  chat: {offer_timeout: 20s, sticky: {within: 30d}}\n"
)


@pytest.fixture
def front_settings() -> Settings:
    assert STICKY != FRONT_CONFIG
    return parse_settings(STICKY, "sticky.yaml")


async def _agent(agents: AgentStore, agent_id: str) -> None:
    await agents.upsert(Agent(agent_id, agent_id.title(), capacity={"chat": 3},
                              presence=Presence.AVAILABLE))  # fmt: skip


async def _chat(front: Front, n: int, email: str = "li@example.com") -> str:
    request = Request("", Channel.CHAT, "", external_id=f"conv{n}:start", body="Order help",
                      customer=Customer(email=email))  # fmt: skip
    receipt = await front.receive(Inbound(request, thread_keys=(f"chat:conv{n}",)))
    assert receipt.created
    return receipt.request_id


async def _offered_to(store: QueueStore, dispatcher: Dispatcher, rid: str) -> str | None:
    await dispatcher.round()
    record = await store.get(rid)
    assert record is not None and record.state is State.OFFERED, record
    return record.agent


async def test_a_returning_customer_goes_to_their_last_agent_unless_away(
    front: Front, store: QueueStore, agents: AgentStore, front_settings: Settings
) -> None:
    dispatcher = Dispatcher(store, agents, lambda: front_settings)
    await _agent(agents, "bob")
    await _agent(agents, "ann")
    an_hour_ago = await store.now_ms() - 3_600_000  # bob idle the longest: anyone's first pick
    await store.redis.hset(store.keys.agent("bob"), "available_since_ms", an_hour_ago)
    first = await _chat(front, 1)
    assert await _offered_to(store, dispatcher, first) == "bob"
    await store.reject(first, "bob")
    assert await _offered_to(store, dispatcher, first) == "ann"
    await store.accept(first, "ann")
    await store.complete(first, "ann", "answered")

    second = await _chat(front, 2)  # bob is idle and has waited longer; ann served her last
    record = await store.get(second)
    assert record is not None and record.request.preferred_agent == "ann"
    (enqueued,) = [e for e in await EventLog(store.redis, store.keys).range()
                   if e.type is EventType.ENQUEUED and e.request == second]  # fmt: skip
    assert enqueued.data["preferred"] == "ann"
    assert await _offered_to(store, dispatcher, second) == "ann"
    other = await _chat(front, 3, "someone@example.com")  # another customer: no preference
    assert await _offered_to(store, dispatcher, other) == "bob"

    await store.accept(second, "ann")
    await store.complete(second, "ann", "answered")
    await agents.set_presence("ann", Presence.OFFLINE)
    for event in await EventLog(store.redis, store.keys).range():
        dispatcher.notify(event)  # as the daemon's follower does
    fourth = await _chat(front, 4)
    record = await store.get(fourth)
    assert record is not None and record.request.preferred_agent == "ann"
    assert await _offered_to(store, dispatcher, fourth) == "bob"  # ann is offline: anyone


async def test_in_only_mode_the_last_agent_alone_is_offered_it_at_first(
    store: QueueStore, agents: AgentStore
) -> None:
    only = STICKY.replace("sticky: {within: 30d}", "sticky: {within: 30d, mode: only}")
    settings = parse_settings(only, "only.yaml")
    front = Front(store, CustomerStore(store), lambda: settings)
    await front.start()
    dispatcher = Dispatcher(store, agents, lambda: settings)
    await _agent(agents, "ann")
    await _agent(agents, "bob")
    first = await _chat(front, 1)
    await store.assign(first, "ann")
    await store.complete(first, "ann", "answered")
    await agents.set_presence("ann", Presence.AWAY)
    second = await _chat(front, 2)
    await dispatcher.round()
    record = await store.get(second)
    assert record is not None and record.state is State.WAITING  # bob waits out only_for (60s)
    other = await _chat(front, 3, "someone@example.com")
    assert await _offered_to(store, dispatcher, other) == "bob"  # bob is there for the others


def test_sticky_is_checked_with_its_path_and_line() -> None:
    text = FRONT_CONFIG.replace(
        "  chat: {offer_timeout: 20s}\n",
        "  chat:\n    offer_timeout: 20s\n    sticky: {within: soon, mode: always, extra: 1}\n",
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "bad.yaml")
    line = text.count("\n", 0, text.index("sticky:")) + 1
    found = {(render(p.path), p.line) for p in caught.value.problems}
    assert {"queues.chat.sticky.within", "queues.chat.sticky.mode", "queues.chat.sticky.extra"} == {
        path for path, _ in found
    }
    assert {at for _, at in found} == {line}
    only = FRONT_CONFIG.replace(
        "  chat: {offer_timeout: 20s}\n",
        "  chat: {offer_timeout: 20s, sticky: {within: 7d, mode: only, only_for: 90s}}\n",
    )
    routing = parse_settings(only, "only.yaml").queues["chat"].routing
    assert (routing.sticky_s, routing.preferred_agent_for_s) == (7 * 86400, 90)
