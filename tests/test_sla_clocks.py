"""Service-level clocks on the real scripts and a real Redis: started at intake (at the next
opening when the calendar is closed), met by an agent's message, paused while the request waits
on the customer, next response after a follow-up, warnings and breaches fired by the timer once
however many timers run, late after downtime, priority raised keeping the request's age.

Time is not faked: wall-time targets are a second or two, and working-time targets use a
calendar built around the present instant (its zone chosen so that it is midday there)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import WrongState
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.calendar import add
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.intake.front import Front, Inbound
from frontdesk.router.sla.timer import SlaTimer, timer_settings
from frontdesk.skills import Agent, Presence

BASE = """\
tenant: test
skills: [billing]
queues:
  general: {{escalate_to: l2}}
  chat: {{offer_timeout: 20s, escalate_to: l2}}
  email: {{mode: assign}}
  l2: {{tier: 2}}
default_queue: general
limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
rules:
  - name: chat
    when: {{channel: chat}}
    then: {{queue: chat}}
  - name: email
    when: {{channel: email}}
    then: {{queue: email}}
{calendars}
sla:
  late_after: 1s
  tick: 50ms
  policies:
{policies}
"""


def settings_with(policies: str, calendars: str = "") -> Settings:
    return parse_settings(BASE.format(policies=policies, calendars=calendars), "sla.yaml")


def midday_zone() -> tuple[str, datetime]:
    """A fixed-offset zone in which it is now between 12:00 and 13:00, and the local now."""
    now = datetime.now(UTC)
    offset = 12 - now.hour  # -11 .. +12
    name = "Etc/GMT" + (f"{-offset:+d}" if offset else "")
    from zoneinfo import ZoneInfo

    return name, now.astimezone(ZoneInfo(name))


async def make_front(store: QueueStore, settings: Settings) -> Front:
    front = Front(store, CustomerStore(store), lambda: settings)
    await front.start()
    return front


def timer_for(store: QueueStore, settings: Settings) -> SlaTimer:
    return SlaTimer(store.sla, store, lambda: timer_settings(settings))


async def chat(front: Front, ext: str, who: str = "li@example.com") -> str:
    receipt = await front.receive(
        Inbound(
            Request(
                "", Channel.CHAT, "hello", body="my order", external_id=ext,
                customer=Customer(email=who),
            ),
            join_open=True,
        )
    )  # fmt: skip
    return receipt.request_id


async def mail(front: Front, ext: str, who: str = "wang@example.com") -> str:
    receipt = await front.receive(
        Inbound(
            Request(
                "", Channel.EMAIL, "invoice", body="wrong amount", external_id=ext,
                customer=Customer(email=who),
            )
        )
    )  # fmt: skip
    return receipt.request_id


def clock(view: dict[str, Any], target: str) -> dict[str, Any]:
    return next(t for t in view["targets"] if t["target"] == target)


async def clocks_of(store: QueueStore, request_id: str) -> Any:
    record = await store.get(request_id)
    assert record is not None and record.clocks is not None
    return record.clocks


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


async def run_timer_until(
    timers: list[SlaTimer], events: EventLog, wanted: int, etype: EventType, limit_s: float = 8
) -> list[Any]:
    """Step the timers (concurrently) until `wanted` events of `etype` are in the stream."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        await asyncio.gather(*(t.step() for t in timers))
        found = [e for e in await events.range() if e.type is etype]
        if len(found) >= wanted:
            return found
        await asyncio.sleep(0.02)
    return [e for e in await events.range() if e.type is etype]


CHAT_POLICY = """\
    - name: chat
      when: {channel: chat}
      targets:
        first_response: {within: 1s, warning_at: 50%}
        next_response: 30s
        resolution: 1h
      on_warning: [notify_supervisors]
      on_breach: [raise_priority, notify_customer]
"""


