"""The dispatcher against the real Redis: who gets offered what, relaxation, overflow, offers
that expire or are rejected, and the explanation it leaves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import QueueError
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.request import Channel, Priority, Request, SkillRequirement
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.routing.config import RelaxStep, Routing
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.router.routing.head import HeadScan, Page, Seen
from frontdesk.skills import Agent, Presence

BASE = """\
skills: [billing, refunds, chinese]
default_queue: chat
queues:
  chat:
    offer_timeout: 20s
  email:
    mode: assign
  vip:
    preferred_agent_for: 30s
  strict:
    relax:
      - {after: 1s, lower_skills: 1}
  front:
    groups: [l1]
    relax:
      - {after: 0s, widen_groups: [l2]}
  nobody:
    relax:
      - {after: 0s, overflow_to: chat}
"""


@pytest.fixture
def settings() -> Settings:
    return parse_settings(BASE, "dispatch.yaml")


@pytest.fixture
def dispatcher(store: QueueStore, agents: AgentStore, settings: Settings) -> Dispatcher:
    return Dispatcher(store, agents, lambda: settings)


async def _agent(agents: AgentStore, agent_id: str, **kw) -> None:
    kw.setdefault("capacity", {"chat": 2, "email": 4})
    kw.setdefault("presence", Presence.AVAILABLE)
    await agents.upsert(Agent(agent_id, agent_id.title(), **kw))


async def _request(store: QueueStore, queue: str = "chat", **kw) -> str:
    kw.setdefault("channel", Channel.CHAT)
    return (await store.enqueue(Request("", queue=queue, **kw))).id


async def test_offers_to_the_best_skilled_agent_and_explains_why(store, agents, dispatcher) -> None:
    await _agent(agents, "ann", skills={"billing": 2})
    await _agent(agents, "bob", skills={"billing": 5})
    rid = await _request(store, skills=(SkillRequirement("billing", 2),))
    await dispatcher.round()
    record = await store.get(rid)
    assert record is not None and record.state is State.OFFERED and record.agent == "bob"
    why = record.why
    assert why is not None and why["queue"] == "chat" and why["assignment"] == "greedy"
    assert why["score"]["skill"] == pytest.approx(1.0)  # (5 - 2) / (5 - 2), weight 1
    assert why["score"]["total"] == pytest.approx(
        sum(v for k, v in why["score"].items() if k != "total")
    )
    events = await EventLog(store.redis, store.keys).range()
    offered = [e for e in events if e.type is EventType.OFFERED]
    assert len(offered) == 1 and '"skill"' in offered[0].data["why"]


async def test_no_agent_with_the_skill_means_the_request_waits(store, agents, dispatcher) -> None:
    await _agent(agents, "ann", skills={"billing": 2})
    rid = await _request(store, skills=(SkillRequirement("refunds", 1),))
    await dispatcher.round()
    record = await store.get(rid)
    assert record is not None and record.state is State.WAITING


async def test_rejected_offer_goes_to_the_next_best_agent(store, agents, dispatcher) -> None:
    await _agent(agents, "ann", skills={"billing": 3})
    await _agent(agents, "bob", skills={"billing": 5})
    rid = await _request(store, skills=(SkillRequirement("billing", 1),))
    await dispatcher.round()
    assert (await store.get(rid)).agent == "bob"
    await store.reject(rid, "bob", "busy")
    await dispatcher.round()
    record = await store.get(rid)
    assert record.state is State.OFFERED and record.agent == "ann"
    await store.reject(rid, "ann")
    await dispatcher.round()
    assert (await store.get(rid)).state is State.WAITING  # both refused it: nobody left


async def test_assign_mode_gives_email_straight_to_an_agent(store, agents, dispatcher) -> None:
    await _agent(agents, "ann")
    rid = await _request(store, "email", channel=Channel.EMAIL)
    await dispatcher.round()
    record = await store.get(rid)
    assert record.state is State.ASSIGNED and record.agent == "ann"


async def test_capacity_is_never_exceeded_and_urgent_requests_go_first(
    store, agents, dispatcher
) -> None:
    await _agent(agents, "ann", capacity={"chat": 2})
    low = [await _request(store, priority=Priority.LOW) for _ in range(3)]
    high = await _request(store, priority=Priority.HIGH)
    await dispatcher.round()
    states = {rid: (await store.get(rid)).state for rid in [*low, high]}
    assert states[high] is State.OFFERED
    assert [states[r] for r in low] == [State.OFFERED, State.WAITING, State.WAITING]
    assert (await agents.get("ann")).load == {"chat": 2}


async def test_expired_offer_is_re_offered_and_misses_set_the_agent_away(
    store, agents, settings
) -> None:
    quick = parse_settings(BASE.replace("offer_timeout: 20s", "offer_timeout: 50ms"), "q.yaml")
    dispatcher = Dispatcher(store, agents, lambda: quick)
    await _agent(agents, "ann", skills={"billing": 5})
    await _agent(agents, "bob", skills={"billing": 1})
    first = await _request(store)
    await dispatcher.round()
    assert (await store.get(first)).agent == "ann"
    await asyncio.sleep(0.1)
    await dispatcher.round()  # expires ann's offer, offers to bob
    record = await store.get(first)
    assert record.state is State.OFFERED and record.agent == "bob"
    assert await store.excluded(first) == {"ann"}
    second = await _request(store)
    await dispatcher.round()
    assert (await store.get(second)).agent == "ann"
    await asyncio.sleep(0.1)
    await dispatcher.round()  # ann missed twice in a row: the fixture's limit is 2
    ann = await agents.get("ann")
    assert ann.presence is Presence.AWAY and ann.missed == 2
    presence = [e for e in await EventLog(store.redis, store.keys).range()
                if e.type is EventType.PRESENCE]  # fmt: skip
    assert presence and presence[-1].agent == "ann" and presence[-1].data["presence"] == "away"


async def test_preferred_agent_alone_first(store, agents, dispatcher) -> None:
    await _agent(agents, "ann", capacity={"chat": 0})
    await _agent(agents, "bob")
    rid = await _request(store, "vip", preferred_agent="ann")
    await dispatcher.round()
    assert (await store.get(rid)).state is State.WAITING  # ann is full; bob must wait 30s
    await agents.upsert(Agent("ann", "Ann", capacity={"chat": 1}, presence=Presence.AVAILABLE))
    last = (await EventLog(store.redis, store.keys).range())[-1]
    assert last.type is EventType.AGENT_UPDATED
    dispatcher.notify(last)  # as the daemon's event follower does: profiles are read again
    await dispatcher.round()
    record = await store.get(rid)
    assert record.agent == "ann"
    assert record.why["score"]["preferred"] == pytest.approx(2.0)


async def test_skill_minimum_is_lowered_after_the_wait_in_the_relaxation_step(
    store, agents, dispatcher
) -> None:
    await _agent(agents, "ann", skills={"refunds": 4})
    rid = await _request(store, "strict", skills=(SkillRequirement("refunds", 5),))
    next_in = await dispatcher.round()
    assert (await store.get(rid)).state is State.WAITING
    assert next_in is not None and 0 < next_in <= 1.0
    await asyncio.sleep(next_in + 0.05)
    await dispatcher.round()
    record = await store.get(rid)
    assert record.state is State.OFFERED and record.agent == "ann"
    assert record.why["relaxation"] == ["after 1s: skills lowered by 1"]


async def test_groups_widen_by_relaxation(store, agents, dispatcher) -> None:
    await _agent(agents, "lee", groups=("l2",))
    await _agent(agents, "out", groups=("sales",))
    rid = await _request(store, "front")
    await dispatcher.round()
    assert (await store.get(rid)).agent == "lee"


async def test_with_nobody_free_a_round_reads_only_queues_that_overflow(
    store, agents, dispatcher, redis
) -> None:
    await _agent(agents, "ann", capacity={"chat": 1})
    await store.assign(await _request(store, "chat"), "ann")  # ann is full
    waiting = [await _request(store, "chat") for _ in range(3)]
    await redis.config_resetstat()
    await dispatcher.round()
    stats = await redis.info("commandstats")
    # the next offer deadline, and the head of `nobody` (it overflows); the five other
    # queues' windows are not read while no agent has room
    assert stats["cmdstat_zrange"]["calls"] == 2
    assert {(await store.get(r)).state for r in waiting} == {State.WAITING}


async def test_overflow_moves_the_request_keeping_its_age(store, agents, dispatcher) -> None:
    older = await _request(store, "nobody")
    newer = await _request(store, "chat")
    await dispatcher.round()  # no agents: the overflow still happens
    assert (await store.get(older)).request.queue == "chat"
    assert await store.peek("chat", 10) == [older, newer]
    events = await EventLog(store.redis, store.keys).range()
    moved = [e for e in events if e.type is EventType.TRANSFERRED]
    assert [(e.request, e.queue, e.data["from"]) for e in moved] == [(older, "chat", "nobody")]


async def test_two_dispatchers_racing_never_double_offer(store, agents, settings, redis) -> None:
    for i in range(4):
        await _agent(agents, f"a{i}", capacity={"chat": 2})
    ids = [await _request(store) for _ in range(20)]
    other = Dispatcher(QueueStore(redis, store.keys, store.settings), agents, lambda: settings)
    mine = Dispatcher(store, agents, lambda: settings)
    await asyncio.gather(mine.round(), other.round(), mine.round(), other.round())
    records = [await store.get(r) for r in ids]
    assert sum(r.state is State.OFFERED for r in records) == 8
    for agent in await agents.all():
        assert agent.load == {"chat": 2}
        assert len(await agents.holds(agent.id)) == 2
    offered = [e for e in await EventLog(store.redis, store.keys).range()
               if e.type is EventType.OFFERED]  # fmt: skip
    assert len(offered) == 8 and len({e.request for e in offered}) == 8


async def test_offer_refused_by_the_script_is_skipped_not_raised(store, agents, dispatcher) -> None:
    await _agent(agents, "ann")
    rid = await _request(store)
    await store.abandon(rid, "customer left")
    await dispatcher.round()
    with pytest.raises(QueueError):
        await store.offer(rid, "ann", 10)
    assert (await store.get(rid)).state is State.ABANDONED


async def test_held_callbacks_do_not_take_the_windows_places(store, agents) -> None:
    narrow = parse_settings(BASE + "  phone: {window: 2}\n", "dispatch.yaml")
    dispatcher = Dispatcher(store, agents, lambda: narrow)
    await _agent(agents, "ann", capacity={"phone": 2})
    now = (await store.now_ms()) / 1000
    held = [
        await _request(store, "phone", channel=Channel.PHONE,
                       attributes={"callback": True, "callback_from": now + 3600 + i})
        for i in range(5)
    ]  # fmt: skip
    due = await _request(store, "phone", channel=Channel.PHONE)
    await dispatcher.round()
    assert (await store.get(due)).state is State.OFFERED  # found behind five held, window 2
    assert {(await store.get(r)).state for r in held} == {State.WAITING}


async def test_reading_past_held_callbacks_skips_nothing_that_overflowed(store, agents) -> None:
    narrow = parse_settings(
        BASE + "  spill: {window: 2, relax: [{after: 0s, overflow_to: chat}]}\n", "dispatch.yaml"
    )
    dispatcher = Dispatcher(store, agents, lambda: narrow)
    now = (await store.now_ms()) / 1000
    later = {"callback": True, "callback_from": now + 3600}
    first_held = await _request(store, "spill", channel=Channel.PHONE, attributes=later)
    due = [await _request(store, "spill", channel=Channel.PHONE) for _ in range(3)]
    await dispatcher.round()  # no agents: only the overflow works
    assert [(await store.get(r)).request.queue for r in due] == ["chat"] * 3
    assert await store.peek("spill", 10) == [first_held]


async def test_a_callback_waits_for_its_window(store, agents, dispatcher) -> None:
    await _agent(agents, "ann", capacity={"phone": 1})
    now = (await store.now_ms()) / 1000
    later = await _request(store, "chat", channel=Channel.PHONE,
                           attributes={"callback": True, "callback_from": now + 3600})  # fmt: skip
    due = await _request(store, "chat", channel=Channel.PHONE,
                         attributes={"callback": True, "callback_from": now - 60,
                                     "callback_until": now + 3600})  # fmt: skip
    next_in = await dispatcher.round()
    assert (await store.get(later)).state is State.WAITING
    record = await store.get(due)
    assert record.state is State.OFFERED and record.agent == "ann"
    assert record.why["waited_s"] < 60  # from the later of its enqueue and its window's start
    assert next_in is not None and 15 < next_in <= 21  # ann's offer deadline (chat: 20 s)
    await store.reject(due, "ann")
    next_in = await dispatcher.round()
    assert next_in is not None and 3000 < next_in <= 3600  # wakes when the window opens


def test_the_head_scan_keeps_in_place_what_could_not_be_moved() -> None:
    # Pure: a window of two, everything overflows at once, a held callback first; the request
    # whose transfer failed (taken meanwhile) stays in its place, and the next page starts
    # after what was read less what moved out.
    routing = Routing(window=2, relax=(RelaxStep(0.0, overflow_to="chat"),))
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    now_ms = int(now.timestamp() * 1000)
    later = {"callback": True, "callback_from": now.timestamp() + 3600}
    held = Request("held", Channel.PHONE, queue="q", attributes=later)
    a, b, c = (Request(n, Channel.PHONE, queue="q") for n in "abc")
    scan: HeadScan[str] = HeadScan(routing, now, now_ms, None)
    assert scan.next_page() == Page(0, 2)
    moves = scan.read([Seen("held", held, now_ms), Seen("a", a, now_ms - 5000)])
    assert [(m.item, m.target, m.wait_s) for m in moves] == [("a", "chat", 5.0)]
    scan.moved([True])
    assert scan.next_page() == Page(1, 2)  # "a" left: the second page starts at "b"
    moves = scan.read([Seen("b", b, now_ms), Seen("c", c, now_ms)])
    scan.moved([False, True])
    assert scan.next_page() is None  # nothing held on that page: the head is known
    head = scan.head()
    assert [k.item for k in head.waiting] == ["b"]
    assert head.changes == [3600.0]
