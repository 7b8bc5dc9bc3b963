"""The event fan-out: each event reaches the listeners of its agent, its request and its queue
(and the few of every event), never the others; a failing listener does not stop the rest. On a
running daemon: an agent socket is handed its own agent's events only, and N waiting chat
sockets get their positions from one read of the queue's board per change. Real Redis, real
HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from frontdesk.channels.chat.channel import ChatChannel
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.states import State
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound
from frontdesk.router.routing.fanout import Fanout
from frontdesk.skills import Presence


def event(kind: EventType, request: str = "", agent: str = "", queue: str = "") -> Event:
    return Event("1-0", kind, request, agent, queue, 0)


# -- Fanout on its own ---------------------------------------------------------------------------
def test_an_event_reaches_its_agent_request_and_queue_listeners_and_no_others() -> None:
    fanout = Fanout()
    heard: dict[str, list[str]] = {}

    def listener(name: str) -> Callable[[Event], None]:
        return lambda e: heard.setdefault(name, []).append(e.request or e.agent)

    fanout.subscribe(listener("ann"), agent="ann")
    fanout.subscribe(listener("bob"), agent="bob")
    fanout.subscribe(listener("FD-1"), request="FD-1")
    fanout.subscribe(listener("FD-2"), request="FD-2")
    fanout.subscribe(listener("chat"), queue="chat")
    fanout.subscribe(listener("mail"), queue="mail")
    fanout.subscribe(listener("all"))

    fanout.publish(event(EventType.OFFERED, "FD-1", "ann", "chat"))
    assert heard == {"ann": ["FD-1"], "FD-1": ["FD-1"], "chat": ["FD-1"], "all": ["FD-1"]}
    fanout.publish(event(EventType.PRESENCE, agent="bob"))
    assert heard["bob"] == ["bob"] and heard["all"] == ["FD-1", "bob"]
    assert "FD-2" not in heard and "mail" not in heard
    assert fanout.published == 2 and fanout.calls == 6
    assert [s.calls for s in fanout.by_agent["ann"]] == [1]
    assert [s.calls for s in fanout.by_request["FD-2"]] == [0]


def test_a_listener_under_several_keys_hears_an_event_once() -> None:
    fanout = Fanout()
    heard: list[Event] = []
    fanout.subscribe(heard.append, request="FD-1")
    fanout.subscribe(heard.append, queue="chat")
    fanout.publish(event(EventType.ENQUEUED, "FD-1", queue="chat"))
    assert len(heard) == 1
    fanout.publish(event(EventType.ENQUEUED, "FD-2", queue="chat"))
    assert [e.request for e in heard] == ["FD-1", "FD-2"]


def test_unsubscribing_stops_the_events_and_forgets_the_key() -> None:
    fanout = Fanout()
    heard: list[str] = []
    stop = fanout.subscribe(lambda e: heard.append("a"), agent="ann")
    stay = fanout.subscribe(lambda e: heard.append("b"), agent="ann")
    stop_all = fanout.subscribe(lambda e: heard.append("all"))
    fanout.publish(event(EventType.PRESENCE, agent="ann"))
    assert sorted(heard) == ["a", "all", "b"] and len(fanout) == 3
    stop()
    stop()  # twice is harmless
    stop_all()
    heard.clear()
    fanout.publish(event(EventType.PRESENCE, agent="ann"))
    assert heard == ["b"]
    stay()
    assert fanout.by_agent == {} and len(fanout) == 0
    fanout.publish(event(EventType.PRESENCE, agent="ann"))
    assert heard == ["b"]


def test_a_listener_may_unsubscribe_itself_and_others_while_it_is_called() -> None:
    fanout = Fanout()
    heard: list[str] = []
    stops: list[Callable[[], None]] = []

    def first(e: Event) -> None:
        heard.append("first")
        for stop in stops:
            stop()

    stops.append(fanout.subscribe(first, request="FD-1"))
    stops.append(fanout.subscribe(lambda e: heard.append("second"), request="FD-1"))
    fanout.publish(event(EventType.MESSAGE, "FD-1"))  # both were subscribed when it arrived
    assert sorted(heard) == ["first", "second"]
    fanout.publish(event(EventType.MESSAGE, "FD-1"))
    assert len(heard) == 2 and fanout.by_request == {}


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    fanout = Fanout()
    heard: list[str] = []

    def broken(e: Event) -> None:
        raise RuntimeError("listener bug")

    def also_broken(e: Event) -> None:
        raise KeyError(e.request)

    fanout.subscribe(broken, agent="ann")
    fanout.subscribe(lambda e: heard.append("agent"), agent="ann")
    fanout.subscribe(also_broken)
    fanout.subscribe(lambda e: heard.append("all"))
    with caplog.at_level(logging.ERROR, "frontdesk.events"):
        fanout.publish(event(EventType.OFFERED, "FD-1", "ann", "chat"))
    assert sorted(heard) == ["agent", "all"]
    assert fanout.failures == 2 and "listener bug" in caplog.text


def test_subscribe_names_one_key_at_most() -> None:
    fanout = Fanout()
    with pytest.raises(ValueError, match="one of"):
        fanout.subscribe(print, agent="ann", request="FD-1")
    with pytest.raises(ValueError, match="empty"):
        fanout.subscribe(print, queue="")


# -- on a running daemon -------------------------------------------------------------------------
AGENTS = [f"a{i:02}" for i in range(12)]
TOKENS = {a: new_token() for a in AGENTS}
SITE = "site-3f9a0c1d2e4b"
WAITING = 10
AGENT_LINES = "".join(
    f"  - {{id: {a}, skills: {{billing: 3}}, capacity: {{chat: 1}}, presence: offline}}\n"
    for a in AGENTS
)
TOKEN_LINES = "".join(
    f"    - {{name: {a}, scope: agent, agent: {a}, sha256: {digest(TOKENS[a])}}}\n" for a in AGENTS
)
CONFIG = f"""\
tenant: fanout
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  chat: {{offer_timeout: 60s}}
default_queue: chat
agents:
{AGENT_LINES}api:
  tokens:
{TOKEN_LINES}limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
channels:
  chat:
    sites:
      - {{key: {SITE}, entry_point: web-chat}}