async def test_a_chat_nobody_answers_warns_then_breaches_once_and_goes_up_a_band(
    store: QueueStore, redis: Redis, keys: Keys
) -> None:
    settings = settings_with(CHAT_POLICY)
    front = await make_front(store, settings)
    timer = timer_for(store, settings)
    await timer.publish(force=True)
    rid = await chat(front, "c1")
    before = await store.get(rid)
    assert before is not None and before.request.priority.value == "medium"
    view = before.clocks
    first = next(c for c in view.clocks if c.target == "first_response")
    assert first.state == "running"
    assert first.due_ms == first.started_ms + 1000
    assert first.warning_ms == first.started_ms + 500
    nxt = next(c for c in view.clocks if c.target == "next_response")
    assert nxt.state == "idle" and nxt.due_ms is None
    log = EventLog(redis, keys)
    breached = await run_timer_until([timer], log, 1, EventType.SLA_BREACHED)
    warned = [e for e in await log.range() if e.type is EventType.SLA_WARNING]
    assert len(breached) == 1 and len(warned) == 1
    assert warned[0].data["actions"] == "notify_supervisors"
    b = breached[0]
    assert b.request == rid and b.data["target"] == "first_response" and b.data["policy"] == "chat"
    assert b.data["actions"] == "raise_priority,notify_customer"
    assert int(b.data["at"]) == first.due_ms
    assert b.data["late"] == "0"
    assert warned[0].id < b.id
    after = await store.get(rid)
    assert after is not None and after.request.priority.value == "high"
    assert after.seq == before.seq  # its age kept: same place in arrival order
    assert (await redis.zscore(keys.queue("chat"), rid)) == after.score
    first_after = next(c for c in after.clocks.clocks if c.target == "first_response")
    assert first_after.breached_ms is not None and first_after.state == "running"
    # more steps fire nothing more
    for _ in range(5):
        await timer.step()
    assert len([e for e in await log.range() if e.type is EventType.SLA_BREACHED]) == 1
    left = [m.decode() for m in await redis.zrange(keys.sla_due, 0, -1)]
    assert f"{rid}|1|b" not in left and f"{rid}|1|w" not in left


async def test_the_agents_reply_meets_the_first_response_and_a_follow_up_starts_the_next(
    store: QueueStore, agents: AgentStore, redis: Redis, keys: Keys
) -> None:
    settings = settings_with(CHAT_POLICY.replace("1s, warning_at: 50%", "1m"))
    front = await make_front(store, settings)
    await timer_for(store, settings).publish(force=True)
    await agents.upsert(Agent("ann", "Ann", capacity={"chat": 2}, presence=Presence.AVAILABLE))
    rid = await chat(front, "c2")
    await store.assign(rid, "ann")
    await store.append_message(rid, Message("hello, I am Ann", "agent"))
    clocks = await clocks_of(store, rid)
    first = next(c for c in clocks.clocks if c.target == "first_response")
    assert first.state == "met" and first.breached_ms is None
    assert first.met_ms is not None and first.met_ms >= first.started_ms
    assert (await redis.zscore(keys.sla_due, f"{rid}|1|b")) is None
    log = EventLog(redis, keys)
    met = [e for e in await log.range() if e.type is EventType.SLA_MET]
    assert [(e.data["target"], e.data["breached"]) for e in met] == [("first_response", "0")]
    # the customer writes again: next_response runs from that message
    again = await chat(front, "c2b")
    assert again == rid
    clocks = await clocks_of(store, rid)
    nxt = next(c for c in clocks.clocks if c.target == "next_response")
    assert nxt.state == "running" and nxt.cycles == 1
    assert nxt.due_ms == nxt.started_ms + 30_000
    assert (await redis.zscore(keys.sla_due, f"{rid}|2|b")) == nxt.due_ms
    await store.append_message(rid, Message("on it", "agent"))
    nxt = next(c for c in (await clocks_of(store, rid)).clocks if c.target == "next_response")
    assert nxt.state == "met"
    # completing meets the resolution and drops every due instant of the request
    await store.complete(rid, "ann", "solved")
    clocks = await clocks_of(store, rid)
    assert {c.target: c.state for c in clocks.clocks} == {
        "first_response": "met", "next_response": "met", "resolution": "met",
    }  # fmt: skip
    members = await redis.zrange(keys.sla_due, 0, -1)
    assert not [m for m in members if m.decode().startswith(f"{rid}|")]
    stats = await store.sla.stats()
    assert stats["chat|first_response|met"] == 1
    assert stats["chat|resolution|met"] == 1
    assert sum(v for k, v in stats.items() if k.startswith("fr|chat|") and "sum" not in k) == 1


