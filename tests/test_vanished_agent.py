"""A vanished agent lets go (issue 10, defect 4), on a running daemon with real WebSocket and
HTTP clients: an agent whose socket dies and does not come back is set away after
`presence.grace` and its offers go to someone else; its assigned work is requeued or flagged
after the queue's `orphaned_after`; a reconnect within the grace keeps everything; an agent
working through REST calls only is kept while it calls; two daemons' sweepers racing on one
vanished agent make one change each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.liveness import Liveness
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound
from frontdesk.router.routing.presence import PresenceWatch
from frontdesk.skills import Presence

GRACE = "500ms"
ORPHANED_AFTER = "1s"
DEADLINE_S = 10.0
TOKENS = {name: new_token() for name in ("ann", "bob", "sup")}
CONFIG = f"""\
tenant: vanish
redis: {{url: "{{url}}"}}
http: {{port: 0}}
presence: {{grace: {GRACE}}}
skills: [billing]
queues:
  chat: {{offer_timeout: 60s}}
  desk: {{mode: assign, orphaned_after: {ORPHANED_AFTER}, orphaned: requeue}}
  vip: {{mode: assign, orphaned_after: {ORPHANED_AFTER}, orphaned: flag}}
default_queue: chat
rules:
  - {{name: desk, when: {{keywords: [desk]}}, then: {{queue: desk}}}}
  - {{name: vip, when: {{keywords: [vip]}}, then: {{queue: vip}}}}
