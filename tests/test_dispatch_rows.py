"""The dispatcher's board (agents' live state) and rows (waiting requests' fields) follow the
event stream against the real Redis: what another daemon changes is seen, a steady round reads
only what changed, a missed change is corrected by the resync, and the scripts stay the judges
(a stale hint costs a refused move, never a wrong one)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.request import Channel, Request, SkillRequirement
from frontdesk.queues.states import State
from frontdesk.queues.store import HandOver, QueueStore
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.skills import Agent, Presence

CONFIG = """\
skills: [billing]
default_queue: chat
queues:
  chat:
    offer_timeout: 20s
  email:
    offer_timeout: 20s
"""


def _settings() -> Settings:
    return parse_settings(CONFIG, "rows.yaml")


async def _agent(agents: AgentStore, agent_id: str, presence: Presence = Presence.AVAILABLE,
                 chat: int = 1) -> None:  # fmt: skip
    await agents.upsert(Agent(agent_id, agent_id.title(), capacity={"chat": chat},
                              presence=presence))  # fmt: skip


async def _request(store: QueueStore, queue: str = "chat", **kw: object) -> str:
    return (await store.enqueue(Request("", channel=Channel.CHAT, queue=queue, **kw))).id  # type: ignore[arg-type]


def _other(url: str, store: QueueStore) -> tuple[QueueStore, AgentStore, Redis]:
    """Another daemon's stores, on a client of its own."""
    client = Redis.from_url(url)
    return QueueStore(client, store.keys, store.settings), AgentStore(client, store.keys), client


async def test_a_steady_round_reads_only_what_changed(store, agents) -> None:
    d = Dispatcher(store, agents, _settings)
    for name in ("ann", "bob", "cat"):
        await _agent(agents, name, presence=Presence.AWAY)
    waiting = [await _request(store) for _ in range(20)]
    await d.round()
    assert (d.rows.reads, d.board.reads) == (0, 3)  # nobody available: no head read at all
    await agents.set_presence("ann", Presence.AVAILABLE)
    await d.round()
    assert d.board.reads == 4  # ann only, read again from her presence event
    assert d.rows.reads == 20  # the head, read once
    assert (await store.get(waiting[0])).agent == "ann"
    await agents.set_presence("bob", Presence.AVAILABLE)
    await _request(store)
    await d.round()
    assert d.board.reads == 6  # bob's presence, ann's offer
    assert d.rows.reads == 21  # only the new request: the 19 others were known
    assert (await store.get(waiting[1])).agent == "bob"


async def test_an_agent_set_away_by_another_daemon_is_not_offered(
    redis, redis_server, store, agents
) -> None:
    d = Dispatcher(store, agents, _settings)
    await _agent(agents, "ann")
    await _agent(agents, "bob", presence=Presence.AWAY)
    await d.round()  # the board is read whole: ann is available
    assert d.board.agents["ann"].presence is Presence.AVAILABLE
    _, other_agents, client = _other(redis_server.url, store)
    try:
        await other_agents.set_presence("ann", Presence.AWAY, "break")
    finally:
        await client.aclose()
    rid = await _request(store)
    before = len(await EventLog(redis, store.keys).range())
    await d.round()
    assert (await store.get(rid)).state is State.WAITING
    assert d.board.agents["ann"].presence is Presence.AWAY
    after = await EventLog(redis, store.keys).range()
    assert len(after) == before  # not even a refused try: the board knew


async def test_a_request_transferred_by_another_daemon_is_matched_in_its_new_queue(
    redis, redis_server, store, agents
) -> None:
    d = Dispatcher(store, agents, _settings)
    await _agent(agents, "ann", chat=0)  # full: nothing is offered, the rows are read
    await agents.upsert(Agent("bob", "Bob", capacity={"chat": 1}, presence=Presence.AWAY))
    rid = await _request(store, "chat")
    await d.round()
    other_store, other_agents, client = _other(redis_server.url, store)
    try:
        await other_store.transfer(rid, "email", "wrong desk")
        await other_agents.set_presence("bob", Presence.AVAILABLE)
    finally:
        await client.aclose()
    await d.round()
    record = await store.get(rid)
    assert (record.state, record.agent, record.request.queue) == (State.OFFERED, "bob", "email")
    assert record.why is not None and record.why["queue"] == "email"