async def test_waiting_on_the_customer_pauses_the_clocks_and_their_answer_resumes_them(
    store: QueueStore, agents: AgentStore, redis: Redis, keys: Keys
) -> None:
    settings = settings_with(CHAT_POLICY.replace("1s, warning_at: 50%", "1m"))
    front = await make_front(store, settings)
    await timer_for(store, settings).publish(force=True)
    await agents.upsert(Agent("ann", "Ann", capacity={"chat": 2}, presence=Presence.AVAILABLE))
    rid = await chat(front, "p1")
    await store.assign(rid, "ann")
    before = next(c for c in (await clocks_of(store, rid)).clocks if c.target == "resolution")
    reply = await store.sla.pend(rid, "ann", False, "asked for the order number", True)
    assert reply.state is State.PENDING_CUSTOMER
    paused = next(c for c in (await clocks_of(store, rid)).clocks if c.target == "resolution")
    assert paused.state == "paused" and paused.left_ms is not None
    assert 0 < paused.left_ms <= before.due_ms - before.started_ms
    assert (await redis.zscore(keys.sla_due, f"{rid}|3|b")) is None
    await asyncio.sleep(0.3)
    again = await chat(front, "p2")  # the customer answers
    assert again == rid
    record = await store.get(rid)
    assert record is not None and record.state is State.ASSIGNED and record.agent == "ann"
    resumed = next(c for c in record.clocks.clocks if c.target == "resolution")
    assert resumed.state == "running"
    assert resumed.paused_ms >= 300
    # the due instant moved on by exactly the time spent paused
    assert resumed.due_ms - before.due_ms == resumed.paused_ms
    assert (await redis.zscore(keys.sla_due, f"{rid}|3|b")) == resumed.due_ms
    types = [e.type for e in await EventLog(redis, keys).range()]
    assert EventType.PENDING in types and EventType.RESUMED in types
    # a pending request can be completed; an agent can resume one too
    await store.sla.pend(rid, "ann", False, "", True)
    with pytest.raises(WrongState):
        await store.transfer(rid, "general")
    await store.sla.pend(rid, "ann", True, "", True)
    assert (await store.get(rid)).state is State.ASSIGNED


async def test_two_timers_fire_each_breach_once(
    store: QueueStore, redis: Redis, keys: Keys, redis_server: Any
) -> None:
    policy = CHAT_POLICY.replace("1s, warning_at: 50%", "300ms, warning_at: 100%")
    settings = settings_with(policy)
    front = await make_front(store, settings)
    other_client = Redis.from_url(redis_server.url)  # another daemon's own connections
    try:
        other = QueueStore(other_client, keys, store.settings)
        timers = [timer_for(store, settings), timer_for(other, settings)]
        await timers[0].publish(force=True)
        ids = [await chat(front, f"many-{i}", f"c{i}@example.com") for i in range(40)]
        log = EventLog(redis, keys)
        breached = await run_timer_until(timers, log, 40, EventType.SLA_BREACHED)
        assert sorted(e.request for e in breached) == sorted(ids)
        assert timers[0].fired + timers[1].fired == 40
        assert not [e for e in await log.range() if e.type is EventType.SLA_WARNING]
    finally:
        await other_client.aclose()


async def test_a_breach_due_while_no_timer_ran_fires_late_at_the_next_start(
    store: QueueStore, redis: Redis, keys: Keys
) -> None:
    settings = settings_with(CHAT_POLICY.replace("1s, warning_at: 50%", "200ms"))
    front = await make_front(store, settings)
    timer = timer_for(store, settings)
    await timer.publish(force=True)
    rid = await chat(front, "late")
    await asyncio.sleep(1.5)  # no timer runs: past the due instant and past late_after (1 s)
    log = EventLog(redis, keys)
    breached = await run_timer_until([timer], log, 1, EventType.SLA_BREACHED)
    assert [e.request for e in breached] == [rid]
    assert breached[0].data["late"] == "1"
    warned = [e for e in await log.range() if e.type is EventType.SLA_WARNING]
    assert warned == []  # a breach fired takes its own warning with it


