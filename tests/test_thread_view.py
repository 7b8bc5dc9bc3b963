"""The thread, read by the agent that holds a request: an email sent over real SMTP to an
assign-mode queue is assigned to an agent, who reads what the customer wrote in the `assigned`
frame of its WebSocket, in the request view and in the accept answer (accepting a request one
holds is idempotent). A long thread's frame is bounded. Real Redis, SMTP, HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest
from api_daemon import call as call_api
from api_daemon import client, frame, running

from frontdesk.queues.request import Message
from frontdesk.router.api.agent_ws import FRAME_CHARS, FRAME_MESSAGES
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.http.auth import digest, new_token
from frontdesk.skills import Presence

TOKENS = {name: new_token() for name in ("sup", "ann", "bob")}
CONFIG = f"""\
tenant: thread
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues:
  email: {{mode: assign}}
default_queue: email
agents:
  - {{id: ann, capacity: {{email: 2}}, presence: available}}
  - {{id: bob, capacity: {{email: 2}}, presence: offline}}
api:
  tokens:
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: desk.test
    addresses: {{support@example.com: {{}}}}
"""
TEXT = "我的订单 12345 一直没有发货, 请帮忙查一下。"


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    async with running(CONFIG, redis_server.url, "thread.yaml") as d:
        yield d


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    async with client(daemon) as session:
        yield session


def _send(d: Daemon, mail: EmailMessage) -> str:
    """The request the mail became, from the 250 reply to DATA."""
    smtp = next(c for c in d.channels if c.name == "smtp")
    with smtplib.SMTP(*smtp.address, timeout=30) as client:  # type: ignore[attr-defined]
        client.ehlo("client.test")
        assert client.mail("li@example.com")[0] == 250
        assert client.rcpt("support@example.com")[0] == 250
        code, reply = client.data(mail.as_bytes())
    assert code == 250, reply
    found = re.search(rb"FD-\d+", reply)
    assert found is not None
    return found[0].decode()


def _mail(message_id: str, body: str, in_reply_to: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "li@example.com", "support@example.com", "发货"
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    mail.set_content(body)
    return mail


async def _call(http, method: str, path: str, who: str, body=None) -> tuple[int, Any]:
    return await call_api(http, method, path, TOKENS[who], body)


async def test_an_assigned_emails_text_is_read_by_its_agent(daemon: Daemon, http) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ann']}"}
    async with http.ws_connect("/v1/agents/ws", headers=headers) as ws:
        await frame(ws, "hello")
        rid = await asyncio.to_thread(_send, daemon, _mail("<t-1@example.com>", TEXT))
        assigned = (await frame(ws, "assigned"))["request"]
    assert assigned["id"] == rid and assigned["agent"] == "ann"
    assert TEXT in assigned["body"] and assigned["thread"] == []
    assert assigned["thread_omitted"] == 0 and "attributes" in assigned

    reply = _mail("<t-2@example.com>", "补充: 收货地址是北京", "<t-1@example.com>")
    assert await asyncio.to_thread(_send, daemon, reply) == rid  # joined its request
    status, view = await _call(http, "GET", f"/v1/requests/{rid}", "ann")
    assert status == 200 and view["state"] == "assigned"
    assert TEXT in view["body"] and isinstance(view["attributes"], dict)
    (follow_up,) = view["thread"]
    assert follow_up["author"] == "customer" and "北京" in follow_up["body"]
    assert follow_up["auto"] is None and follow_up["at"] is not None
    assert follow_up["attachments"] == []

    # held already (assign mode): accept is idempotent for its holder and answers the thread
    for _ in range(2):
        status, accepted = await _call(http, "POST", f"/v1/requests/{rid}/accept", "ann", {})
        assert status == 200, accepted
        assert accepted["state"] == "assigned" and TEXT in accepted["body"]
        (again,) = accepted["thread"]
        assert again["body"].strip().endswith("补充: 收货地址是北京")
    status, refused = await _call(http, "POST", f"/v1/requests/{rid}/accept", "bob", {})
    assert status == 409 and refused["error"]["code"] == "wrong_state"  # not bob's
    status, _ = await _call(http, "GET", f"/v1/requests/{rid}", "bob")
    assert status == 404  # an agent sees only what it holds


async def test_a_long_threads_assigned_frame_is_bounded(daemon: Daemon, http) -> None:
    await daemon.agents.set_presence("ann", Presence.AWAY)  # the mail waits
    rid = await asyncio.to_thread(_send, daemon, _mail("<t-3@example.com>", "x" * 9000))
    for i in range(FRAME_MESSAGES + 5):
        await daemon.store.append_message(rid, Message(f"{i} " + "y" * 5000, received_at=1.0))
    headers = {"Authorization": f"Bearer {TOKENS['bob']}"}
    async with http.ws_connect("/v1/agents/ws", headers=headers) as ws:
        await frame(ws, "hello")
        status, _ = await _call(http, "POST", f"/v1/requests/{rid}/assign", "sup", {"agent": "bob"})
        assert status == 200
        assigned = (await frame(ws, "assigned"))["request"]
    assert assigned["id"] == rid and assigned["body_truncated"] is True
    assert len(assigned["body"]) == FRAME_CHARS
    assert len(assigned["thread"]) == FRAME_MESSAGES and assigned["thread_omitted"] == 5
    assert assigned["thread"][0]["body"].startswith("5 ")  # the newest ones
    assert all(m["truncated"] and len(m["body"]) == FRAME_CHARS for m in assigned["thread"])
    status, view = await _call(http, "GET", f"/v1/requests/{rid}", "bob")  # the view: all
    assert status == 200 and len(view["thread"]) == FRAME_MESSAGES + 5
    assert view["thread_omitted"] == 0 and len(view["body"].strip()) == 9000