agents:
  - {{id: ann, skills: {{billing: 4}}, capacity: {{chat: 2}}, presence: offline}}
  - {{id: bob, skills: {{billing: 2}}, capacity: {{chat: 2}}, presence: offline}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    text = CONFIG.replace("{url}", redis_server.url)
    d = Daemon(parse_settings(text, "v.yaml"), "v.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


async def call(http, method: str, path: str, who: str, body=None) -> tuple[int, Any]:
    async with http.request(method, path, json=body, headers=auth(who)) as response:
        return response.status, await response.json()


async def frame(ws, kind: str, timeout_s: float = DEADLINE_S) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.receive_json()
            if msg["type"] == kind:
                return msg


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = DEADLINE_S) -> Any:
    """Poll `check` until it returns something true, within a bounded wait."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def connect(http, who: str, available: bool = True):
    ws = await http.ws_connect("/v1/agents/ws", headers=auth(who))
    await frame(ws, "hello")
    if available:
        await ws.send_json({"type": "presence", "presence": "available"})
        assert (await frame(ws, "result"))["presence"] == "available"
    return ws


def abort(ws) -> None:
    """The connection drops under the socket (a laptop closed, a network gone): no close frame."""
    ws._conn.transport.abort()


async def intake(daemon: Daemon, ext: str, text: str) -> str:
    customer = Customer(name="Zhao", email=f"{ext}@example.com")
    inbound = Inbound(Request("", Channel.CHAT, "", external_id=ext, body=text, customer=customer))
    return (await daemon.front.receive(inbound)).request_id


async def events_of(daemon: Daemon, etype: EventType, request_id: str | None = None) -> list:
    every = await EventLog(daemon.redis, daemon.store.keys).range()
    return [e for e in every if e.type is etype and request_id in (None, e.request)]


async def test_a_dropped_socket_past_the_grace_sets_the_agent_away_and_its_offer_goes_on(
    daemon, http
) -> None:
    ann = await connect(http, "ann")
    rid = await intake(daemon, "c1", "refund please")
    assert (await frame(ann, "offer"))["request"]["id"] == rid
    abort(ann)

    async def gone() -> Any:
        agent = await daemon.agents.get("ann")
        return agent if agent is not None and agent.presence is Presence.AWAY else None

    agent = await until(gone)
    assert agent.away_reason == "connection lost"
    record = await daemon.store.get(rid)
    assert record is not None and record.state is State.WAITING  # long before its 60s deadline
    assert await daemon.agents.holds("ann") == {} and agent.load == {}
    expired = await events_of(daemon, EventType.EXPIRED, rid)
    assert [(e.agent, e.data.get("reason")) for e in expired] == [("ann", "connection lost")]
    presence = [e for e in await events_of(daemon, EventType.PRESENCE) if e.agent == "ann"]
    assert presence[-1].data | {"previous_ms": "-"} == {
        "presence": "away",
        "reason": "connection lost",
        "previous": "available",
        "previous_ms": "-",
    }

    async with await connect(http, "bob") as bob:  # another agent gets it
        assert (await frame(bob, "offer"))["request"]["id"] == rid
    assert "frontdesk_agents_lost_total 1.0" in daemon.metrics.render().decode()


async def assigned_to_ann(daemon: Daemon, http, text: str) -> tuple[Any, str]:
    ann = await connect(http, "ann")
    rid = await intake(daemon, f"c-{text}", text)
    assert (await frame(ann, "assigned"))["request"]["id"] == rid
    return ann, rid


async def test_assigned_work_in_a_requeue_queue_goes_back_and_to_another_agent(
    daemon, http
) -> None:
    ann, rid = await assigned_to_ann(daemon, http, "desk")
    abort(ann)

    async def requeued() -> list:
        return await events_of(daemon, EventType.REQUEUED, rid)

    (event,) = await until(requeued)
    assert (event.agent, event.queue, event.data["reason"]) == ("ann", "desk", "agent_gone")
    agent = await daemon.agents.get("ann")
    assert agent is not None and agent.load == {} and await daemon.agents.holds("ann") == {}
    assert agent.presence is Presence.AWAY
    record = await daemon.store.get(rid)
    assert record is not None and record.state is State.WAITING and record.agent is None
    async with await connect(http, "bob") as bob:
        assert (await frame(bob, "assigned"))["request"]["id"] == rid
    assert await daemon.agents.holds("bob") == {rid: "chat"}
    body = daemon.metrics.render().decode()
    assert 'frontdesk_orphaned_requests_total{action="requeued"} 1.0' in body


async def test_assigned_work_in_a_flag_queue_stays_and_is_flagged_once(daemon, http) -> None:
    ann, rid = await assigned_to_ann(daemon, http, "vip")
    abort(ann)

    async def flagged() -> list:
        return await events_of(daemon, EventType.FLAGGED, rid)

    (event,) = await until(flagged)
    assert (event.agent, event.queue, event.data["reason"]) == ("ann", "vip", "agent_gone")
    await asyncio.sleep(1.0)  # several sweeps later: still one event
    assert len(await flagged()) == 1
    record = await daemon.store.get(rid)
    assert record is not None and record.state is State.ASSIGNED and record.agent == "ann"
    assert await daemon.agents.holds("ann") == {rid: "chat"}
    status, body = await call(http, "GET", "/v1/queues", "sup")
    assert status == 200
    vip = next(q for q in body["queues"] if q["name"] == "vip")
    assert [(o["request"], o["agent"]) for o in vip["orphaned"]] == [(rid, "ann")]

    async with await connect(http, "ann", available=False):  # back: no longer orphaned
        await until(lambda: _not_listed(http))


async def _not_listed(http) -> bool:
    _, body = await call(http, "GET", "/v1/queues", "sup")
    return all(q["orphaned"] == [] for q in body["queues"])


async def test_a_reconnect_within_the_grace_keeps_presence_and_work(daemon, http) -> None:
    ann, assigned = await assigned_to_ann(daemon, http, "desk")
    offered = await intake(daemon, "c-chat", "hello")
    assert (await frame(ann, "offer"))["request"]["id"] == offered
    abort(ann)
    async with await connect(http, "ann", available=False):
        await asyncio.sleep(2.5)  # five graces, more than twice orphaned_after
        agent = await daemon.agents.get("ann")
        assert agent is not None and agent.presence is Presence.AVAILABLE
        assert await daemon.agents.holds("ann") == {assigned: "chat", offered: "chat"}
    for etype in (EventType.REQUEUED, EventType.EXPIRED, EventType.FLAGGED):
        assert await events_of(daemon, etype) == []


async def test_an_agent_on_rest_calls_only_is_kept_while_it_calls(daemon, http) -> None:
    status, _ = await call(
        http, "POST", "/v1/agents/ann/presence", "ann", {"presence": "available"}
    )
    assert status == 200
    loop = asyncio.get_running_loop()
    end = loop.time() + 2.0  # four graces
    while loop.time() < end:
        status, body = await call(http, "GET", "/v1/agents/ann", "ann")
        assert status == 200 and body["presence"] == "available"
        await asyncio.sleep(0.1)

    async def away() -> bool:  # and once it stops calling, the grace applies
        agent = await daemon.agents.get("ann")
        return agent is not None and agent.presence is Presence.AWAY

    await until(away)


async def test_an_agent_never_heard_is_left_as_the_config_set_it(redis, redis_server) -> None:
    text = CONFIG.replace("{url}", redis_server.url).replace(
        "presence: offline", "presence: available"
    )
    d = Daemon(parse_settings(text, "v.yaml"), "v.yaml")
    await d.start()
    try:
        await asyncio.sleep(1.5)  # three graces with no socket and no call
        agent = await d.agents.get("ann")
        assert agent is not None and agent.presence is Presence.AVAILABLE
    finally:
        await d.stop()


async def test_two_sweepers_racing_on_one_vanished_agent_make_one_change_each(
    redis, redis_server, keys, store, agents
) -> None:
    from queue_ops_helpers import add_agent, enqueue

    await add_agent(agents, "ann", capacity={"chat": 3})
    offered = await enqueue(store, queue="chat")
    await store.offer(offered, "ann", 60)
    assigned = await enqueue(store, queue="desk")
    await store.assign(assigned, "ann")
    now = await store.now_ms()
    await redis.zadd(keys.agents_heard, {"ann": now - 60_000})  # heard a minute ago,
    await redis.hset(keys.agent("ann"), "available_since_ms", now - 60_000)  # available since
    await redis.hset(keys.agent("ann"), "last_taken_ms", now - 60_000)  # and given work then
    settings = parse_settings(CONFIG.replace("{url}", redis_server.url), "v.yaml")
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    try:
        registries = [CollectorRegistry() for _ in clients]
        watches = [PresenceWatch(lambda: settings, r) for r in registries]
        sweeps = [w.tick(Liveness(c, keys)) for w, c in zip(watches, clients, strict=True)]
        await asyncio.gather(*sweeps)
    finally:
        for c in clients:
            await c.aclose()
    every = await EventLog(redis, keys).range()
    mine = [e.type for e in every if e.type in {EventType.PRESENCE, EventType.EXPIRED,
                                                  EventType.REQUEUED}]  # fmt: skip
    assert sorted(mine) == sorted([EventType.PRESENCE, EventType.EXPIRED, EventType.REQUEUED])
    ann = await agents.get("ann")
    assert ann is not None and ann.presence is Presence.AWAY and ann.load == {}
    assert await agents.holds("ann") == {}
    assert {(await store.get(r)).state for r in (offered, assigned)} == {State.WAITING}
    lost = [r.get_sample_value("frontdesk_agents_lost_total") for r in registries]
    assert sorted(lost) == [0.0, 1.0]
