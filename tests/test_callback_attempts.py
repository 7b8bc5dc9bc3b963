"""Phone callbacks: the customer's status view says when they will be called (`call_at`); the
agent records each call attempt and its outcome over the WebSocket or the API; a missed call
waits (not offered) until `callbacks.retry_after`, then is routed again; after
`callbacks.max_attempts` missed calls (or a wrong number) the request is completed with the
outcome. Real Redis, HTTP and WebSocket; the callbacks come in through the signed webhook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from api_daemon import call as call_api
from api_daemon import client, frame, running

from frontdesk.channels.phone import signed_headers
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound

SECRET = "s3cret-shared-with-the-ivr"
TOKENS = {name: new_token() for name in ("ann", "sup")}
CONFIG = f"""\
tenant: calls
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues:
  general: {{}}
  phone-callback: {{offer_timeout: 60s}}
default_queue: general
agents:
  - {{id: ann, name: Ann Lee, capacity: {{phone: 1, chat: 1}}, presence: available}}
rules:
  - name: callbacks
    when: {{channel: phone}}
    then: {{queue: phone-callback}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
callbacks: {{retry_after: 1s, max_attempts: 2}}
channels:
  phone:
    secret: {SECRET}
    default_country: "86"
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    async with running(CONFIG, redis_server.url, "c.yaml") as d:
        yield d


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    async with client(daemon) as session:
        yield session


async def callback(http, number: str, **more: Any) -> dict[str, Any]:
    raw = json.dumps({"number": number, "name": "李娜", "reason": "请回电", **more}).encode()
    headers = {"Content-Type": "application/json"} | signed_headers(SECRET, raw)
    async with http.post("/v1/callbacks", data=raw, headers=headers) as response:
        assert response.status == 201, await response.text()
        return await response.json()  # type: ignore[no-any-return]


async def post(http, path: str, who: str, body: dict[str, Any]) -> tuple[int, Any]:
    return await call_api(http, "POST", path, TOKENS[who], body)


async def test_a_held_callback_says_when_it_will_be_called(daemon: Daemon, http) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    until = start + timedelta(hours=2)
    receipt = await callback(
        http, "13800138001", window={"from": start.isoformat(), "to": until.isoformat()}
    )
    async with http.get(receipt["status_url"]) as response:
        view = await response.json()
    assert view["state"] == "waiting"
    assert datetime.fromisoformat(view["call_at"]) == start  # not "position 1, 0 s"
    assert view["estimated_wait_s"] > 3600


async def test_a_callback_outside_working_hours_is_called_at_the_first_working_hour(
    redis, redis_server
) -> None:
    now = datetime.now(UTC)
    opens = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    hours = f"{opens:%H}:00-{opens:%H}:59"  # one hour a day, opening 1 to 2 hours from now
    config = CONFIG + f'    working_hours: {{timezone: UTC, days: mon-sun, hours: "{hours}"}}\n'
    async with running(config, redis_server.url, "h.yaml") as d, client(d) as session:
        receipt = await callback(session, "13800138009")
        async with session.get(receipt["status_url"]) as response:
            view = await response.json()
        page_headers = {"Accept": "text/html", "Accept-Language": "en"}
        async with session.get(receipt["status_url"], headers=page_headers) as response:
            page = await response.text()
        assert f"We will call you at {opens:%Y-%m-%d %H:%M} UTC." in page
        assert view["state"] == "waiting"
        call_at = datetime.fromisoformat(view["call_at"])
        assert call_at == opens  # the first working hour, not "position 1, 0 s"
        assert view["estimated_wait_s"] >= 60  # not 0 s: not before the call
        record = await d.store.get(receipt["id"])
        assert record is not None and record.agent is None  # ann is available: held, not offered


async def test_a_callback_is_retried_after_no_answer(daemon: Daemon, http) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ann']}"}
    async with http.ws_connect("/v1/agents/ws", headers=headers) as ws:
        await frame(ws, "hello")
        receipt = await callback(http, "13800138002")
        rid = receipt["id"]
        assert (await frame(ws, "offer"))["request"]["id"] == rid
        await ws.send_json({"type": "accept", "request": rid})
        assert (await frame(ws, "result"))["request"]["state"] == "assigned"

        await ws.send_json({"type": "call-attempts", "request": rid, "outcome": "no_answer"})
        result = (await frame(ws, "result"))["request"]
        assert result["state"] == "waiting" and result["agent"] is None
        assert result["call"]["attempt"] == 1 and result["call"]["outcome"] == "no_answer"
        retry_at = datetime.fromisoformat(result["call"]["retry_at"])
        async with http.get(receipt["status_url"]) as response:
            view = await response.json()
        record = await daemon.store.get(rid)
        assert record is not None and record.agent is None  # waits, not offered
        if view["state"] == "waiting":  # read before the retry time: it says when
            assert view["call_at"] is not None

        offer = await frame(ws, "offer")  # after the retry time, routed again
        assert offer["request"]["id"] == rid
    events = [e for e in await daemon.events.range() if e.request == rid]
    attempted = next(e for e in events if e.type is EventType.CALL_ATTEMPTED)
    assert attempted.data["outcome"] == "no_answer" and attempted.data["attempt"] == "1"
    assert attempted.data["retry_at"]
    after = [e for e in events if e.type is EventType.OFFERED and e.id > attempted.id]
    assert after and after[0].ts_ms >= int(retry_at.timestamp() * 1000) - 1  # not before it

    # the last attempt missed too: completed with the outcome (over the REST API this time)
    status, _ = await post(http, f"/v1/requests/{rid}/accept", "ann", {})
    assert status == 200
    status, done = await post(
        http, f"/v1/requests/{rid}/call-attempts", "ann", {"outcome": "busy", "note": "占线"}
    )
    assert status == 200, done
    assert done["state"] == "completed" and done["resolution"] == "callback: busy"
    assert done["call"] == {"attempt": 2, "outcome": "busy", "retry_at": None}
    outcomes = [
        (e.data["outcome"], e.data["note"])
        for e in await daemon.events.range()
        if e.type is EventType.CALL_ATTEMPTED and e.request == rid
    ]
    assert outcomes == [("no_answer", ""), ("busy", "占线")]


async def _held_by_ann(daemon: Daemon, http, rid: str) -> None:
    for _ in range(500):
        record = await daemon.store.get(rid)
        if record is not None and record.agent == "ann":
            break
        await asyncio.sleep(0.02)
    status, _ = await post(http, f"/v1/requests/{rid}/accept", "ann", {})
    assert status == 200


async def test_reached_wrong_number_and_refusals(daemon: Daemon, http) -> None:
    rid = (await callback(http, "13800138003"))["id"]
    await _held_by_ann(daemon, http, rid)
    path = f"/v1/requests/{rid}/call-attempts"
    status, body = await post(http, path, "ann", {"outcome": "maybe"})
    assert status == 400 and body["error"]["field"] == "outcome"
    status, body = await post(http, path, "ann", {"outcome": "reached"})
    assert status == 200 and body["state"] == "assigned" and body["call"]["attempt"] == 1
    status, body = await post(http, path, "ann", {"outcome": "wrong_number"})
    assert status == 200 and body["state"] == "completed"
    assert body["resolution"] == "callback: wrong_number"
    status, body = await post(http, path, "ann", {"outcome": "reached"})
    assert status == 409  # completed: nothing more to record

    customer = Customer(name="Zhao", email="z@example.com")
    chat = Request("", Channel.CHAT, "", external_id="x1", body="?", customer=customer)
    other = (await daemon.front.receive(Inbound(chat))).request_id
    await _held_by_ann(daemon, http, other)
    status, body = await post(http, f"/v1/requests/{other}/call-attempts", "ann",
                              {"outcome": "reached"})  # fmt: skip
    assert status == 409 and body["error"]["code"] == "wrong_state"  # no phone callback
