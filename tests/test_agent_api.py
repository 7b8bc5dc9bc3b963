"""Agents through the API and their WebSocket, on a running daemon: offers pushed, accepted,
answered, completed with wrap-up; presence, capacity, skills; supervisors' views and forced
assignment. Real Redis, real HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound

TOKENS = {name: new_token() for name in ("ann", "bob", "sup")}
CONFIG = f"""\
tenant: agents
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  chat: {{offer_timeout: 30s, escalate_to: l2}}
  l2: {{tier: 2}}
default_queue: chat
agents:
  - {{id: ann, skills: {{billing: 4}}, capacity: {{chat: 1}}, presence: offline}}
  - {{id: bob, skills: {{billing: 2}}, capacity: {{chat: 1}}, presence: offline}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    d = Daemon(parse_settings(CONFIG.replace("{url}", redis_server.url), "a.yaml"), "a.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def call(http, method: str, path: str, who: str, body=None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def frame(ws, kind: str, timeout_s: float = 10.0) -> dict:
    """The next frame of `kind` (others are skipped), within a bounded wait."""
    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.receive_json()
            if msg["type"] == kind:
                return msg


async def chat(daemon: Daemon, ext: str, text: str = "我要退款") -> str:
    customer = Customer(name="Zhao", email=f"{ext}@example.com")
    inbound = Inbound(Request("", Channel.CHAT, "", external_id=ext, body=text, customer=customer))
    return (await daemon.front.receive(inbound)).request_id


async def test_offer_pushed_accepted_answered_and_completed_over_the_socket(daemon, http) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ann']}"}
    async with http.ws_connect("/v1/agents/ws", headers=headers) as ws:
        hello = await frame(ws, "hello")
        assert hello["agent"] == "ann" and hello["work"] == []
        await ws.send_json({"type": "presence", "presence": "available"})
        assert (await frame(ws, "result"))["presence"] == "available"
        rid = await chat(daemon, "c1")
        offer = await frame(ws, "offer")
        assert offer["request"]["id"] == rid and offer["request"]["state"] == "offered"
        await ws.send_json({"type": "accept", "request": rid})
        accepted = (await frame(ws, "result"))["request"]
        assert accepted["state"] == "assigned" and accepted["body"] == "我要退款"
        assert accepted["customer"]["addresses"] == ["email:c1@example.com"]
        assert accepted["routing"]["queue"] == "chat"

        await chat(daemon, "c1-follow-up", "还在吗")  # a new chat from the same person...
        status, reply = await call(http, "POST", f"/v1/requests/{rid}/messages", "ann",
                                   {"text": "您好, 我来处理"})  # fmt: skip
        assert status == 200 and reply["messages"] == 1
        thread = await daemon.store.messages(rid)
        assert [(m.author, m.body) for m in thread] == [("agent", "您好, 我来处理")]

        await ws.send_json({"type": "complete", "request": rid, "resolution": "refunded",
                            "wrap_up_s": 0.5})  # fmt: skip
        done = (await frame(ws, "result"))["request"]
        assert done["state"] == "completed" and done["resolution"] == "refunded"
        # in wrap-up: the second chat waits, then is offered when the wrap-up ends
        second = await frame(ws, "offer")
        assert second["request"]["subject"] == "" and second["request"]["state"] == "offered"
        record = await daemon.store.get(second["request"]["id"])
        ann = await daemon.agents.get("ann")
        assert record is not None and ann is not None
        assert record.enqueued_ms < ann.wrap_until_ms <= ann.idle_since_ms


async def test_bad_frames_get_error_frames(daemon, http) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['bob']}"}
    async with http.ws_connect("/v1/agents/ws", headers=headers) as ws:
        await frame(ws, "hello")
        for bad, field in [("not json", None), ('{"type": "accept"}', "request"),
                           ('{"type": "accept", "request": "FD-9", "colour": 1}', "colour"),
                           ('{"type": "presence", "presence": "asleep"}', "presence")]:  # fmt: skip
            await ws.send_str(bad)
            error = await frame(ws, "error")
            assert error["field"] == field, (bad, error)
        await ws.send_json({"type": "accept", "request": "FD-404"})
        assert (await frame(ws, "error"))["code"] == "not_found"


async def test_socket_needs_an_agent_token(http) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/v1/agents/ws")
    assert refused.value.status == 401
    headers = {"Authorization": f"Bearer {TOKENS['sup']}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as forbidden:
        await http.ws_connect("/v1/agents/ws", headers=headers)
    assert forbidden.value.status == 403


async def test_a_browser_opens_the_socket_with_a_one_time_ticket(daemon, http) -> None:
    status, issued = await call(http, "POST", "/v1/agents/ws-ticket", "ann")
    assert status == 200 and issued["expires_in_s"] == 30
    assert issued["url"] == f"/v1/agents/ws?ticket={issued['ticket']}"
    stored = [k async for k in daemon.redis.scan_iter(match=daemon.store.keys.ws_ticket("*"))]
    assert len(stored) == 1 and issued["ticket"].encode() not in stored[0]  # only its digest
    assert 0 < await daemon.redis.ttl(stored[0]) <= 30
    async with http.ws_connect(issued["url"]) as ws:  # no Authorization header: a browser
        hello = await frame(ws, "hello")
        assert hello["agent"] == "ann"
    with pytest.raises(aiohttp.WSServerHandshakeError) as again:
        await http.ws_connect(issued["url"])  # one use only
    assert again.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as made_up:
        await http.ws_connect("/v1/agents/ws?ticket=fdw_made-up")
    assert made_up.value.status == 401
    status, body = await call(http, "POST", "/v1/agents/ws-ticket", "sup")
    assert status == 403 and body["error"]["code"] == "forbidden"  # agents' sockets only
    async with http.post("/v1/agents/ws-ticket") as response:
        assert response.status == 401


async def test_going_away_hands_back_offers_and_reject_goes_to_the_next(daemon, http) -> None:
    for who in ("ann", "bob"):
        status, _ = await call(http, "POST", f"/v1/agents/{who}/presence", who,
                               {"presence": "available"})  # fmt: skip
        assert status == 200
    rid = await chat(daemon, "c2")
    for _ in range(500):
        record = await daemon.store.get(rid)
        if record is not None and record.state.value == "offered":
            break
        await asyncio.sleep(0.02)
    assert record.agent == "ann"  # billing 4 beats 2 on the skill term... and both idle
    status, body = await call(http, "POST", "/v1/agents/ann/presence", "ann",
                              {"presence": "away", "reason": "lunch"})  # fmt: skip
    assert status == 200 and body["released_offers"] == [rid]
    for _ in range(500):
        record = await daemon.store.get(rid)
        if record is not None and record.agent == "bob":
            break
        await asyncio.sleep(0.02)
    assert record.agent == "bob" and record.state.value == "offered"
    status, body = await call(http, "POST", f"/v1/requests/{rid}/accept", "ann")
    assert status == 403 and body["error"]["code"] == "not_your_offer"
    status, body = await call(http, "POST", f"/v1/requests/{rid}/accept", "bob")
    assert status == 200 and body["agent"] == "bob"
    status, body = await call(http, "POST", f"/v1/requests/{rid}/escalate", "bob",
                              {"note": "needs L2"})  # fmt: skip
    assert status == 200 and body["queue"] == "l2" and body["tier"] == 2
    assert body["state"] == "waiting" and (await daemon.agents.get("bob")).load == {}


async def test_supervisor_views_profile_changes_and_forced_assignment(daemon, http) -> None:
    status, body = await call(http, "GET", "/v1/agents", "sup")
    assert status == 200 and [a["id"] for a in body["agents"]] == ["ann", "bob"]
    assert (await call(http, "GET", "/v1/agents", "ann"))[0] == 403
    assert (await call(http, "GET", "/v1/agents/bob", "ann"))[0] == 403

    rid = await chat(daemon, "c3")
    status, body = await call(http, "GET", "/v1/queues", "sup")
    chat_queue = next(q for q in body["queues"] if q["name"] == "chat")
    assert chat_queue["waiting"] == 1 and chat_queue["oldest_wait_s"] >= 0

    status, body = await call(http, "POST", f"/v1/requests/{rid}/assign", "sup",
                              {"agent": "bob", "reason": "VIP"})  # fmt: skip
    assert status == 200 and body["agent"] == "bob" and body["state"] == "assigned"
    status, body = await call(
        http, "PUT", "/v1/agents/bob/capacity", "sup", {"capacity": {"chat": 0}}
    )
    assert status == 409 and body["error"]["field"] == "capacity"
    status, body = await call(http, "PUT", "/v1/agents/bob/capacity", "sup",
                              {"capacity": {"chat": 2, "fax": 1}})  # fmt: skip
    assert status == 400 and body["error"]["field"] == "capacity.fax"
    status, body = await call(
        http, "PUT", "/v1/agents/bob/skills", "sup", {"skills": {"billing": 9}}
    )
    assert status == 400 and body["error"]["field"] == "skills.billing"
    status, body = await call(
        http, "PUT", "/v1/agents/bob/skills", "sup", {"skills": {"billing": 5}}
    )
    assert status == 200 and body["skills"] == {"billing": 5}
    status, body = await call(http, "POST", f"/v1/requests/{rid}/transfer", "bob",
                              {"queue": "nowhere"})  # fmt: skip
    assert status == 400 and body["error"]["field"] == "queue"
    status, body = await call(http, "POST", f"/v1/requests/{rid}/complete", "bob",
                              {"wrap_up_s": -1})  # fmt: skip
    assert status == 400 and body["error"]["field"] == "wrap_up_s"
