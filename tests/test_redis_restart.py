"""Routing comes back by itself after redis-server is SIGKILLed and restarted on its data dir
(AOF): the agent socket that stayed open gets the next offer, an offer made while a follower was
backing off still reaches the socket, intake answers 2xx right after /readyz does, and the agent
socket refuses its upgrade with 503 + Retry-After while Redis is down. Each test runs a
redis-server of its own (it kills it), real daemons in-process, real HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from redis.exceptions import RedisError

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound

T = TypeVar("T")
TOKENS = {name: new_token() for name in ("ann", "hd")}
CONFIG = f"""\
tenant: restart
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  general: {{offer_timeout: 60s}}
default_queue: general
limits:
  per_sender: {{count: 100000, per: 1m}}
  per_source: {{count: 100000, per: 1m}}
agents:
  - {{id: ann, skills: {{billing: 3}}, capacity: {{chat: 5, form: 5}}, presence: offline}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: hd, scope: integration, sha256: {digest(TOKENS["hd"])}}}
channels:
  form:
    sites:
      - {{key: restart-site-key-01, origins: ["https://shop.example.com"]}}
"""
DEADLINE_S = 30.0  # every wait below is bounded by this; none asserts a speed
AGENT = {"Authorization": f"Bearer {TOKENS['ann']}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own (AOF, fsync always), killed and restarted at will."""
    own = EmbeddedRedis(tmp_path / "r", appendfsync="always")
    own.start()
    yield own
    own.stop()


class TcpRedis(EmbeddedRedis):
    """The same redis-server on a TCP port of 127.0.0.1 (as an external Redis is reached)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, appendfsync="always")
        with socket.socket() as probe:  # a free port, kept across restarts
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    def _config(self) -> str:
        return super()._config().replace("port 0", f"port {self.port}\nbind 127.0.0.1")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


@pytest.fixture
def tcp_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    own = TcpRedis(tmp_path / "t")
    own.start()
    yield own
    own.stop()


def kill(server: EmbeddedRedis) -> None:
    """SIGKILL: no AOF rewrite, no goodbye to the clients; then reap the process."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # the process is gone: stop() only reaps it


async def restart(server: EmbeddedRedis) -> None:
    """The same data dir and socket path: the AOF is loaded again."""
    await asyncio.to_thread(server.start)


@pytest.fixture
async def start_daemon() -> AsyncIterator[Callable[[EmbeddedRedis], Awaitable[Daemon]]]:
    started: list[Daemon] = []

    async def start(server: EmbeddedRedis) -> Daemon:
        daemon = Daemon(parse_settings(CONFIG.replace("{url}", server.url), "r.yaml"), "r.yaml")
        await daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        await daemon.stop()


def base(daemon: Daemon) -> str:
    assert daemon.address is not None
    return f"http://127.0.0.1:{daemon.address[1]}"


