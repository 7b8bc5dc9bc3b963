"""Web chat against a running daemon: real aiohttp WebSocket and HTTP clients, the real Front,
the real dispatcher and a real redis-server."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from frontdesk.channels.chat.protocol import STATUS, TYPES, ChatError, decode
from frontdesk.queues.request import Message
from frontdesk.queues.states import State
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import Limit, Limits, parse_settings
from frontdesk.skills import Presence

SITE = "site-3f9a0c1d2e4b"
OPEN_SITE = "site-kiosk-0001"
ORIGIN = "https://www.example.com"
MAX_BYTES = 64

CONFIG = f"""\
tenant: chat
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  general: {{}}
  web: {{offer_timeout: 60s}}
default_queue: general
rules:
  - name: web-chat
    when: {{channel: chat, entry_point: web-chat}}
    then: {{queue: web}}
agents:
  - {{id: ann, name: Ann Lee, skills: {{billing: 3}}, capacity: {{chat: 1}}, presence: offline}}
limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
channels:
  chat:
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}/"], entry_point: web-chat}}
      - {{key: {OPEN_SITE}, entry_point: kiosk}}
    max_message_bytes: {MAX_BYTES}
"""


@asynccontextmanager
async def running(url: str, extra: str = "") -> AsyncIterator[Daemon]:
    settings = parse_settings(CONFIG.replace("{url}", url) + extra, "chat.yaml")
    daemon = Daemon(settings, "chat.yaml")
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    async with running(redis_server.url) as d:
        yield d


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def url(d: Daemon, path: str, scheme: str = "http") -> str:
    assert d.address is not None
    return f"{scheme}://127.0.0.1:{d.address[1]}{path}"


def ws_url(d: Daemon, site: str = SITE) -> str:
    return url(d, f"/v1/chat/ws?site={site}", "ws")


@asynccontextmanager
async def socket(
    http: aiohttp.ClientSession, d: Daemon, site: str = SITE, origin: str | None = ORIGIN
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    headers = {"Origin": origin} if origin else {}
    async with http.ws_connect(ws_url(d, site), headers=headers) as ws:
        yield ws


async def frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    return json.loads(msg.data)


async def expect(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next frame of type `kind`; queue updates on the way are passed over, nothing else."""
    for _ in range(20):
        got = await frame(ws)
        if got["type"] == kind:
            return got
        assert got["type"] == "queue", f"expected {kind}, got {got}"
    raise AssertionError(f"no {kind} frame")


async def start(ws: aiohttp.ClientWebSocketResponse, **fields: Any) -> dict[str, Any]:
    body = {"type": "start", "name": "Wu Lei", "contact": {"email": "wu@example.com"}}
    body |= {"topic": "Invoice", "text": "my invoice is wrong", **fields}
    await ws.send_json(body)
    return await expect(ws, "started")


