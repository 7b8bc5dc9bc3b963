"""One event per state change across a whole request life, and none for a refusal."""

from __future__ import annotations

import pytest
from queue_ops_helpers import add_agent, enqueue, new_request, state_of

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import QueueError
from frontdesk.queues.events import EventType
from frontdesk.queues.liveness import Liveness
from frontdesk.queues.request import Customer, Message
from frontdesk.queues.states import State
from frontdesk.skills import Agent, Presence

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
        (lambda: customers.link("C-1", "C-2"), "customer.merged"),
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
        (lambda: store.sla.pend("FD-3", "ann", False, "order number?", True), "pending"),
        (lambda: store.sla.pend("FD-3", "ann", True, "", True), "resumed"),
        (lambda: store.reclassify("FD-3", category="billing"), "reclassified"),
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
    # a request's service-level events come beside the change that caused them (a milestone's
    # with its milestone): tests/test_sla_clocks.py walks them
    beside = {"sla.warning", "sla.breached", "sla.met", "milestone"}
    beside |= {"quality.sampled", "review.submitted"}  # tests/test_quality_*.py walk them
    beside |= {"customer.listed", "customer.unlisted", "feedback.received"}  # test_feedback.py
    beside |= {"follow_up.recorded"}  # test_follow_ups.py
    beside |= {"auto_reply.dropped", "reopened"}  # test_auto_replies.py, test_reopen.py
    beside |= {"long_wait"}  # test_notices_reach.py (queues/lua/long_wait-n.lua)
    beside |= {"call.attempted"}  # test_callback_attempts.py
    beside |= {"customer_linked"}  # no longer appended (customer.merged): older streams hold it
    assert {etype for _, etype in steps} | beside == {t.value for t in EventType}


async def test_refusals_append_no_event(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 1})
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    await events.new()
    refusals = [
        lambda: store.offer(rid, "ann", 30),
        lambda: store.assign(rid, "ann"),
        lambda: store.accept(rid, "bob"),  # ann's: her own accept again is idempotent
        lambda: store.reject(rid, "ann"),
        lambda: store.reclassify("FD-404", category="x"),
        lambda: store.reclassify(rid, category="x", holder="bob"),
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
