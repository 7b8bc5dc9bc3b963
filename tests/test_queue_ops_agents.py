"""AgentStore against a real Redis, one behaviour per test: upsert, recent agents and presence.

Each state-changing call is checked to append exactly one event of its type to the stream
(invariant 5), and every refusal to append none and change nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from queue_ops_helpers import add_agent, enqueue

from frontdesk.queues.errors import AgentRefused, ErrorCode
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel
from frontdesk.skills import Agent, Presence

# -- agents --------------------------------------------------------------------------------------


async def test_upsert_agent_creates_then_updates(agents, events):
    profile = Agent(
        id="ann",
        name="Ann",
        skills={"billing": 4, "中文": 5},
        capacity={"chat": 2, "email": 5},
        tier=2,
        groups=("l2", "billing"),
        presence=Presence.AVAILABLE,
    )
    assert await agents.upsert(profile) is True
    event = await events.one(EventType.AGENT_CREATED)
    assert (event.agent, event.request) == ("ann", "")
    assert dataclasses.replace(await agents.get("ann"), idle_since_ms=0) == profile
    assert await agents.ids() == ["ann"]

    renamed = dataclasses.replace(profile, name="Ann Lee", tier=3, presence=Presence.OFFLINE)
    assert await agents.upsert(renamed) is False
    assert (await events.one(EventType.AGENT_UPDATED)).agent == "ann"
    stored = await agents.get("ann")
    assert (stored.name, stored.tier) == ("Ann Lee", 3)
    assert stored.presence is Presence.AVAILABLE  # an update keeps the live presence
    assert await agents.ids() == ["ann"]
    assert [a.id for a in await agents.all()] == ["ann"]


async def test_recent_agents_is_one_read_shared_by_every_caller(agents, redis):
    await add_agent(agents, "ann")
    await redis.config_resetstat()

    seen = await asyncio.gather(*(agents.recent(60) for _ in range(50)))
    assert all([a.id for a in found] == ["ann"] for found in seen)
    stats = await redis.info("commandstats")
    assert stats["cmdstat_smembers"]["calls"] == 1  # fifty callers, one read

    await add_agent(agents, "bob")
    assert [a.id for a in await agents.recent(60)] == ["ann"]  # young enough: not read again
    assert [a.id for a in await agents.recent(0)] == ["ann", "bob"]
    assert (await redis.info("commandstats"))["cmdstat_smembers"]["calls"] == 2


async def test_new_agent_without_presence_starts_offline(agents):
    await agents.upsert(Agent(id="bob", name="Bob", capacity={"chat": 1}))
    assert (await agents.get("bob")).presence is Presence.OFFLINE


async def test_upsert_refuses_capacity_below_the_current_load(store, agents, events):
    await add_agent(agents, "ann", capacity={"chat": 2, "email": 2})
    for _ in range(2):
        await store.assign(await enqueue(store), "ann")
    before = await agents.get("ann")
    await events.new()

    with pytest.raises(AgentRefused) as refused:
        await agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 1, "email": 9}))
    assert refused.value.code is ErrorCode.CAPACITY_BELOW_LOAD
    assert "chat" in str(refused.value)
    with pytest.raises(AgentRefused):
        await agents.upsert(Agent(id="ann", name="Ann", capacity={"email": 2}))

    assert await agents.get("ann") == before
    await events.none()
    # Equal to the load is fine.
    assert await agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 2})) is False


async def test_upsert_removes_a_channel_dropped_from_capacity(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 2, "email": 2})
    await agents.upsert(Agent(id="ann", name="Ann", capacity={"email": 4}))

    ann = await agents.get("ann")
    assert ann.capacity == {"email": 4}
    assert ann.spare("chat") == 0
    with pytest.raises(AgentRefused) as refused:
        await store.offer(await enqueue(store, channel=Channel.CHAT), "ann", 30)
    assert refused.value.code is ErrorCode.NO_CAPACITY


async def test_upsert_keeps_the_load(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 2})
    rid = await enqueue(store)
    await store.assign(rid, "ann")
    await agents.upsert(Agent(id="ann", name="Ann", capacity={"chat": 5}))
    ann = await agents.get("ann")
    assert (ann.load, ann.capacity) == ({"chat": 1}, {"chat": 5})
    assert await agents.holds("ann") == {rid: "chat"}


async def test_set_presence_returns_the_previous_one(agents, events):
    await add_agent(agents, "ann", presence=Presence.OFFLINE)
    await events.new()

    assert await agents.set_presence("ann", Presence.AWAY, "lunch") is Presence.OFFLINE
    event = await events.one(EventType.PRESENCE)
    lasted = event.data.pop("previous_ms")  # how long it was offline, for the reports
    assert (event.agent, event.data) == (
        "ann",
        {"presence": "away", "reason": "lunch", "previous": "offline"},
    )
    assert lasted.isdigit()
    ann = await agents.get("ann")
    assert (ann.presence, ann.away_reason) == (Presence.AWAY, "lunch")

    assert await agents.set_presence("ann", Presence.AVAILABLE) is Presence.AWAY
    assert (await events.one(EventType.PRESENCE)).data["presence"] == "available"


async def test_set_presence_available_clears_missed_offers(store, agents):
    await add_agent(agents, "ann", capacity={"chat": 3})
    rid = await enqueue(store)
    await store.offer(rid, "ann", 0)
    await store.expire_overdue()
    assert (await agents.get("ann")).missed == 1

    await agents.set_presence("ann", Presence.AWAY, "break")
    assert (await agents.get("ann")).missed == 1
    await agents.set_presence("ann", Presence.AVAILABLE)
    assert (await agents.get("ann")).missed == 0


async def test_set_presence_of_unknown_agent_is_refused(agents, events):
    with pytest.raises(AgentRefused) as refused:
        await agents.set_presence("nobody", Presence.AVAILABLE)
    assert refused.value.code is ErrorCode.AGENT_NOT_FOUND
    assert await agents.get("nobody") is None
    assert await agents.ids() == []
    await events.none()