"""


@pytest.fixture
async def daemon(redis: Any, redis_server: Any) -> AsyncIterator[Daemon]:
    settings = parse_settings(CONFIG.replace("{url}", redis_server.url), "f.yaml")
    d = Daemon(settings, "f.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def frame(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            got = await ws.receive_json()
            if got["type"] == kind:
                return got


async def until(predicate: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    for _ in range(500):
        found = predicate()
        if found if isinstance(found, bool) else await found:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not reached")


async def test_an_agent_socket_is_handed_its_own_events_only(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    async with AsyncExitStack() as stack:
        sockets = {}
        for a in AGENTS:
            headers = {"Authorization": f"Bearer {TOKENS[a]}"}
            sockets[a] = await stack.enter_async_context(
                http.ws_connect("/v1/agents/ws", headers=headers)
            )
            assert (await frame(sockets[a], "hello"))["agent"] == a
        fanout = daemon.fanout
        assert all(len(fanout.by_agent[a]) == 1 for a in AGENTS)
        before_calls, before_published = fanout.calls, fanout.published

        ann = sockets["a00"]
        await ann.send_json({"type": "presence", "presence": "available"})
        await frame(ann, "result")
        customer = Customer(name="Zhao", email="zhao@example.com")
        request = Request("", Channel.CHAT, "", external_id="c1", body="退款", customer=customer)
        rid = (await daemon.front.receive(Inbound(request))).request_id
        assert (await frame(ann, "offer"))["request"]["id"] == rid
        await ann.send_json({"type": "accept", "request": rid})
        assert (await frame(ann, "result"))["request"]["state"] == "assigned"
        await daemon.store.append_message(rid, Message("还在吗", "customer", time.time()))
        message = await frame(ann, "message")
        assert (message["request"], message["body"]) == (rid, "还在吗")

        (own,) = fanout.by_agent["a00"]
        assert own.calls >= 4  # presence, offered, accepted, message (assigned too, maybe)
        for a in AGENTS[1:]:
            (theirs,) = fanout.by_agent[a]
            assert theirs.calls == 0, a  # not one of ann's events reached another socket
        published = fanout.published - before_published
        per_event = (fanout.calls - before_calls) / published
        assert published >= 4 and per_event <= len(fanout.everyone) + 1, per_event
    await until(lambda: not fanout.by_agent, "every socket unsubscribed")


async def test_waiting_chat_sockets_share_one_read_of_the_queue_per_change(
    daemon: Daemon,
) -> None:
    assert daemon.address is not None
    url = f"ws://127.0.0.1:{daemon.address[1]}/v1/chat/ws?site={SITE}"
    chat = next(c for c in daemon.channels if isinstance(c, ChatChannel))
    async with aiohttp.ClientSession() as http, AsyncExitStack() as stack:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        requests: list[str] = []
        for i in range(WAITING):
            ws = await stack.enter_async_context(http.ws_connect(url))
            await ws.send_json({"type": "start", "name": f"C{i}", "text": "hello",
                                "contact": {"email": f"c{i}@example.com"}})  # fmt: skip
            requests.append((await frame(ws, "started"))["request"])
            assert (await frame(ws, "queue"))["position"] == i + 1
            sockets.append(ws)
        watches = {w.request_id: w for w in chat.watchers._placed}
        await until(lambda: len(watches) == WAITING, "every socket placed in its queue")
        await until(lambda: all(w.waiting for w in watches.values()), "every socket waiting")
        for rid in requests:  # each socket subscribed by its request and by its queue
            assert len(daemon.fanout.by_request[rid]) == 1
        assert len(daemon.fanout.by_queue["chat"]) == WAITING
        await asyncio.sleep(0.5)  # the last start's wake-ups are over
        reads = daemon.standing.board_reads
        read_at = {rid: w.read_at for rid, w in watches.items()}

        await daemon.agents.set_presence("a00", Presence.AVAILABLE)  # the first one is offered
        for i, ws in enumerate(sockets[1:], start=1):
            assert (await frame(ws, "queue"))["position"] == i, i
        first = await daemon.store.get(requests[0])
        assert first is not None and first.state is State.OFFERED

        boards = daemon.standing.board_reads - reads
        # the board is read per change of the queue (how many depends on how the events fall
        # in time), never once per waiting socket
        assert 1 <= boards < WAITING - 1, boards
        for rid in requests[1:]:  # woken by another request's event: nothing of its own read
            assert watches[rid].read_at == read_at[rid], rid
        assert watches[requests[0]].read_at > read_at[requests[0]]  # its own event: read
