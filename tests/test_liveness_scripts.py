"""The liveness scripts (queues/liveness.py) against the real Redis, one behaviour per test: hear,
vanish, release_offer, orphan (requeue and flag) and prune_orphans. Every change appends exactly
one event; every refusal appends none and changes nothing; load always equals the holds."""

from __future__ import annotations

import pytest
from queue_ops_helpers import Events, add_agent, enqueue, load, redis_ms

from frontdesk.queues.errors import ErrorCode
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.liveness import Liveness
from frontdesk.queues.states import State
from frontdesk.skills import Presence

GRACE_MS = 1000
AFTER_MS = 2000
REASON = "connection lost"


@pytest.fixture
def live(redis, keys) -> Liveness:
    return Liveness(redis, keys)


@pytest.fixture
async def events(redis, keys) -> Events:
    tracker = Events(EventLog(redis, keys))
    await tracker.new()
    return tracker


async def gone_since(redis, keys, agent: str, ago_ms: int) -> int:
    """The agent was last heard, became available and took work `ago_ms` ago."""
    then = await redis_ms(redis) - ago_ms
    await redis.zadd(keys.agents_heard, {agent: then})
    await redis.hset(keys.agent(agent), mapping={"available_since_ms": then, "last_taken_ms": then})
    return then


async def test_hear_notes_every_agent_at_the_redis_clock(redis, keys, live) -> None:
    before = await redis_ms(redis)
    now = await live.hear({"ann", "bob"})
    assert before <= now <= await redis_ms(redis)
    assert await live.last_heard("ann") == now == await live.last_heard("bob")
    assert await live.last_heard("cy") is None
    assert await live.unheard(now + 1) == [("ann", now), ("bob", now)]
    assert await live.unheard(now) == []


async def test_vanish_sets_an_available_agent_away_once(redis, keys, agents, live, events) -> None:
    await add_agent(agents, "ann")
    await events.new()
    assert await live.vanish("ann", GRACE_MS, REASON) == ErrorCode.AGENT_HEARD  # never heard
    await gone_since(redis, keys, "ann", GRACE_MS // 2)
    assert await live.vanish("ann", GRACE_MS, REASON) == ErrorCode.AGENT_HEARD  # within grace
    await events.none()
    await gone_since(redis, keys, "ann", GRACE_MS * 2)
    assert await live.vanish("ann", GRACE_MS, REASON) == 1
    event = await events.one(EventType.PRESENCE)
    assert event.data.pop("previous_ms").isdigit()  # how long it was available (reports)
    assert (event.agent, event.data) == (
        "ann",
        {"presence": "away", "reason": REASON, "previous": "available"},
    )
    ann = await agents.get("ann")
    assert ann is not None and (ann.presence, ann.away_reason) == (Presence.AWAY, REASON)
    assert await live.vanish("ann", GRACE_MS, REASON) == 0  # a second sweeper: nothing to do
    await events.none()
    assert await live.last_heard("ann") is None  # away, holding nothing: no longer watched


async def test_vanish_counts_an_agent_in_wrap_up_as_available(redis, keys, agents, live) -> None:
    await add_agent(agents, "ann")
    await gone_since(redis, keys, "ann", GRACE_MS * 2)
    await redis.hset(keys.agent("ann"), "wrap_until_ms", await redis_ms(redis) + 60_000)
    assert await live.vanish("ann", GRACE_MS, REASON) == 1


async def test_vanish_counts_the_grace_from_a_later_return_to_available(
    redis, keys, agents, live, events
) -> None:
    await add_agent(agents, "ann", presence=Presence.OFFLINE)
    heard = await gone_since(redis, keys, "ann", GRACE_MS * 5)
    await agents.set_presence("ann", Presence.AVAILABLE)  # a supervisor sets it, now
    await events.new()
    assert await live.vanish("ann", GRACE_MS, REASON) == ErrorCode.AGENT_HEARD
    await events.none()
    assert (await live.last_heard("ann")) > heard  # not looked at again until the grace is over


async def test_release_offer_sends_the_offer_back_at_once(
    redis, keys, store, agents, live, events
) -> None:
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await store.offer(rid, "ann", 600)
    await gone_since(redis, keys, "ann", GRACE_MS // 2)
    await events.new()
    assert not await live.release_offer(rid, "ann", "general", GRACE_MS, REASON)  # within grace
    await events.none()
    await gone_since(redis, keys, "ann", GRACE_MS * 2)
    assert await live.release_offer(rid, "ann", "general", GRACE_MS, REASON)
    event = await events.one(EventType.EXPIRED)
    assert (event.request, event.agent, event.data["reason"]) == (rid, "ann", REASON)
    record = await store.get(rid)
    assert record is not None and record.state is State.WAITING and record.agent is None
    assert await load(agents, "ann") == 0 and await agents.holds("ann") == {}
    assert await redis.zscore(keys.offers, rid) is None
    assert await store.excluded(rid) == set()  # it may be offered to ann again once she is back
    assert not await live.release_offer(rid, "ann", "general", GRACE_MS, REASON)  # only once
    await events.none()


async def test_orphan_requeue_puts_the_request_back_ahead_of_later_arrivals(
    redis, keys, store, agents, live, events
) -> None:
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    later = await enqueue(store)
    await gone_since(redis, keys, "ann", AFTER_MS // 2)
    await events.new()
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "requeue") == ErrorCode.AGENT_HEARD
    await events.none()
    await gone_since(redis, keys, "ann", AFTER_MS * 2)
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "requeue") == 1
    event = await events.one(EventType.REQUEUED)
    assert (event.request, event.agent, event.data["reason"]) == (rid, "ann", "agent_gone")
    assert await store.peek("general", 10) == [rid, later]
    assert await load(agents, "ann") == 0 and await agents.holds("ann") == {}
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "requeue") == ErrorCode.WRONG_STATE
    await events.none()


