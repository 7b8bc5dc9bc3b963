"""The screens over plain HTTP, on a running daemon (real Redis, real HTTP): sign-in with a token
turned into a session cookie, the cookie calling the API with its CSRF header, sign-out, expiry,
scopes, the pages' security headers, the thread endpoint a desk reloads from, and the wall's
live feed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound
from frontdesk.router.screens.session import COOKIE, CSRF_HEADER
from frontdesk.skills import Presence

TOKENS = {name: new_token() for name in ("ann", "sup", "admin", "ops")}
CONFIG = f"""\
tenant: screens
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  chat: {{offer_timeout: 30s}}
default_queue: chat
agents:
  - {{id: ann, name: Ann Lee, skills: {{billing: 4}}, capacity: {{chat: 2}}, presence: offline}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: admin, scope: admin, sha256: {digest(TOKENS["admin"])}}}
    - {{name: ops, scope: integration, sha256: {digest(TOKENS["ops"])}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    d = Daemon(parse_settings(CONFIG.replace("{url}", redis_server.url), "s.yaml"), "s.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def base(daemon: Daemon) -> str:
    assert daemon.address is not None
    return f"http://127.0.0.1:{daemon.address[1]}"


@pytest.fixture
async def browser(base: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies as a browser does (for 127.0.0.1 too)."""
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


async def sign_in(http: aiohttp.ClientSession, who: str, screen: str = "desk") -> dict:
    async with http.post("/screens/sign-in", json={"token": TOKENS[who], "screen": screen}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def chat(daemon: Daemon, ext: str, text: str = "我的发票有问题") -> str:
    customer = Customer(name="Wu Lei", email="wu@example.com")
    inbound = Inbound(Request("", Channel.CHAT, "", external_id=ext, body=text, customer=customer))
    return (await daemon.front.receive(inbound)).request_id


async def test_a_wrong_token_is_refused_and_a_right_one_gets_a_strict_cookie(browser) -> None:
    async with browser.post("/screens/sign-in", json={"token": "fdt_nope", "screen": "desk"}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["field"] == "token"
        assert COOKIE not in r.cookies
    async with browser.post("/screens/sign-in", json={"screen": "desk"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "token"
    async with browser.post("/screens/sign-in", json={"token": TOKENS["ann"], "screen": "x"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "screen"
    async with browser.post(
        "/screens/sign-in", json={"token": TOKENS["ann"], "screen": "desk"}
    ) as r:
        assert r.status == 200
        who = await r.json()
        cookie = r.cookies[COOKIE]
        header = r.headers["Set-Cookie"]
    assert who["agent"] == "ann" and who["scope"] == "agent" and len(who["csrf"]) >= 32
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert "Secure" not in header  # plain http here: a Secure cookie would never come back
    assert TOKENS["ann"] not in header and cookie.value != who["csrf"]
    async with browser.get("/screens/session?screen=desk") as r:
        assert r.status == 200 and (await r.json())["csrf"] == who["csrf"]


async def test_the_cookie_calls_the_api_and_a_change_needs_the_csrf_header(browser, daemon) -> None:
    who = await sign_in(browser, "ann")
    async with browser.get("/v1/agents/ann") as r:  # a read: the cookie alone
        assert r.status == 200 and (await r.json())["presence"] == "offline"
    body = {"presence": "available"}
    async with browser.post("/v1/agents/ann/presence", json=body) as r:
        assert r.status == 403
        error = (await r.json())["error"]
        assert error["field"] == CSRF_HEADER and CSRF_HEADER in error["message"]
    async with browser.post("/v1/agents/ann/presence", json=body,
                            headers={CSRF_HEADER: "x" * len(who["csrf"])}) as r:  # fmt: skip
        assert r.status == 403
    evil = {CSRF_HEADER: who["csrf"], "Origin": "https://evil.example"}
    async with browser.post("/v1/agents/ann/presence", json=body, headers=evil) as r:
        assert r.status == 403 and (await r.json())["error"]["field"] == "Origin"
    assert (await daemon.agents.get("ann")).presence.value == "offline"  # nothing changed
    own = {CSRF_HEADER: who["csrf"], "Origin": str(browser._base_url)}
    async with browser.post("/v1/agents/ann/presence", json=body, headers=own) as r:
        assert r.status == 200 and (await r.json())["presence"] == "available"
    async with browser.post("/v1/agents/ws-ticket", headers=own) as r:  # the desk's socket
        assert r.status == 200 and (await r.json())["ticket"].startswith("fdw_")


async def test_bearer_tokens_work_as_before_and_a_wrong_bearer_is_not_saved_by_a_cookie(
    browser, base
) -> None:
    await sign_in(browser, "ann")
    async with browser.get("/v1/agents/ann", headers={"Authorization": "Bearer fdt_bad"}) as r:
        assert r.status == 401  # a bearer given is the credential: the cookie is not read
    async with aiohttp.ClientSession(base) as plain:
        headers = {"Authorization": f"Bearer {TOKENS['ann']}"}
        async with plain.post("/v1/agents/ann/presence", json={"presence": "away"},
                              headers=headers) as r:  # fmt: skip
            assert r.status == 200  # no CSRF header: a bearer token is not ambient authority
        async with plain.get("/v1/agents/ann") as r:
            assert r.status == 401


async def test_sign_out_ends_the_session(browser, redis) -> None:
    who = await sign_in(browser, "ann")
    assert len(await redis.keys("*session*")) == 1
    async with browser.post("/screens/sign-out") as r:  # no CSRF header: refused
        assert r.status == 403
    async with browser.post("/screens/sign-out", headers={CSRF_HEADER: who["csrf"]}) as r:
        assert r.status == 200
    assert await redis.keys("*session*") == []
    async with browser.get("/screens/session?screen=desk") as r:
        assert r.status == 401


async def test_an_expired_session_is_refused(browser, redis) -> None:
    who = await sign_in(browser, "ann")
    (key,) = await redis.keys("*session*")
    ttl = await redis.ttl(key)
    assert 0 < ttl <= 8 * 3600  # an idle expiry, renewed on use
    await redis.pexpire(key, 1)
    while await redis.exists(key):
        await asyncio.sleep(0.005)
    async with browser.get("/v1/agents/ann") as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "session_over"
    async with browser.post("/v1/agents/ws-ticket", headers={CSRF_HEADER: who["csrf"]}) as r:
        assert r.status == 401


async def test_a_screen_takes_only_the_tokens_it_is_for(browser) -> None:
    for who, screen in (("ann", "wall"), ("sup", "desk"), ("ops", "wall"), ("admin", "desk")):
        async with browser.post("/screens/sign-in",
                                json={"token": TOKENS[who], "screen": screen}) as r:  # fmt: skip
            assert r.status == 403, (who, screen)
            assert (await r.json())["error"]["field"] == "token"
    await sign_in(browser, "ann")
    async with browser.get("/screens/session?screen=wall") as r:
        assert r.status == 403
    async with browser.get("/v1/wall/stream") as r:  # an agent's cookie: not the wall's feed
        assert r.status == 403
    await sign_in(browser, "admin", "wall")
    async with browser.get("/screens/session?screen=wall") as r:
        assert r.status == 200 and (await r.json())["scope"] == "admin"


async def test_pages_have_a_strict_policy_and_files_are_cached_by_version(browser) -> None:
    async with browser.get("/desk/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}) as r:
        page = await r.text()
        assert r.status == 200 and r.content_type == "text/html"
        policy = r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-cache"
    assert '<html lang="zh"' in page and "<script>" not in page and "onclick" not in page
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    async with browser.get("/wall/?lang=en") as r:
        assert '<html lang="en"' in await r.text()
    src = page.split('src="', 2)[1].split('"')[0]
    assert src.startswith("/screens/static/i18n.js?v=")
    async with browser.get(src) as r:
        assert r.status == 200 and "immutable" in r.headers["Cache-Control"]
        etag = r.headers["ETag"]
    async with browser.get("/screens/static/i18n.js", headers={"If-None-Match": etag}) as r:
        assert r.status == 304
    async with browser.get("/screens/static/..%2Fsession.py") as r:
        assert r.status == 404
    async with browser.get("/desk", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/desk/"


async def test_a_desk_reads_the_thread_of_what_its_agent_holds(browser, base, daemon) -> None:
    first = await chat(daemon, "m1", "first question")
    request_id = await chat(daemon, "m2")
    await daemon.store.assign(request_id, "ann", "chat", {"test": "1"}, force=True)
    await sign_in(browser, "ann")
    async with browser.get(f"/v1/requests/{request_id}/messages") as r:
        assert r.status == 200, await r.text()
        full = await r.json()
    assert full["id"] == request_id and full["body"] == "我的发票有问题"
    assert [p["id"] for p in full["customer_requests"]] == [first]
    async with browser.get(f"/v1/requests/{first}/messages") as r:
        assert r.status == 404  # not held by ann
    async with aiohttp.ClientSession(base) as plain:
        sup = {"Authorization": f"Bearer {TOKENS['sup']}"}
        async with plain.get(f"/v1/requests/{first}/messages", headers=sup) as r:
            assert r.status == 200 and (await r.json())["thread"] == []
        async with plain.get("/v1/openapi.json") as r:
            paths = (await r.json())["paths"]
    assert "get" in paths["/v1/requests/{id}/messages"] and "/v1/wall/stream" in paths


async def _sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict]]:
    kind = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind:
            yield kind, json.loads(line[6:])


async def test_the_wall_feed_paints_a_snapshot_then_every_event_after_it(base, daemon) -> None:
    waiting = await chat(daemon, "w1")
    sup = {"Authorization": f"Bearer {TOKENS['sup']}"}
    async with (
        aiohttp.ClientSession(base) as http,
        http.get("/v1/wall/stream", headers=sup) as r,
    ):
        assert r.status == 200 and r.content_type == "text/event-stream"
        frames = _sse(r)
        kind, snap = await anext(frames)
        assert kind == "snapshot"
        (queue,) = [q for q in snap["queues"] if q["name"] == "chat"]
        assert queue["waiting"] == 1 and queue["listed"] == [waiting]
        assert snap["requests"][waiting]["state"] == "waiting"
        assert snap["hour"]["open"][waiting][1] == "chat"
        assert [a["id"] for a in snap["agents"]] == ["ann"]
        await daemon.agents.set_presence("ann", Presence.AVAILABLE)
        seen = []
        async with asyncio.timeout(10):
            async for kind, event in frames:
                assert kind == "event"
                seen.append((event["type"], event["req"] or event["agent"]))
                if event["type"] == "offered":
                    break
    assert ("presence", "ann") in seen and ("offered", waiting) in seen
    assert ("enqueued", waiting) not in seen  # before the snapshot: painted, not sent again
