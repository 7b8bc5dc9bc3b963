"""Escalation reason codes: the config's `escalation.reasons` (a list of codes or a mapping code
-> label; the seed documents' six by default), `reason_code` on the escalate call (required here
by `require_reason: true`), carried by the `escalated` event; an unknown or missing code is a
400 naming `reason_code`, with nothing changed. Real Redis and HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from api_daemon import call as call_api
from api_daemon import client, running

from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.conf.escalation import DEFAULT_REASONS
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound

TOKENS = {name: new_token() for name in ("ann", "sup")}
BASE = f"""\
tenant: esc
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues:
  chat: {{offer_timeout: 30s, escalate_to: l2}}
  l2: {{tier: 2}}
default_queue: chat
agents:
  - {{id: ann, capacity: {{chat: 2}}, presence: available}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
"""
CONFIG = (
    BASE
    + """\
escalation:
  reasons: {complexity: 太复杂, no_kb_answer: 知识库没有答案, customer_agitated: 客户情绪激动}
  require_reason: true
"""
)


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    async with running(CONFIG, redis_server.url, "e.yaml") as d:
        yield d


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    async with client(daemon) as session:
        yield session


async def call(http, path: str, who: str, body=None) -> tuple[int, dict]:
    return await call_api(http, "POST", path, TOKENS[who], body)


async def escalations(daemon: Daemon, rid: str) -> list[dict]:
    events = await daemon.events.range()
    return [e.data for e in events if e.type is EventType.ESCALATED and e.request == rid]


async def _held(daemon: Daemon, http) -> str:
    customer = Customer(name="Zhao", email="z@example.com")
    inbound = Inbound(Request("", Channel.CHAT, "", external_id="e1", body="?", customer=customer))
    rid = (await daemon.front.receive(inbound)).request_id
    for _ in range(500):
        record = await daemon.store.get(rid)
        if record is not None and record.agent == "ann":
            break
        await asyncio.sleep(0.02)
    status, _ = await call(http, f"/v1/requests/{rid}/accept", "ann", {})
    assert status == 200
    return rid


async def test_an_escalation_carries_its_reason_code(daemon: Daemon, http) -> None:
    rid = await _held(daemon, http)
    path = f"/v1/requests/{rid}/escalate"
    for body in ({"reason_code": "time"}, {"note": "no code"}, {"reason_code": 3}):
        status, answer = await call(http, path, "ann", body)
        assert status == 400 and answer["error"]["field"] == "reason_code", answer
    record = await daemon.store.get(rid)
    assert record is not None and (record.request.tier, record.agent) == (1, "ann")
    assert await escalations(daemon, rid) == []  # refused: nothing changed

    status, answer = await call(
        http, path, "ann", {"reason_code": "no_kb_answer", "note": "知识库里没有这个型号"}
    )
    assert status == 200 and answer["tier"] == 2 and answer["queue"] == "l2"
    (event,) = await escalations(daemon, rid)
    assert event["reason_code"] == "no_kb_answer" and event["note"] == "知识库里没有这个型号"


def test_reasons_default_to_the_six_and_are_optional() -> None:
    base = BASE.replace("{url}", "redis://127.0.0.1:6379")
    settings = parse_settings(base, "b.yaml")
    assert list(settings.escalation.reasons) == list(DEFAULT_REASONS)
    assert set(DEFAULT_REASONS) == {
        "complexity", "time", "impact", "no_kb_answer", "customer_agitated", "needs_permission",
    }  # fmt: skip
    assert settings.escalation.require_reason is False
    listed = parse_settings(base + "escalation: {reasons: [time, impact]}\n", "l.yaml")
    assert listed.escalation.reasons == {"time": DEFAULT_REASONS["time"], "impact": "wide impact "
                                         "(many users, a key system down)"}  # fmt: skip
    with pytest.raises(ConfigError) as bad:
        parse_settings(base + "escalation: {reasons: [Too Slow], require_reason: 1}\n", "x.yaml")
    text = str(bad.value)
    assert "escalation.reasons[0]" in text and "escalation.require_reason" in text