async def test_a_missed_change_is_corrected_by_the_resync(redis, store, agents) -> None:
    d = Dispatcher(store, agents, _settings)
    d.board.resync_s = d.rows.resync_s = 2.0  # read again between 1 s and 2 s after
    await agents.upsert(Agent("ann", "Ann", skills={"billing": 2}, capacity={"chat": 1},
                              presence=Presence.AWAY))  # fmt: skip
    await _agent(agents, "bob")  # available, but without the skill: the head is read
    rid = await _request(store, skills=(SkillRequirement("billing", 1),))
    await d.round()
    assert d.rows.reads == 1
    # a change no event tells of (an operator's HSET): the board keeps its hint...
    await redis.hset(store.keys.agent("ann"), "presence", "available")
    await d.round()
    assert (await store.get(rid)).state is State.WAITING
    assert d.rows.reads == 1
    await asyncio.sleep(2.05)  # ...until each agent and row is read again, within resync_s
    await d.round()
    assert (await store.get(rid)).agent == "ann"
    assert d.rows.reads == 2


async def test_a_gap_in_the_stream_reads_everything_again(redis, store, agents) -> None:
    d = Dispatcher(store, agents, _settings)
    await _agent(agents, "ann", presence=Presence.AWAY)
    await _agent(agents, "bob", presence=Presence.AWAY)
    rid = await _request(store)
    await d.round()
    assert d.board.reads == 2
    await agents.set_presence("bob", Presence.AVAILABLE)  # an event this daemon will not see:
    await redis.xtrim(store.keys.events, maxlen=0)  # trimmed away with the one it saw last
    await d.round()
    assert d.board.reads == 4  # the gap: both agents read again
    assert (await store.get(rid)).agent == "bob"


async def test_a_stale_board_costs_a_refused_move_that_corrects_it(redis, store, agents) -> None:
    d = Dispatcher(store, agents, _settings)
    await _agent(agents, "ann")
    await d.round()
    await redis.hset(store.keys.agent("ann"), "presence", "away")  # no event: the board is stale
    rid = await _request(store)
    events = EventLog(redis, store.keys)
    before = len(await events.range())
    await d.round()  # offered on the hint: the offer script refuses (ann is away)
    assert (await store.get(rid)).state is State.WAITING
    assert len(await events.range()) == before  # a refusal appends no event
    assert d.board.agents["ann"].presence is Presence.AVAILABLE  # still the hint...
    await d.round()  # ...read again after the refusal
    assert d.board.agents["ann"].presence is Presence.AWAY
    assert (await store.get(rid)).state is State.WAITING


async def test_a_rejected_offer_is_not_offered_to_the_same_agent_again(store, agents) -> None:
    d = Dispatcher(store, agents, _settings)
    await _agent(agents, "ann")
    rid = await _request(store, skills=(SkillRequirement("billing", 1),))
    await agents.upsert(Agent("ann", "Ann", skills={"billing": 3}, capacity={"chat": 1}))
    await d.round()
    assert (await store.get(rid)).agent == "ann"
    await store.reject(rid, "ann")
    await _agent(agents, "bob")
    await agents.upsert(Agent("bob", "Bob", skills={"billing": 1}, capacity={"chat": 1}))
    await d.round()  # the row is read again, with ann among its exclusions
    record = await store.get(rid)
    assert (record.state, record.agent) == (State.OFFERED, "bob")


async def test_hand_overs_survive_a_flushed_script_cache(redis, store, agents) -> None:
    await _agent(agents, "ann", chat=3)
    rids = [await _request(store) for _ in range(3)]
    await redis.script_flush()  # NOSCRIPT for every EVALSHA: loaded and sent again
    moves = [HandOver(r, "ann", "chat", None, 20) for r in rids]
    assert await store.hand_over(moves) == [None, None, None]
    assert {(await store.get(r)).state for r in rids} == {State.OFFERED}
    refused = await store.hand_over(moves)  # again: each refused by its own script
    assert all(e is not None for e in refused)


async def test_every_overdue_offer_expires_in_one_call(store, agents) -> None:
    await _agent(agents, "ann", chat=3)
    rids = [await _request(store) for _ in range(3)]
    for rid in rids:
        await store.offer(rid, "ann", 0.01)
    await asyncio.sleep(0.05)
    expired = await store.expire_overdue()
    assert sorted(expired) == sorted((r, "ann") for r in rids)
    assert {(await store.get(r)).state for r in rids} == {State.WAITING}
    types = [e.type for e in await EventLog(store.redis, store.keys).range()]
    assert types.count(EventType.EXPIRED) == 3
    assert await store.expire_overdue() == []