async def frame(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next frame of `kind` (others are skipped), within the deadline."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"socket ended: {msg}"
            data = json.loads(msg.data)
            if data["type"] == kind:
                return data


async def retrying(step: Callable[[], Awaitable[T]]) -> T:
    """`step` until Redis takes it (the test's own intake, not what is tested), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        try:
            return await step()
        except RedisError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def chat(daemon: Daemon, ext: str) -> str:
    customer = Customer(name="Zhao", email=f"{ext}@example.com")
    request = Request("", Channel.CHAT, "", external_id=ext, body="退款", customer=customer)
    inbound = Inbound(request)
    return (await retrying(lambda: daemon.front.receive(inbound))).request_id


async def available(ws: aiohttp.ClientWebSocketResponse) -> None:
    assert (await frame(ws, "hello"))["agent"] == "ann"
    await ws.send_json({"type": "presence", "presence": "available"})
    assert (await frame(ws, "result"))["presence"] == "available"


async def test_the_open_agent_socket_gets_its_offers_after_a_redis_restart(
    server: EmbeddedRedis, start_daemon: Callable[[EmbeddedRedis], Awaitable[Daemon]]
) -> None:
    """Redis dies the moment an offer is handed to the agent's socket, before the socket has
    read the request to send it (its first Redis error). After the restart that offer, and
    the next one, reach the same open socket, which can accept both."""
    daemon = await start_daemon(server)
    async with (
        aiohttp.ClientSession(base(daemon)) as http,
        http.ws_connect("/v1/agents/ws", headers=AGENT) as ws,
    ):
        await available(ws)
        warm = await chat(daemon, "warm")
        assert (await frame(ws, "offer"))["request"]["id"] == warm
        killed: list[str] = []

        def kill_on_offer(event: Event) -> None:  # before the socket reads it
            if event.type is EventType.OFFERED and not killed:
                killed.append(event.request)
                kill(server)  # blocks until redis-server is gone

        daemon.listeners.add(kill_on_offer)
        first = await chat(daemon, "first")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while not killed:
            assert loop.time() < deadline, "never offered"
            await asyncio.sleep(0.02)
        assert killed == [first]
        await asyncio.sleep(1.0)  # down for longer than the client's own retry lasts
        await restart(server)  # the offer is still in Redis (AOF), and still ann's
        offer = await frame(ws, "offer")
        assert offer["request"]["id"] == first
        await ws.send_json({"type": "accept", "request": first})
        assert (await frame(ws, "result"))["request"]["state"] == "assigned"
        after = await chat(daemon, "after")
        assert (await frame(ws, "offer"))["request"]["id"] == after
        await ws.send_json({"type": "accept", "request": after})
        accepted = (await frame(ws, "result"))["request"]
        assert accepted["id"] == after and accepted["state"] == "assigned"


async def test_an_offer_made_while_the_follower_backed_off_reaches_the_socket(
    server: EmbeddedRedis, start_daemon: Callable[[EmbeddedRedis], Awaitable[Daemon]]
) -> None:
    """Two daemons on one Redis: the agent's socket is on A. Redis stays down long enough that
    A's follower sleeps seconds between tries; the offer is made (by A's or B's dispatcher)
    right after the restart, inside A's sleep. A must still hand it to the socket."""
    a = await start_daemon(server)
    b = await start_daemon(server)
    async with (
        aiohttp.ClientSession(base(a)) as http,
        http.ws_connect("/v1/agents/ws", headers=AGENT) as ws,
    ):
        await available(ws)
        kill(server)
        await asyncio.sleep(4.0)  # builds the condition (a follower deep in back-off)
        await restart(server)
        rid = await chat(b, "in-the-gap")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while (record := await retrying(lambda: b.store.get(rid))) is None or (
            record.state is not State.OFFERED
        ):
            assert loop.time() < deadline, f"never offered: {record}"
            await asyncio.sleep(0.05)
        assert record.agent == "ann"
        offer = await frame(ws, "offer")
        assert offer["request"]["id"] == rid


async def test_intake_right_after_readiness_answers_2xx(
    tcp_server: EmbeddedRedis, start_daemon: Callable[[EmbeddedRedis], Awaitable[Daemon]]
) -> None:
    """Over TCP, as an external Redis is reached: the restart leaves every pooled connection
    closed by its server; each must be replaced before use, not fail a customer's request."""
    server = tcp_server
    daemon = await start_daemon(server)
    headers = {"Authorization": f"Bearer {TOKENS['hd']}", "Content-Type": "application/json"}
    body = {"name": "Li Na", "email": "li.na@example.com", "body": "please call back"}

    async def post(key: str) -> int:
        async with http.post(
            "/v1/requests", data=json.dumps(body), headers={**headers, "Idempotency-Key": key}
        ) as response:
            return response.status

    async with aiohttp.ClientSession(base(daemon)) as http:
        # warm the pool: many connections in it, each of which the restart leaves stale
        assert set(await asyncio.gather(*(post(f"warm-{i}") for i in range(20)))) <= {200, 201}
        kill(server)
        async with http.get("/readyz") as response:
            assert response.status == 503 and "Retry-After" in response.headers
        await restart(server)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while True:
            async with http.get("/readyz") as response:
                if response.status == 200:
                    break
            assert loop.time() < deadline, "never ready again"
            await asyncio.sleep(0.02)
        statuses = [await post(f"after-{i}") for i in range(20)]
        assert statuses == [statuses[0]] * 20 and statuses[0] in (200, 201), statuses
        statuses = await asyncio.gather(*(post(f"burst-{i}") for i in range(20)))
        assert set(statuses) <= {200, 201}, statuses


async def test_the_agent_socket_upgrade_is_refused_with_503_while_redis_is_down(
    server: EmbeddedRedis, start_daemon: Callable[[EmbeddedRedis], Awaitable[Daemon]]
) -> None:
    daemon = await start_daemon(server)
    async with aiohttp.ClientSession(base(daemon)) as http:
        kill(server)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with http.ws_connect("/v1/agents/ws", headers=AGENT):
                pass
        assert refused.value.status == 503
        assert refused.value.headers is not None and "Retry-After" in refused.value.headers
        async with http.get("/v1/agents/ws", headers=AGENT) as response:  # what it says
            assert response.status == 503
            error = (await response.json())["error"]
            assert error["code"] == "unavailable" and "Retry-After" in response.headers
        await restart(server)
        async with http.ws_connect("/v1/agents/ws", headers=AGENT) as ws:  # and back
            assert (await frame(ws, "hello"))["agent"] == "ann"


async def test_after_a_restart_on_an_empty_redis_the_follower_reads_the_new_stream(
    server: EmbeddedRedis,
    start_daemon: Callable[[EmbeddedRedis], Awaitable[Daemon]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis comes back without its data (no persistence) and with ids behind the last one the
    follower read (another clock): reading on from our id would skip everything; the follower
    sees the stream is behind, says so, and reads the new stream from its start."""
    daemon = await start_daemon(server)
    seen: list[Event] = []
    daemon.listeners.add(seen.append)
    await chat(daemon, "before")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not seen:
        assert loop.time() < deadline, "no event followed"
        await asyncio.sleep(0.02)
    kill(server)
    for kept in (*server.data_dir.glob("appendonly.aof*"), *server.data_dir.glob("*.rdb")):
        kept.unlink()
    await restart(server)
    assert not await retrying(daemon.redis.keys)  # empty indeed
    entry = {"type": "presence", "req": "", "agent": "ann", "queue": "", "ts": "1"}
    await retrying(lambda: daemon.redis.xadd(Keys("restart").events, entry, id="1-1"))
    while not any(e.id == "1-1" for e in seen):
        assert loop.time() < deadline, f"the new stream was never read: {seen[-1]}"
        await asyncio.sleep(0.02)
    assert "Redis lost its data" in caplog.text
