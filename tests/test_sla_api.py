"""Service levels through a whole daemon (its dispatcher, its SLA timer, its outbox): a chat
that no agent is free for breaches its first response; a signed webhook receiver gets the
breach; the request went up a band; the request view, the accept answer and the customer's status
page show the clocks; agents set a request pending and mark a complaint's stages done through
the API and the WebSocket; supervisors list what is at risk. Real Redis, real HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from test_webhooks_out import SECRET, running_receiver, until

from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound

TOKENS = {name: new_token() for name in ("ann", "sup")}
CONFIG = f"""\
tenant: slaapi
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing, complaints]
queues:
  chat: {{offer_timeout: 30s, escalate_to: l2}}
  complaints: {{mode: assign}}
  l2: {{tier: 2}}
default_queue: chat
agents:
  - {{id: ann, name: Ann, tier: 1, skills: {{billing: 4, complaints: 4}},
     capacity: {{chat: 2, email: 2}}, presence: offline}}
rules:
  - name: complaint
    when: {{keywords: [complaint]}}
    then: {{queue: complaints, category: complaint}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
notices:
  channels: [chat]
  events: [late]
  status_base_url: https://desk.example.com
events:
  webhooks:
    - {{name: crm, url: "{{hook}}", secret: "{SECRET}", types: ["io.frontdesk.sla.*"]}}
sla:
  tick: 50ms
  policies:
    - name: complaint
      when: {{category: complaint}}
      targets:
        investigation_started: 24h
        first_response: 48h
        investigation_done: 3d
        final_answer: 7d
    - name: chat
      when: {{channel: chat}}
      targets:
        first_response: 600ms
        resolution: 1h
      on_breach: [raise_priority, notify_customer]
"""


@pytest.fixture
async def hook() -> AsyncIterator[Any]:
    async with running_receiver() as receiver:
        yield receiver


@pytest.fixture
async def daemon(redis, redis_server, hook) -> AsyncIterator[Daemon]:
    text = CONFIG.replace("{url}", redis_server.url).replace("{hook}", hook.url)
    d = Daemon(parse_settings(text, "s.yaml"), "s.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def call(http, method: str, path: str, who: str, body=None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def arrive(daemon: Daemon, ext: str, text: str, channel: Channel = Channel.CHAT) -> Any:
    return await daemon.front.receive(
        Inbound(
            Request(
                "", channel, "help", body=text, external_id=ext,
                customer=Customer(email=f"{ext}@example.com"),
            )
        )
    )  # fmt: skip


def target(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in view["sla"]["targets"] if t["target"] == name)


async def test_a_chat_nobody_takes_breaches_and_everyone_hears_of_it(daemon, http, hook) -> None:
    receipt = await arrive(daemon, "c1", "where is my order")
    rid = receipt.request_id
    _, view = await call(http, "GET", f"/v1/requests/{rid}", "sup")
    assert view["sla"]["policy"] == "chat" and view["priority"] == "medium"
    assert target(view, "first_response")["state"] == "running"
    assert 0 < target(view, "first_response")["remaining_s"] <= 0.6

    def breach_delivered() -> bool:
        return any(d["type"] == "io.frontdesk.sla.breached" for d in hook.delivered)

    await until(breach_delivered, "the signed sla.breached webhook")
    doc = next(d for d in hook.delivered if d["type"] == "io.frontdesk.sla.breached")
    assert doc["subject"] == rid
    _, view = await call(http, "GET", f"/v1/requests/{rid}", "sup")
    assert view["priority"] == "high"  # raise_priority
    first = target(view, "first_response")
    assert first["breached"] is True and first["breached_at"] is not None

    async def told() -> list[Any]:
        thread = await daemon.store.messages(rid)
        return [m for m in thread if m.author == "system" and "late" in m.body]

    await until(told, "the customer's late notice in the chat")
    [notice] = await told()
    assert "first reply" in notice.body and rid in notice.body
    assert first["remaining_s"] < 0
    # the customer's status page tells them
    status = f"/v1/requests/{rid}/status?token={receipt.status_token}"
    async with http.get(status) as response:
        promised = (await response.json())["service_levels"]
    assert {p["target"]: p["breached"] for p in promised} == {
        "first_response": True, "resolution": False,
    }  # fmt: skip
    async with http.get(status, headers={"Accept": "text/html"}) as response:
        page = await response.text()
    assert "First reply: overdue" in page and "Resolution: promised by" in page
    # an agent takes it: the accept answer carries the clocks; the reply meets it, late
    status_code, _ = await call(http, "POST", "/v1/agents/ann/presence", "ann",
                                {"presence": "available"})  # fmt: skip
    assert status_code == 200

    async def offered() -> bool:
        record = await daemon.store.get(rid)
        return record is not None and record.state.value == "offered"

    await until(offered, "the offer to ann")
    code, accepted = await call(http, "POST", f"/v1/requests/{rid}/accept", "ann", {})
    assert code == 200 and target(accepted, "first_response")["breached"] is True
    code, _ = await call(http, "POST", f"/v1/requests/{rid}/messages", "ann", {"text": "sorry"})
    assert code == 200
    _, view = await call(http, "GET", f"/v1/requests/{rid}", "sup")
    assert target(view, "first_response")["state"] == "met"
    await until(
        lambda: any(
            d["type"] == "io.frontdesk.sla.met" and d["data"].get("breached") in ("1", True)
            for d in hook.delivered
        ),
        "sla.met (late) delivered",
    )


async def test_pending_on_the_customer_through_the_api_and_at_risk(daemon, http) -> None:
    await call(http, "POST", "/v1/agents/ann/presence", "ann", {"presence": "available"})
    rid = (await arrive(daemon, "p1", "refund please")).request_id
    code, risky = await call(http, "GET", "/v1/sla/at-risk?limit=5", "sup")
    assert code == 200
    assert [(r["request"], r["target"]) for r in risky["at_risk"]][:1] == [(rid, "first_response")]
    code, _ = await call(http, "GET", "/v1/sla/at-risk", "ann")
    assert code == 403
    code, bad = await call(http, "GET", "/v1/sla/at-risk?limit=0", "sup")
    assert code == 400 and bad["error"]["field"] == "limit"

    async def offered() -> bool:
        record = await daemon.store.get(rid)
        return record is not None and record.state.value == "offered"

    await until(offered, "the offer to ann")
    await call(http, "POST", f"/v1/requests/{rid}/accept", "ann", {})
    await call(http, "POST", f"/v1/requests/{rid}/messages", "ann", {"text": "order number?"})
    code, view = await call(http, "POST", f"/v1/requests/{rid}/pending", "ann",
                            {"reason": "asked for the order number"})  # fmt: skip
    assert code == 200 and view["state"] == "pending_customer"
    assert target(view, "resolution")["state"] == "paused"
    code, refused = await call(http, "POST", f"/v1/requests/{rid}/transfer", "ann",
                               {"queue": "l2"})  # fmt: skip
    assert code == 409
    code, view = await call(http, "POST", f"/v1/requests/{rid}/resume", "ann", {})
    assert code == 200 and view["state"] == "assigned"
    assert target(view, "resolution")["state"] == "running"
    code, refused = await call(http, "POST", f"/v1/requests/{rid}/resume", "ann", {})
    assert code == 409 and refused["error"]["code"] == "wrong_state"


async def test_a_complaints_stages_are_marked_done_one_by_one(daemon, http) -> None:
    await call(http, "POST", "/v1/agents/ann/presence", "ann", {"presence": "available"})
    rid = (await arrive(daemon, "k1", "I want to file a complaint", Channel.EMAIL)).request_id

    async def assigned() -> bool:
        record = await daemon.store.get(rid)
        return record is not None and record.state.value == "assigned"

    await until(assigned, "the complaint assigned to ann")
    _, view = await call(http, "GET", f"/v1/requests/{rid}", "sup")
    assert view["sla"]["policy"] == "complaint"
    stages = {t["target"]: t for t in view["sla"]["targets"]}
    assert set(stages) == {
        "investigation_started", "first_response", "investigation_done", "final_answer",
    }  # fmt: skip
    assert stages["investigation_started"]["within_s"] == 24 * 3600
    path = f"/v1/requests/{rid}/milestones"
    code, view = await call(http, "POST", path, "ann", {"target": "investigation_started"})
    assert code == 200 and target(view, "investigation_started")["state"] == "met"
    code, again = await call(http, "POST", path, "ann", {"target": "investigation_started"})
    assert code == 409 and again["error"]["code"] == "target_done"
    code, unknown = await call(http, "POST", path, "ann", {"target": "lunch"})
    assert code == 422 and unknown["error"]["field"] == "target"
    code, missing = await call(http, "POST", path, "ann", {})
    assert code == 400 and missing["error"]["field"] == "target"
    # the WebSocket takes the same verb
    code, ticket = await call(http, "POST", "/v1/agents/ws-ticket", "ann", {})
    assert code == 200
    async with http.ws_connect(f"/v1/agents/ws?ticket={ticket['ticket']}") as ws:
        await ws.send_json(
            {"type": "milestones", "request": rid, "target": "investigation_done", "note": "ok"}
        )
        while True:
            frame = await ws.receive_json(timeout=10)
            if frame["type"] in ("result", "error"):
                break
    assert frame["type"] == "result", frame
    assert target(frame["request"], "investigation_done")["state"] == "met"
    types = [e.type.value for e in await daemon.events.range()]
    assert types.count("milestone") == 2