async def until(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(500):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not reached")


async def offered_to_ann(d: Daemon, request_id: str) -> None:
    async def offered() -> bool:
        record = await d.store.get(request_id)
        return record is not None and record.state is State.OFFERED and record.agent == "ann"

    await d.agents.set_presence("ann", Presence.AVAILABLE)
    await until(offered, f"{request_id} offered to ann")


async def agent_says(d: Daemon, request_id: str, text: str) -> None:
    await d.store.append_message(request_id, Message(text, "agent", received_at=time.time()))


# -- the WebSocket -------------------------------------------------------------------------------
async def test_start_queues_in_the_rules_queue_and_tells_positions_then_the_agent(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    async with socket(http, daemon) as first, socket(http, daemon) as second:
        one = await start(first, language="zh-CN")
        assert re.fullmatch(r"[0-9a-f]{24}", one["conversation"])
        assert re.fullmatch(r"[0-9a-f]{32}", one["token"])
        assert one["request"].startswith("FD-")
        record = await daemon.store.get(one["request"])
        assert record is not None and record.state is State.WAITING
        r = record.request
        assert (r.queue, r.channel.value, r.entry_point) == ("web", "chat", "web-chat")
        assert (r.subject, r.body, r.language) == ("Invoice", "my invoice is wrong", "zh-CN")
        assert r.external_id == f"{one['conversation']}:start"
        customer = await daemon.front.customers.get(r.customer.id or "")
        # typed into the chat, proven by nothing: claimed (tests/test_customers.py)
        assert customer is not None and customer.addresses == {"claimed:email:wu@example.com"}
        assert await daemon.front.customers.thread(f"chat:{one['conversation']}") == r.id
        assert await frame(first) == {"type": "queue", "position": 1, "estimated_wait_s": None}

        two = await start(second, contact={"phone": "+86 138 0013 8000"})
        assert two["request"] != one["request"] and two["conversation"] != one["conversation"]
        assert await frame(second) == {"type": "queue", "position": 2, "estimated_wait_s": None}

        await offered_to_ann(daemon, one["request"])
        moved = await frame(second)  # the one ahead left the queue
        assert moved["type"] == "queue" and moved["position"] == 1
        await daemon.store.accept(one["request"], "ann")
        assert await expect(first, "assigned") == {"type": "assigned", "agent": "Ann Lee"}


async def test_agent_messages_reach_the_customer_whose_messages_join_the_request(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    async with socket(http, daemon) as ws:
        started = await start(ws)
        rid = started["request"]
        await offered_to_ann(daemon, rid)
        await daemon.store.accept(rid, "ann")
        await expect(ws, "assigned")
        await agent_says(daemon, rid, "Hello, this is Ann. Which invoice?")
        said = await expect(ws, "message")
        assert said["from"] == "agent" and said["agent"] == "Ann Lee" and said["seq"] == 1
        assert said["text"] == "Hello, this is Ann. Which invoice?"

        for msg_id, text, duplicate, count in [
            ("m1", "INV-2026-114", False, 2),
            ("m1", "INV-2026-114", True, 2),  # a resend after a lost ack
            ("m2", "the amount is twice what it should be", False, 3),
        ]:
            await ws.send_json({"type": "message", "id": msg_id, "text": text})
            assert await expect(ws, "ack") == {"type": "ack", "id": msg_id, "duplicate": duplicate}
            record = await daemon.store.get(rid)
            assert record is not None and record.messages == count
        messages = await daemon.store.messages(rid)
        assert [(m.author, m.external_id) for m in messages] == [
            ("agent", None),
            ("customer", f"{started['conversation']}:m1"),
            ("customer", f"{started['conversation']}:m2"),
        ]
        await daemon.store.complete(rid, "ann", "refunded")
        assert await expect(ws, "closed") == {"type": "closed", "state": "completed"}
        closing = await ws.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1000


async def test_reconnecting_with_the_token_resumes_the_same_request(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    async with socket(http, daemon) as ws:
        started = await start(ws)
        await ws.send_json({"type": "message", "id": "m1", "text": "are you there?"})
        await expect(ws, "ack")
    conversation, token, rid = started["conversation"], started["token"], started["request"]
    await agent_says(daemon, rid, "yes, one moment")  # while the customer is away

    async with socket(http, daemon) as ws:
        wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
        await ws.send_json({"type": "resume", "conversation": conversation, "token": wrong})
        refused = await frame(ws)
        assert (refused["type"], refused["code"], refused["field"]) == (
            "error",
            "bad_token",
            "token",
        )
        await ws.send_json({"type": "resume", "conversation": conversation, "token": token})
        resumed = await frame(ws)
        assert resumed == {
            "type": "resumed", "conversation": conversation, "request": rid, "state": "waiting",
            "topic": "Invoice", "text": "my invoice is wrong",
        }  # fmt: skip
        replay = [await frame(ws), await frame(ws)]
        assert [(m["from"], m["text"], m["seq"]) for m in replay] == [
            ("customer", "are you there?", 1),
            ("agent", "yes, one moment", 2),
        ]
        assert replay[0]["id"] == "m1" and "id" not in replay[1]
        assert (await frame(ws))["type"] == "queue"
        await ws.send_json({"type": "message", "id": "m1", "text": "are you there?"})
        assert (await expect(ws, "ack"))["duplicate"] is True
        await ws.send_json({"type": "message", "id": "m2", "text": "still here"})
        assert (await expect(ws, "ack"))["duplicate"] is False
        await ws.send_json({"type": "start", "text": "again"})
        assert (await expect(ws, "error"))["code"] == "already_started"
    record = await daemon.store.get(rid)
    assert record is not None and record.messages == 3 and record.state is State.WAITING

    async with socket(http, daemon) as ws:  # resuming after the last message seen
        await ws.send_json(
            {"type": "resume", "conversation": conversation, "token": token, "after": 3}
        )
        assert (await frame(ws))["type"] == "resumed"
        assert (await frame(ws))["type"] == "queue"  # nothing replayed
        await ws.send_json({"type": "end"})
        assert await expect(ws, "closed") == {"type": "closed", "state": "abandoned"}
    record = await daemon.store.get(rid)
    assert record is not None and record.state is State.ABANDONED


async def test_unknown_site_and_foreign_origins_are_refused(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    FOREIGN = "origin_not_allowed"
    cases = [
        ("/v1/chat/ws", ORIGIN, 400, "missing", "site"),
        ("/v1/chat/ws?site=site-nobody-0000", ORIGIN, 403, "unknown_site", "site"),
        (f"/v1/chat/ws?site={SITE}", "https://evil.example.net", 403, FOREIGN, "Origin"),
        (f"/v1/chat/ws?site={SITE}", None, 403, FOREIGN, "Origin"),
        (f"/v1/chat/ws?site={SITE}", "null", 403, FOREIGN, "Origin"),
    ]  # fmt: skip
    for path, origin, status, code, field in cases:
        headers = handshake | ({"Origin": origin} if origin else {})
        async with http.get(url(daemon, path), headers=headers) as response:
            body = await response.json()
            assert (response.status, body["error"]["code"], body["error"]["field"]) == (
                status,
                code,
                field,
            ), (path, origin, body)
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(url(daemon, path, "ws"), headers=headers)
        assert caught.value.status == status

    async with http.get(url(daemon, f"/v1/chat/ws?site={SITE}"), headers={"Origin": ORIGIN}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "websocket_required"

    # origins are compared as origins: case and a default port make no difference
    async with socket(http, daemon, origin="HTTPS://WWW.EXAMPLE.COM:443") as ws:
        await ws.send_json({"type": "ping"})
        assert await frame(ws) == {"type": "pong"}
    # a site with no origins listed is open to any page, and to clients that send none
    async with socket(http, daemon, site=OPEN_SITE, origin=None) as ws:
        started = await start(ws)
    record = await daemon.store.get(started["request"])
    assert record is not None and record.request.entry_point == "kiosk"
    assert record.request.queue == "general"

    rest = url(daemon, f"/v1/chat/conversations?site={SITE}")
    body = {"text": "hello"}
    async with http.post(rest, json=body, headers={"Origin": "https://evil.example.net"}) as r:
        refused = await r.json()
        assert r.status == 403 and refused["error"]["field"] == "Origin"
        assert "Access-Control-Allow-Origin" not in r.headers
    async with http.post(rest, json=body) as r:  # starting needs a listed Origin
        assert r.status == 403 and (await r.json())["error"]["field"] == "Origin"
    async with http.post(url(daemon, "/v1/chat/conversations?site=nope"), json=body) as r:
        assert r.status == 403 and (await r.json())["error"]["field"] == "site"
    own = f"http://127.0.0.1:{daemon.address[1]}"  # the daemon's own pages: its demo at /chat/
    async with http.post(rest, json=body, headers={"Origin": own}) as r:
        assert r.status == 201, await r.text()
    async with http.post(rest, json=body, headers={"Origin": ORIGIN}) as r:
        started = await r.json()
    # with the conversation's token, no Origin is needed (browsers send none on a same-origin
    # GET), but a foreign one is still refused
    poll = f"{rest.split('?')[0]}/{started['conversation']}?site={SITE}&token={started['token']}"
    async with http.get(poll) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    async with http.get(poll, headers={"Origin": "https://evil.example.net"}) as r:
        assert r.status == 403 and (await r.json())["error"]["field"] == "Origin"


async def test_malformed_frames_get_error_frames_and_the_socket_stays_up(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    too_long = "x" * (MAX_BYTES + 1)
    wide = "好" * (MAX_BYTES // 3 + 1)  # few characters, too many bytes
    hi = '{"type": "start", "text": "hi", '
    cases: list[tuple[str, str, str | None]] = [
        ("hello", "bad_json", None),
        ('{"type": "start", ', "bad_json", None),
        ("[1, 2]", "bad_frame", None),
        ("{}", "missing", "type"),
        ('{"type": "dance"}', "unknown_type", "type"),
        ('{"type": 7}', "unknown_type", "type"),
        ('{"type": "message", "id": "m1", "text": "hi"}', "not_started", "type"),
        ('{"type": "end"}', "not_started", "type"),
        ('{"type": "start"}', "missing", "text"),
        ('{"type": "start", "text": "   "}', "missing", "text"),
        ('{"type": "start", "text": 5}', "invalid", "text"),
        ('{"type": "start", "text": "\\ud800"}', "invalid", "text"),
        (json.dumps({"type": "start", "text": too_long}), "too_large", "text"),
        (json.dumps({"type": "start", "text": wide}), "too_large", "text"),
        (hi + '"colour": 1}', "unknown_field", "colour"),
        (hi + '"contact": "me"}', "invalid", "contact"),
        (hi + '"contact": {"email": "nope"}}', "invalid", "contact.email"),
        (hi + '"contact": {"phone": "12"}}', "invalid", "contact.phone"),
        (hi + '"contact": {"fax": "1"}}', "unknown_field", "contact.fax"),
        (hi + '"language": "klingon!"}', "invalid", "language"),
        (hi + '"id": "short"}', "invalid", "id"),
        ('{"type": "resume", "conversation": "abc"}', "missing", "token"),
        ('{"type": "resume", "conversation": "a", "token": "x", "after": -1}', "invalid", "after"),
        ('{"type": "resume", "conversation": "abc", "token": "x"}', "bad_token", "token"),
        ("[" * 4000, "bad_json", None),  # nested past the recursion limit
    ]  # fmt: skip
    async with socket(http, daemon) as ws:
        for text, code, field in cases:
            await ws.send_str(text)
            got = await frame(ws)
            assert (got["type"], got["code"], got["field"]) == ("error", code, field), text[:80]
            assert got["message"]
        await ws.send_bytes(b'{"type": "ping"}')
        assert (await frame(ws))["code"] == "bad_frame"
        await ws.send_json({"type": "ping"})
        assert await frame(ws) == {"type": "pong"}
        started = await start(ws)
        await ws.send_json({"type": "message", "id": "m1", "text": too_long})
        refused = await expect(ws, "error")
        assert (refused["code"], refused["field"], refused["id"]) == ("too_large", "text", "m1")
        await ws.send_json({"type": "message", "id": "m 1", "text": "hi"})
        assert (await expect(ws, "error"))["field"] == "id"
        record = await daemon.store.get(started["request"])
        assert record is not None and record.messages == 0

        # a frame beyond any message's room is refused unread; far beyond, the socket is closed
        # with 1009 (Message Too Big)
        await ws.send_str(json.dumps({"type": "message", "id": "m2", "text": "x" * 10_000}))
        refused = await expect(ws, "error")
        assert (refused["code"], refused["field"]) == ("too_large", None)
        await ws.send_str(json.dumps({"type": "message", "id": "m2", "text": "x" * 100_000}))
        closing = await ws.receive(timeout=10)
        while closing.type is aiohttp.WSMsgType.TEXT:  # a queue update may come first
            closing = await ws.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1009


async def test_messages_past_the_rate_limit_are_refused(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    daemon.settings = dataclasses.replace(
        daemon.settings, limits=Limits(per_sender=Limit(2, 600), per_source=Limit(1000, 60))
    )
    async with socket(http, daemon) as ws:
        started = await start(ws, contact={"email": "busy@example.com"})
        for msg_id in ("m1", "m2"):
            await ws.send_json({"type": "message", "id": msg_id, "text": "hello?"})
            assert (await expect(ws, "ack"))["id"] == msg_id
        await ws.send_json({"type": "message", "id": "m3", "text": "HELLO?"})
        refused = await expect(ws, "error")
        assert (refused["code"], refused["id"]) == ("rate_limited", "m3")
        assert 0 < refused["retry_after_s"] <= 600
    record = await daemon.store.get(started["request"])
    assert record is not None and record.messages == 2

    rest = url(daemon, f"/v1/chat/conversations?site={SITE}")
    body = {"text": "hi", "contact": {"email": "busy@example.com"}}  # its second start: allowed
    async with http.post(rest, json=body, headers={"Origin": ORIGIN}) as r:
        assert r.status == 201
    async with http.post(rest, json=body, headers={"Origin": ORIGIN}) as r:
        refused = await r.json()
        assert r.status == 429 and refused["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 600
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN


# -- REST ----------------------------------------------------------------------------------------
async def test_rest_fallback_end_to_end(daemon: Daemon, http: aiohttp.ClientSession) -> None:
    cors = {"Origin": ORIGIN}
    base = url(daemon, "/v1/chat/conversations")
    async with http.options(
        f"{base}?site={SITE}",
        headers=cors | {"Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type"},
    ) as r:  # fmt: skip
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]

    body = {"text": "where is my order?", "name": "Ana", "id": "a3f0c6d2e1b94c7d"}
    async with http.post(f"{base}?site={SITE}", json=body, headers=cors) as r:
        assert r.status == 201 and r.headers["Access-Control-Allow-Origin"] == ORIGIN
        started = await r.json()
    conv, token, rid = started["conversation"], started["token"], started["request"]
    assert started["state"] == "waiting" and started["position"] == 1
    assert started["messages"] == [] and started["next"] == 0
    assert (started["topic"], started["text"]) == ("", "where is my order?")
    async with http.post(f"{base}?site={SITE}", json=body, headers=cors) as r:  # resent start
        again = await r.json()
        assert r.status == 200 and (again["conversation"], again["request"]) == (conv, rid)
        assert again["token"] == token

    messages = f"{base}/{conv}/messages?site={SITE}&token={token}"
    for status, duplicate in ((201, False), (200, True)):
        async with http.post(messages, json={"id": "m1", "text": "order 88"}, headers=cors) as r:
            assert r.status == status and await r.json() == {"id": "m1", "duplicate": duplicate}
    for payload, code, field in [
        ({"text": "no id"}, "missing", "id"),
        ({"id": "m2", "text": "x" * (MAX_BYTES + 1)}, "too_large", "text"),
        ({"id": "m2", "text": "hi", "type": "start"}, "invalid", "type"),
    ]:
        async with http.post(messages, json=payload, headers=cors) as r:
            refused = (await r.json())["error"]
            assert (r.status, refused["code"], refused["field"]) == (STATUS[code], code, field)
    async with http.post(messages, data=b"{not json", headers=cors) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "bad_json"

    async def dribble() -> AsyncIterator[bytes]:  # a body in small chunks, length unknown
        for part in (b'{"id": "m2", ', b'"text": "sent in ', b'pieces"}'):
            yield part
            await asyncio.sleep(0.01)

    async with http.post(messages, data=dribble(), headers=cors) as r:
        assert r.status == 201, await r.text()

    async def flood() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1000

    async with http.post(messages, data=flood(), headers=cors) as r:
        assert (r.status, (await r.json())["error"]["field"]) == (413, "body")

    await offered_to_ann(daemon, rid)
    await daemon.store.accept(rid, "ann")
    await agent_says(daemon, rid, "Order 88 left today")
    poll = f"{base}/{conv}?site={SITE}&token={token}"
    async with http.get(poll, headers=cors) as r:
        view = await r.json()
    assert r.status == 200 and view["state"] == "assigned" and view["agent"] == "Ann Lee"
    assert view["position"] is None and view["next"] == 3
    assert [(m["seq"], m["from"], m["text"]) for m in view["messages"]] == [
        (1, "customer", "order 88"),
        (2, "customer", "sent in pieces"),
        (3, "agent", "Order 88 left today"),
    ]
    assert view["text"] == "where is my order?"
    async with http.get(f"{poll}&after=2", headers=cors) as r:
        later = await r.json()
        assert [m["seq"] for m in later["messages"]] == [3] and "text" not in later
    async with http.get(f"{poll}&after=3", headers=cors) as r:
        assert (await r.json())["messages"] == []
    for query, status, field in [
        ("&after=-1", 400, "after"),
        ("&after=x", 400, "after"),
    ]:
        async with http.get(poll + query, headers=cors) as r:
            assert (r.status, (await r.json())["error"]["field"]) == (status, field)
    async with http.get(f"{base}/{conv}?site={SITE}", headers=cors) as r:
        assert (r.status, (await r.json())["error"]["field"]) == (400, "token")
    async with http.get(f"{base}/{conv}?site={SITE}&token={'0' * 32}", headers=cors) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (403, "bad_token")
    async with http.get(f"{base}/{'0' * 24}?site={SITE}&token={token}", headers=cors) as r:
        assert r.status == 403  # another conversation's token opens nothing

    # the same conversation over a WebSocket, then ended over REST
    async with socket(http, daemon) as ws:
        await ws.send_json({"type": "resume", "conversation": conv, "token": token, "after": 3})
        assert (await frame(ws))["state"] == "assigned"
        assert await frame(ws) == {"type": "assigned", "agent": "Ann Lee"}
        async with http.post(f"{base}/{conv}/end?site={SITE}&token={token}", headers=cors) as r:
            assert r.status == 200 and (await r.json())["state"] == "abandoned"
        assert await expect(ws, "closed") == {"type": "closed", "state": "abandoned"}
    async with http.post(messages, json={"id": "m9", "text": "hello?"}, headers=cors) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (409, "closed")
    async with http.post(messages, json={"id": "m1", "text": "order 88"}, headers=cors) as r:
        assert r.status == 200 and (await r.json())["duplicate"] is True


async def test_a_message_in_a_completed_conversation_reopens_it_for_its_agent(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    cors = {"Origin": ORIGIN}
    base = url(daemon, "/v1/chat/conversations")
    async with http.post(f"{base}?site={SITE}", json={"text": "refund?"}, headers=cors) as r:
        started = await r.json()
    conv, token, rid = started["conversation"], started["token"], started["request"]
    await offered_to_ann(daemon, rid)
    await daemon.store.accept(rid, "ann")
    await daemon.store.complete(rid, "ann", "answered")
    messages = f"{base}/{conv}/messages?site={SITE}&token={token}"
    # within reopen_within (chat: 30m by default) the customer's message reopens the request
    async with http.post(messages, json={"id": "r1", "text": "one more thing"}, headers=cors) as r:
        assert r.status == 201, await r.text()

    async def offered_again() -> bool:
        record = await daemon.store.get(rid)
        return record is not None and record.state is State.OFFERED and record.agent == "ann"

    await until(offered_again, f"{rid} reopened and offered to its last agent")
    reopened = [e for e in await daemon.events.range() if e.type.value == "reopened"]
    assert [(e.request, e.agent, e.data["channel"]) for e in reopened] == [(rid, "ann", "chat")]


async def test_the_widget_and_demo_page_are_served(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    async with http.get(url(daemon, "/chat/chat.js")) as r:
        script = await r.text()
        assert r.status == 200 and r.content_type == "application/javascript"
    assert "/v1/chat/ws" in script and "/v1/chat/conversations" in script
    assert "sessionStorage" in script and "data-site" in script
    async with http.get(url(daemon, "/chat/")) as r:
        page = await r.text()
        assert r.status == 200 and r.content_type == "text/html"
    assert "chat.js" in page
    async with http.get(url(daemon, f"/chat?site={SITE}"), allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == f"/chat/?site={SITE}"


async def test_the_rest_fallback_is_in_the_api_document(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    async with http.get(url(daemon, "/v1/openapi.json")) as r:
        paths = (await r.json())["paths"]
    start = paths["/v1/chat/conversations"]["post"]
    assert start["security"] == [] and {"201", "200", "400", "403", "429", "503"} <= set(
        start["responses"]
    )
    assert start["requestBody"]["content"]["application/json"]["schema"]["required"] == ["text"]
    assert set(paths["/v1/chat/conversations/{id}"]) == {"get"}
    for path in ("/v1/chat/conversations/{id}/messages", "/v1/chat/conversations/{id}/end"):
        (operation,) = paths[path].values()
        names = {p["name"] for p in operation["parameters"]}
        assert names == {"id", "site", "token"} and operation["security"] == []


async def test_redis_down_is_503_with_retry_after(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="no")
    server.start()
    try:
        async with running(server.url) as d, aiohttp.ClientSession() as http:
            server.stop()
            rest = url(d, f"/v1/chat/conversations?site={SITE}")
            async with http.post(rest, json={"text": "hi"}, headers={"Origin": ORIGIN}) as r:
                body = await r.json()
                assert r.status == 503 and body["error"]["code"] == "unavailable"
                assert body["error"]["field"] is None  # as every chat refusal: the field named
                assert int(r.headers["Retry-After"]) > 0
                assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
            async with socket(http, d) as ws:
                await ws.send_json({"type": "start", "text": "hi"})
                refused = await frame(ws)
                assert (refused["type"], refused["code"]) == ("error", "unavailable")
                assert refused["retry_after_s"] > 0
    finally:
        server.stop()


async def test_an_idle_conversation_is_abandoned_an_open_socket_is_not(
    redis, redis_server, http: aiohttp.ClientSession
) -> None:
    async with running(redis_server.url, "    idle_timeout: 1s\n") as d:
        async with socket(http, d) as ws:
            kept = await start(ws)
            rest = url(d, f"/v1/chat/conversations?site={SITE}")
            async with http.post(rest, json={"text": "hi"}, headers={"Origin": ORIGIN}) as r:
                left = await r.json()

            async def abandoned(rid: str) -> bool:
                record = await d.store.get(rid)
                return record is not None and record.state is State.ABANDONED

            await until(lambda: abandoned(left["request"]), "the idle conversation abandoned")
            # started earlier than the abandoned one, but its socket is open
            record = await d.store.get(kept["request"])
            assert record is not None and record.state is State.WAITING
        await until(lambda: abandoned(kept["request"]), "abandoned once its socket closed")


async def test_a_customer_who_moved_to_another_daemon_is_not_idle(
    redis, redis_server, http: aiohttp.ClientSession
) -> None:
    async with (
        running(redis_server.url, "    idle_timeout: 1s\n") as first,
        running(redis_server.url, "    idle_timeout: 1s\n") as second,
    ):
        async with socket(http, first) as ws:
            started = await start(ws)
        rid = started["request"]
        resume = {"type": "resume", "conversation": started["conversation"]}
        async with socket(http, second) as ws:  # behind a load balancer: the other daemon
            await ws.send_json(resume | {"token": started["token"]})
            assert (await expect(ws, "resumed"))["request"] == rid
            await asyncio.sleep(2.5)  # the first daemon has not heard them for 2.5 idle times
            record = await first.store.get(rid)
            assert record is not None and record.state is State.WAITING

        async def abandoned() -> bool:
            record = await first.store.get(rid)
            return record is not None and record.state is State.ABANDONED

        await until(abandoned, "abandoned once nobody hears from them")


# -- the frame parser ----------------------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = ["text", "id", "name", "contact", "topic", "language", "conversation", "token", "after"]
_frames = st.builds(
    lambda kind, fields: json.dumps({"type": kind, **fields}),
    st.sampled_from([*TYPES, "hello", ""]),
    st.dictionaries(st.sampled_from([*_FIELDS, "zz"]), _json_values, max_size=5),
)
_anything = st.text(max_size=300) | _frames


@settings(max_examples=500, deadline=None)
@given(_anything)
@example("[" * 100_000)
@example('{"type": "start", "text": "\\udfff"}')
@example('{"type": "message", "id": "m", "text": "\\u0000"}')
@example('{"type": "resume", "conversation": "x", "token": "y", "after": 1e400}')
@example("1" * 5000)
def test_any_text_decodes_to_a_frame_or_one_error(text: str) -> None:
    try:
        decode(text, MAX_BYTES)
    except ChatError as exc:
        reply = json.loads(json.dumps(exc.frame()))
        assert reply["type"] == "error" and reply["code"] in STATUS and reply["message"]


def test_any_frame_on_a_socket_gets_a_reply(redis_server: EmbeddedRedis) -> None:
    """Every text frame is answered with a frame; the connection never just drops. One daemon
    on its own event loop serves every example."""
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()

    async def setup() -> tuple[Daemon, aiohttp.ClientSession]:
        d = await stack.enter_async_context(running(redis_server.url))
        return d, await stack.enter_async_context(aiohttp.ClientSession())

    try:
        d, http = loop.run_until_complete(setup())

        async def one(text: str) -> dict[str, Any]:
            async with socket(http, d) as ws:
                await ws.send_str(text)
                reply = await frame(ws)
                await ws.send_json({"type": "ping"})
                assert (await expect(ws, "pong")) == {"type": "pong"}
                return reply

        @settings(max_examples=150, deadline=None)
        @given(_anything)
        @example('{"type": "start", "text": "\\ud800"}')
        @example('{"type": "start", "text": "hi", "contact": {"phone": "+1 (415) 555-2671"}}')
        def check(text: str) -> None:
            reply = loop.run_until_complete(one(text))
            assert reply["type"] in ("error", "pong", "started"), reply
            if reply["type"] == "error":
                assert reply["code"] in STATUS and reply["code"] not in ("internal", "unavailable")

        check()
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
