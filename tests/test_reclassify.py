"""Reclassify: a supervisor or the agent holding a request corrects its category, priority and
skills after intake; a waiting one is routed again with them (and offered to the agent who now
matches), an event `reclassified` with before and after either way; unknown skills and
categories are 400s naming the field, with nothing changed. Real Redis, HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from api_daemon import call as call_api
from api_daemon import client, frame, running

from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound

TOKENS = {name: new_token() for name in ("ann", "bob", "sup")}
CONFIG = f"""\
tenant: recl
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing, network, legal]
queues:
  chat: {{offer_timeout: 30s}}
default_queue: chat
agents:
  - {{id: ann, skills: {{billing: 4}}, capacity: {{chat: 2}}, presence: available}}
  - {{id: bob, skills: {{network: 3}}, capacity: {{chat: 2}}, presence: available}}
rules:
  - name: lawyers
    when: {{keywords: [律师]}}
    then: {{category: legal-advice, skills: {{legal: 2}}}}
  - name: bills
    when: {{keywords: [账单]}}
    then: {{category: orders, skills: {{billing: 2}}}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    async with running(CONFIG, redis_server.url, "r.yaml") as d:
        yield d


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    async with client(daemon) as session:
        yield session


async def call(http, path: str, who: str, body=None) -> tuple[int, dict]:
    return await call_api(http, "POST", path, TOKENS[who], body)


async def chat(daemon: Daemon, ext: str, text: str) -> str:
    customer = Customer(name="Zhao", email=f"{ext}@example.com")
    inbound = Inbound(Request("", Channel.CHAT, "", external_id=ext, body=text, customer=customer))
    return (await daemon.front.receive(inbound)).request_id


async def reclassified(daemon: Daemon, rid: str) -> list[dict]:
    events = await daemon.events.range()
    return [e.data for e in events if e.type is EventType.RECLASSIFIED and e.request == rid]


async def test_a_waiting_requests_new_skills_route_it_to_the_agent_who_matches(
    daemon: Daemon, http
) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['bob']}"}
    async with http.ws_connect("/v1/agents/ws", headers=headers) as ws:
        await frame(ws, "hello")
        rid = await chat(daemon, "c1", "我想找律师, 网络断了")  # needs legal: nobody has it
        record = await daemon.store.get(rid)
        assert record is not None and record.state.value == "waiting"
        assert [s.name for s in record.request.skills] == ["legal"]

        status, body = await call(http, f"/v1/requests/{rid}/reclassify", "sup",
                                  {"skills": [{"name": "network", "min_level": 2}],
                                   "priority": "high"})  # fmt: skip
        assert status == 200, body
        assert body["skills"] == [{"name": "network", "min_level": 2, "optional": False}]
        offer = await frame(ws, "offer")  # routed again: bob has network
    assert offer["request"]["id"] == rid and offer["request"]["priority"] == "high"
    record = await daemon.store.get(rid)
    assert record is not None and record.agent == "bob"
    assert record.request.category == "legal-advice"  # kept: only the skills were given
    (event,) = await reclassified(daemon, rid)
    assert event["routed"] == "1" and event["by"] == "supervisor:sup"
    before, after = json.loads(event["before"]), json.loads(event["after"])
    assert before["skills"][0]["name"] == "legal" and before["priority"] == "medium"
    assert after["skills"][0]["name"] == "network" and after["priority"] == "high"


async def test_the_holder_reclassifies_a_held_request_and_others_may_not(
    daemon: Daemon, http
) -> None:
    rid = await chat(daemon, "c2", "账单有问题")  # billing: offered to ann
    for _ in range(500):
        record = await daemon.store.get(rid)
        if record is not None and record.agent == "ann":
            break
        await asyncio.sleep(0.02)
    status, _ = await call(http, f"/v1/requests/{rid}/accept", "ann", {})
    assert status == 200
    path = f"/v1/requests/{rid}/reclassify"
    status, body = await call(http, path, "bob", {"category": "legal-advice"})
    assert status == 403 and body["error"]["code"] == "not_your_request"

    status, body = await call(http, path, "ann", {"category": "legal-advice"})
    assert status == 200 and body["category"] == "legal-advice" and body["agent"] == "ann"
    assert body["state"] == "assigned" and [s["name"] for s in body["skills"]] == ["billing"]
    (event,) = await reclassified(daemon, rid)
    assert event["routed"] == "0" and event["by"] == "ann"
    assert json.loads(event["before"])["category"] == "orders"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skills": [{"name": "juggling"}]}, "skills[0].name"),
        ({"skills": ["network", {"name": "legal", "min_level": 9}]}, "skills[1].min_level"),
        ({"skills": "network"}, "skills"),
        ({"category": "astrology"}, "category"),
        ({"priority": "urgent"}, "priority"),
        ({}, "category"),
    ],
)
async def test_bad_reclassifications_are_400s_naming_the_field(
    daemon: Daemon, http, body, field
) -> None:
    rid = await chat(daemon, "c3", "我想找律师")
    status, answer = await call(http, f"/v1/requests/{rid}/reclassify", "sup", body)
    assert status == 400 and answer["error"]["field"] == field, answer
    record = await daemon.store.get(rid)
    assert record is not None and [s.name for s in record.request.skills] == ["legal"]
    assert record.request.category == "legal-advice" and await reclassified(daemon, rid) == []