async def test_working_time_due_instants_agree_with_the_calendar(
    store: QueueStore, redis: Redis, keys: Keys
) -> None:
    zone, local = midday_zone()
    today = local.date()
    closing = (local + timedelta(minutes=20)).strftime("%H:%M")
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    tomorrow = days[(today.weekday() + 1) % 7]
    calendars = f"""\
calendars:
  desk:
    timezone: {zone}
    hours:
      {days[today.weekday()]}: "08:00-{closing}"
      {tomorrow}: "09:00-17:00"
    working_day_hours: "09:00-17:00"
"""
    policy = """\
    - name: email
      when: {channel: email}
      targets:
        first_response: {within: 2h, calendar: desk}
        resolution: {within: 1d, calendar: desk}
"""
    settings = settings_with(policy, calendars)
    front = await make_front(store, settings)
    await timer_for(store, settings).publish(force=True)
    rid = await mail(front, "<w1@x>")
    record = await store.get(rid)
    assert record is not None and record.clocks is not None
    cal = settings.calendars["desk"]
    for c in record.clocks.clocks:
        started = datetime.fromtimestamp(c.started_ms / 1000, UTC)
        expected = add(cal, started, timedelta(milliseconds=c.within_ms))
        assert c.due_ms == round(expected.timestamp() * 1000), c.target
    first = next(c for c in record.clocks.clocks if c.target == "first_response")
    due = datetime.fromtimestamp(first.due_ms / 1000, UTC).astimezone(cal.zone)
    assert due.date() == today + timedelta(days=1)  # closes in 20 min: the rest is tomorrow
    resolution = next(c for c in record.clocks.clocks if c.target == "resolution")
    assert resolution.within_ms == 8 * 3600 * 1000  # a working day: working_day_hours


async def test_a_breach_that_asks_for_it_escalates_the_request_one_tier(
    store: QueueStore, redis: Redis, keys: Keys
) -> None:
    policy = CHAT_POLICY.replace("1s, warning_at: 50%", "200ms, warning_at: 100%").replace(
        "on_breach: [raise_priority, notify_customer]", "on_breach: [escalate]"
    )
    settings = settings_with(policy)
    front = await make_front(store, settings)
    timer = timer_for(store, settings)
    await timer.publish(force=True)
    rid = await chat(front, "esc")
    log = EventLog(redis, keys)
    await run_timer_until([timer], log, 1, EventType.SLA_BREACHED)
    record = await store.get(rid)
    assert record is not None
    assert record.request.queue == "l2" and record.request.tier == 2
    escalated = [e for e in await log.range() if e.type is EventType.ESCALATED]
    assert [e.request for e in escalated] == [rid]
    # the clocks go on in the new queue: the resolution still runs
    resolution = next(c for c in record.clocks.clocks if c.target == "resolution")
    assert resolution.state == "running"


async def test_the_dispatcher_offers_the_request_nearest_to_breach_first(
    store: QueueStore, agents: AgentStore, redis: Redis, keys: Keys
) -> None:
    policies = """\
    - name: vip
      when: {channel: chat, customer: {important: true}}
      targets: {first_response: 2s}
    - name: chat
      when: {channel: chat}
      targets: {first_response: 1h}
"""
    text = BASE.format(policies=policies, calendars="customers: {important: [vip@example.com]}")
    weighed = "chat: {offer_timeout: 20s, escalate_to: l2, weights: {sla: 5}}"
    text = text.replace("chat: {offer_timeout: 20s, escalate_to: l2}", weighed)
    settings = parse_settings(text, "sla.yaml")
    assert settings.queues["chat"].routing.weights.sla == 5
    front = await make_front(store, settings)
    await timer_for(store, settings).publish(force=True)
    older = await chat(front, "d1", "someone@example.com")  # waits longer, far from its breach
    await asyncio.sleep(0.3)
    nearer = await chat(front, "d2", "vip@example.com")
    await asyncio.sleep(1.0)  # the vip's 2 s promise is half gone, the other's hour barely
    from frontdesk.router.routing.dispatcher import Dispatcher

    await agents.upsert(Agent("ann", "Ann", capacity={"chat": 1}, presence=Presence.AVAILABLE))
    await Dispatcher(store, agents, lambda: settings).round()
    offered = {r: (await store.get(r)).state for r in (older, nearer)}
    assert offered == {older: State.WAITING, nearer: State.OFFERED}
    why = (await store.get(nearer)).why
    assert why is not None and why["score"]["sla"] > 2  # weight 5 x about half gone
