"""The whole desk in one test: a customer chats in, the dispatcher offers the chat to an agent on
the agent WebSocket, the agent accepts, they talk, the agent completes it, while a helpdesk
stand-in (Zendesk's documented API) gets the ticket and its assignee and a webhook receiver gets
every state change as a signed CloudEvent. Real daemon, Redis, HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web
from helpdesk_standins import ZendeskStandIn

from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.outbound.webhooks import verify_signature

AGENT_TOKEN = new_token()
SECRET = "e2e-webhook-secret-0123456789"
SITE = "site-e2e-000001"

CONFIG = """\
tenant: e2e
redis: {{url: "{redis}"}}
http: {{port: 0}}
skills: [billing]
queues:
  chat: {{offer_timeout: 60s}}
default_queue: chat
agents:
  - {{id: ann, name: Ann Lee, skills: {{billing: 4}}, capacity: {{chat: 1}}, presence: offline}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {token}}}
channels:
  chat:
    sites: [{{key: {site}}}]
helpdesks:
  - {{name: zendesk, kind: zendesk, url: "{zendesk}", email: api@example.com, token: zd-token,
     agents: {{ann: 901}}, states: {{completed: solved}}}}
events:
  webhooks:
    - {{name: crm, url: "{hook}", secret: {secret}, timeout: 5s}}
"""


async def _next(ws, kind: str, timeout_s: float = 15.0) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await ws.receive_json()
            if frame["type"] == kind:
                return frame


async def _until(check, timeout_s: float = 15.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def test_chat_to_agent_to_helpdesk_and_webhooks(redis, redis_server, aiohttp_server) -> None:
    zendesk = ZendeskStandIn()
    zd_server = await aiohttp_server(zendesk.app(), host="127.0.0.1")
    zendesk.url = str(zd_server.make_url("")).rstrip("/")
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(SECRET, request.headers.get("X-Frontdesk-Timestamp"), body,
                              request.headers.get("X-Frontdesk-Signature"))  # fmt: skip
        if not ok:
            return web.Response(status=401)
        received.append(json.loads(body))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    hook_server = await aiohttp_server(receiver, host="127.0.0.1")

    hook_url = hook_server.make_url("/hook")
    text = CONFIG.format(redis=redis_server.url, token=digest(AGENT_TOKEN), site=SITE,
                         zendesk=zendesk.url, hook=hook_url, secret=SECRET)  # fmt: skip
    daemon = Daemon(parse_settings(text, "e2e.yaml"), "e2e.yaml")
    await daemon.start()
    assert daemon.address is not None
    base = f"http://127.0.0.1:{daemon.address[1]}"
    try:
        async with aiohttp.ClientSession(base) as http:
            agent = await http.ws_connect(
                "/v1/agents/ws", headers={"Authorization": f"Bearer {AGENT_TOKEN}"}
            )
            await _next(agent, "hello")
            await agent.send_json({"type": "presence", "presence": "available"})
            await _next(agent, "result")

            customer = await http.ws_connect(f"/v1/chat/ws?site={SITE}")
            await customer.send_json({"type": "start", "name": "Wu Lei",
                                      "contact": {"email": "wu@example.com"},
                                      "text": "我的发票开错了"})  # fmt: skip
            request_id = (await _next(customer, "started"))["request"]

            offer = await _next(agent, "offer")
            assert offer["request"]["id"] == request_id
            await agent.send_json({"type": "accept", "request": request_id})
            accepted = (await _next(agent, "result"))["request"]
            assert accepted["body"] == "我的发票开错了" and accepted["agent"] == "ann"
            assert (await _next(customer, "assigned"))["agent"] == "Ann Lee"

            await agent.send_json({"type": "messages", "request": request_id,
                                   "text": "您好, 请告诉我发票号"})  # fmt: skip
            await _next(agent, "result")
            said = await _next(customer, "message")
            assert (said["from"], said["text"]) == ("agent", "您好, 请告诉我发票号")
            await customer.send_json({"type": "message", "id": "m-1", "text": "INV-114"})
            heard = await _next(agent, "message")
            assert (heard["request"], heard["body"]) == (request_id, "INV-114")

            await agent.send_json({"type": "complete", "request": request_id,
                                   "resolution": "solved"})  # fmt: skip
            assert (await _next(agent, "result"))["request"]["state"] == "completed"
            assert (await _next(customer, "closed"))["state"] == "completed"
            await customer.close()
            await agent.close()

        def tickets_done() -> bool:
            return any(t.get("assignee_id") == 901 and t.get("status") == "solved"
                       for t in zendesk.tickets.values())  # fmt: skip

        await _until(tickets_done)
        assert len(zendesk.tickets) == 1
        (ticket,) = zendesk.tickets.values()
        assert ticket["external_id"] == request_id

        wanted = {f"io.frontdesk.request.{t}"
                  for t in ("enqueued", "offered", "accepted", "message", "completed")}  # fmt: skip

        def all_events() -> bool:
            return wanted <= {e["type"] for e in received if e["subject"] == request_id}

        await _until(all_events)
        mine = [e for e in received if e["subject"] == request_id]
        assert len({e["id"] for e in mine}) == len(mine)
        order = [e["type"].rsplit(".", 1)[1] for e in mine if e["type"] in wanted]
        assert order.index("enqueued") < order.index("offered") < order.index("accepted")
        assert order[-1] == "completed"
        assert all(e["specversion"] == "1.0" and e["source"] == "frontdesk/e2e" for e in mine)

        def delivered(sink: str) -> float:
            labels = {"sink": sink, "outcome": "delivered"}
            found = daemon.metrics.registry.get_sample_value(
                "frontdesk_outbox_deliveries_total", labels
            )
            return found or 0.0

        assert delivered("crm") >= len(mine)  # and the agent's and customer's own events
        assert delivered("zendesk") >= 1
        async with aiohttp.ClientSession(base) as http, http.get("/metrics") as metrics:
            text = await metrics.text()
        assert 'frontdesk_outbox_backlog{sink="crm"}' in text
        assert 'frontdesk_outbox_dead_letters{sink="zendesk"} 0.0' in text
    finally:
        await daemon.stop()
