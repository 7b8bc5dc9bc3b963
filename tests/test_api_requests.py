"""GET /v1/requests/{id}: scoped tokens (on the API alone), and on a running daemon, whose
dispatcher makes the offers, position, wait and explanation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from api_services import api_app

from frontdesk.queues.request import Channel, Request, SkillRequirement
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.skills import Presence

TOKENS = {name: new_token() for name in ("sup", "ann", "bob", "hd")}

CONFIG = f"""\
tenant: api
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  chat: {{offer_timeout: 60s}}
default_queue: chat
agents:
  - {{id: ann, skills: {{billing: 4}}, capacity: {{chat: 1}}, presence: offline}}
  - {{id: bob, skills: {{billing: 2}}, capacity: {{chat: 1}}, presence: offline}}
api:
  tokens:
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
    - {{name: hd, scope: integration, sha256: {digest(TOKENS["hd"])}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    settings = parse_settings(CONFIG.replace("{url}", redis_server.url), "api.yaml")
    d = Daemon(settings, "api.yaml")
    await d.start()
    yield d
    await d.stop()


async def _get(d: Daemon, path: str, token: str | None) -> tuple[int, dict]:
    assert d.address is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{d.address[1]}{path}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.json()


async def _until(predicate, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_tokens_are_required_and_scoped(redis, store, agents, aiohttp_client) -> None:
    """On create_app(services) alone: no routing is needed to look a request up."""
    settings = parse_settings(CONFIG.replace("{url}", "redis://unused"), "api.yaml")
    http = await aiohttp_client(await api_app(settings, redis, store, agents))

    async def get(path: str, token: str | None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.get(path, headers=headers) as response:
            return response.status, await response.json()

    rid = (await store.enqueue(Request("", Channel.CHAT, "chat", subject="发票"))).id
    assert (await get(f"/v1/requests/{rid}", None))[0] == 401
    status, body = await get(f"/v1/requests/{rid}", "fdt_wrong")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    for name in ("sup", "hd"):
        status, body = await get(f"/v1/requests/{rid}", TOKENS[name])
        assert status == 200 and body["id"] == rid and body["subject"] == "发票"
    status, body = await get(f"/v1/requests/{rid}", TOKENS["ann"])
    assert status == 404 and body["error"]["code"] == "not_found"  # not ann's request
    status, body = await get("/v1/requests/FD-999999", TOKENS["sup"])
    assert status == 404 and "FD-999999" in body["error"]["message"]


async def test_waiting_requests_show_position_and_the_offer_shows_why(daemon: Daemon) -> None:
    need = (SkillRequirement("billing", 2),)
    ids = [
        (await daemon.store.enqueue(Request("", Channel.CHAT, "chat", skills=need))).id
        for _ in range(3)
    ]
    positions = [(await _get(daemon, f"/v1/requests/{r}", TOKENS["sup"]))[1] for r in ids]
    assert [p["position"] for p in positions] == [1, 2, 3]
    assert all(p["state"] == "waiting" and p["estimated_wait_s"] is None for p in positions)

    await daemon.agents.set_presence("ann", Presence.AVAILABLE)
    await daemon.agents.set_presence("bob", Presence.AVAILABLE)

    async def two_offered() -> bool:
        records = [await daemon.store.get(r) for r in ids]
        return sum(r is not None and r.state.value == "offered" for r in records) == 2

    await _until(two_offered)
    status, first = await _get(daemon, f"/v1/requests/{ids[0]}", TOKENS["ann"])
    assert status == 200 and first["agent"] == "ann" and first["state"] == "offered"
    routing = first["routing"]
    assert routing["queue"] == "chat" and routing["window"] == {"waiting": 3, "agents": 2}
    assert routing["score"]["skill"] == pytest.approx(2 / 3)  # (4 - 2) / (5 - 2)
    assert first["offer_deadline"] is not None and first["position"] is None
    status, third = await _get(daemon, f"/v1/requests/{ids[2]}", TOKENS["sup"])
    assert third["state"] == "waiting" and third["position"] == 1

    await daemon.store.accept(ids[0], "ann")
    await daemon.store.complete(ids[0], "ann", "solved")

    async def third_offered() -> bool:
        record = await daemon.store.get(ids[2])
        return record is not None and record.agent == "ann"

    await _until(third_offered)
    status, done = await _get(daemon, f"/v1/requests/{ids[0]}", TOKENS["sup"])
    assert done["state"] == "completed" and done["resolution"] == "solved"