async def test_orphan_waits_for_work_given_to_the_agent_lately(
    redis, keys, store, agents, live
) -> None:
    await add_agent(agents, "ann")
    await gone_since(redis, keys, "ann", AFTER_MS * 2)
    rid = await enqueue(store)
    await store.assign(rid, "ann", force=True)  # a supervisor's assignment restarts the clock
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "requeue") == ErrorCode.AGENT_HEARD


async def test_orphan_flag_keeps_the_work_and_flags_it_once_per_absence(
    redis, keys, store, agents, live, events
) -> None:
    await add_agent(agents, "ann")
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    since = await gone_since(redis, keys, "ann", AFTER_MS * 2)
    await events.new()
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "flag") == 2
    event = await events.one(EventType.FLAGGED)
    assert (event.request, event.agent, event.data["since_ms"]) == (rid, "ann", str(since))
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "flag") == 0
    await events.none()
    record = await store.get(rid)
    assert record is not None and record.state is State.ASSIGNED and record.agent == "ann"
    assert await load(agents, "ann") == 1 and await agents.holds("ann") == {rid: "chat"}
    assert [(o.request_id, o.agent, o.since_ms) for o in await live.orphans()] == [
        (rid, "ann", since)
    ]
    await live.hear({"ann"})  # back: no longer listed
    assert await live.orphans() == []
    await gone_since(redis, keys, "ann", AFTER_MS * 3)  # gone again: flagged again
    assert await live.orphan(rid, "ann", "general", AFTER_MS, "flag") == 2
    await events.one(EventType.FLAGGED)


async def test_prune_orphans_drops_work_no_longer_flagged(redis, keys, store, agents, live) -> None:
    await add_agent(agents, "ann")
    kept, done = await enqueue(store), await enqueue(store)
    for rid in (kept, done):
        await store.assign(rid, "ann")
    await gone_since(redis, keys, "ann", AFTER_MS * 2)
    for rid in (kept, done):
        assert await live.orphan(rid, "ann", "general", AFTER_MS, "flag") == 2
    await store.complete(done, "ann")
    assert {o.request_id for o in await live.orphans()} == {kept}
    assert await live.prune_orphans() == 1
    assert [m.decode() for m in await redis.zrange(keys.orphans, 0, -1)] == [kept]
