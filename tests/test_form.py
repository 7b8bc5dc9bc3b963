"""The web form channel on the API: POST /v1/requests (JSON and plain HTML forms, site keys and
origins, bearer tokens, idempotency, every refusal naming its field, rate limits, Redis down) and
the customer's status lookup. Real aiohttp client and real Redis; the app is `create_app` on the
test Redis's stores (aiohttp_client), a running daemon only where Redis goes down."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from api_services import services as api_services
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from frontdesk.channels.fields import parse_size
from frontdesk.channels.form import normalize_origin
from frontdesk.queues.request import Channel
from frontdesk.queues.states import State
from frontdesk.router.api.app import create_app
from frontdesk.router.api.services import Services
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token

TOKENS = {name: new_token() for name in ("hd", "sup", "ann")}
SITE = "shop-site-key-0123"
VIP = "vip-site-key-98765"
SHOP = "https://shop.example.com"

CONFIG = f"""\
tenant: formtest
redis: {{url: "{{url}}"}}
http: {{port: 0}}
skills: [billing]
queues:
  general: {{}}
  billing: {{}}
  vip: {{}}
default_queue: general
limits:
  per_sender: {{count: 3, per: 1h}}
  per_source: {{count: 100000, per: 1m}}
agents:
  - {{id: ann, name: Ann Lee, skills: {{billing: 3}}, capacity: {{form: 2}}, presence: offline}}
rules:
  - name: refunds
    when: {{keywords: [refund, 退款]}}
    then: {{queue: billing, category: orders}}
  - name: vip-site
    when: {{entry_point: "form:vip"}}
    then: {{queue: vip}}
api:
  tokens:
    - {{name: hd, scope: integration, sha256: {digest(TOKENS["hd"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
channels:
  form:
    max_body: 4KB
    default_country: "1"
    sites:
      - {{key: {SITE}, origins: ["{SHOP}"], entry_point: "form:support"}}
      - key: {VIP}
        origins: ["https://VIP.example.com:8443/"]
        entry_point: "form:vip"
        redirect: https://vip.example.com/thanks?lang=en
"""

GOOD = {
    "name": "Li Na",
    "email": "li.na@Example.COM",
    "phone": "(415) 555-2671",
    "subject": "Refund for order 1001",
    "body": "Please refund my order 1001.\nThanks!",
    "language": "en-US",
    "attributes": {"order": "1001", "items": 2, "gift": False},
}


def _settings(url: str):
    return parse_settings(CONFIG.replace("{url}", url), "form.yaml")


@pytest.fixture
async def services(redis, store, agents, redis_server) -> Services:
    """The API with the form channel on the test Redis, its agents stored as the daemon stores
    them (no daemon: no dispatcher)."""
    settings = _settings(redis_server.url)
    for agent in settings.agents:
        await agents.upsert(agent)
    return await api_services(settings, redis, store, agents, channels=None)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Client:
    """Posts to one API (`base`: "" with aiohttp's test client); returns (status, JSON body or
    None, headers)."""

    def __init__(self, base: str, http: aiohttp.ClientSession | TestClient[Any, Any]) -> None:
        self.base = base
        self.http = http

    async def call(
        self, method: str, path: str, *, data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:  # fmt: skip
        async with self.http.request(
            method, self.base + path, data=data, headers=headers or {}, allow_redirects=False
        ) as response:
            body = await response.read()
            parsed = json.loads(body) if response.content_type == "application/json" else None
            return response.status, parsed, response.headers

    async def post(
        self, body: Any, key: str | None = "k-1", site: str | None = SITE,
        origin: str | None = SHOP, token: str | None = None, **extra: str,
    ) -> tuple[int, Any, Any]:  # fmt: skip
        headers = {"Content-Type": "application/json", **extra}
        if key is not None:
            headers["Idempotency-Key"] = key
        if site is not None:
            headers["X-Frontdesk-Site"] = site
        if origin is not None:
            headers["Origin"] = origin
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        raw = body if isinstance(body, bytes | str) else json.dumps(body)
        return await self.call("POST", "/v1/requests", data=raw, headers=headers)

    async def post_form(
        self, fields: dict[str, str] | list[tuple[str, str]], origin: str | None = SHOP
    ) -> tuple[int, Any, Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin is not None:
            headers["Origin"] = origin
        return await self.call("POST", "/v1/requests", data=urlencode(fields), headers=headers)


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Client:
    return Client("", await aiohttp_client(create_app(services)))


async def _stored(services: Services) -> int:
    return sum([await services.store.waiting_count(q) for q in ("general", "billing", "vip")])


async def test_a_json_post_is_stored_classified_and_idempotent(client, services) -> None:
    status, body, headers = await client.post(GOOD, key="order-1001")
    assert status == 201, body
    assert set(body) == {"id", "status_token", "status_url"}
    assert body["status_url"] == f"/v1/requests/{body['id']}/status?token={body['status_token']}"
    assert headers["Access-Control-Allow-Origin"] == SHOP
    record = await services.store.get(body["id"])
    assert record is not None and record.state is State.WAITING
    r = record.request
    assert (r.channel, r.queue, r.category) == (Channel.FORM, "billing", "orders")
    assert r.entry_point == "form:support"
    assert (r.customer.name, r.customer.email) == ("Li Na", "li.na@example.com")
    assert r.customer.phone == "+14155552671"  # the site's default country code is 1
    assert (r.subject, r.body, r.language) == (GOOD["subject"], GOOD["body"], "en-US")
    assert {k: r.attributes[k] for k in ("order", "items", "gift")} == GOOD["attributes"]
    assert r.external_id is not None and r.external_id.endswith(":order-1001")

    again_status, again, _ = await client.post(GOOD, key="order-1001")
    assert (again_status, again) == (200, body)
    assert await _stored(services) == 1

    changed = GOOD | {"body": "Something else entirely"}
    status, error, _ = await client.post(changed, key="order-1001")
    assert status == 409 and error["error"]["code"] == "conflict"
    assert error["error"]["field"] == "Idempotency-Key"
    assert await _stored(services) == 1


async def test_without_a_rule_the_default_queue_and_the_sites_entry_point(client, services) -> None:
    minimal = {"email": "wang@example.com", "body": "How do I export my data?"}
    status, body, _ = await client.post(minimal, key="a")
    assert status == 201
    record = await services.store.get(body["id"])
    assert record is not None and record.request.queue == "general"
    assert record.request.customer.phone is None and record.request.category is None
    status, body, _ = await client.post(
        minimal, key="b", site=VIP, origin="https://vip.example.com:8443"
    )
    assert status == 201
    vip = await services.store.get(body["id"])
    assert vip is not None and vip.request.queue == "vip" and vip.request.entry_point == "form:vip"


async def test_a_plain_html_form_with_hidden_fields(client, services) -> None:
    fields = {
        "site": SITE,
        "idempotency_key": "html-1",
        "name": "王伟",
        "phone": "+86 138-0013-8000",
        "body": "我要退款",
        "category": "orders",
        "attributes[channel_hint]": "footer-form",
    }
    status, body, _ = await client.post_form(fields)
    assert status == 201, body
    record = await services.store.get(body["id"])
    assert record is not None
    r = record.request
    assert (r.queue, r.customer.phone, r.customer.email) == ("billing", "+8613800138000", None)
    assert r.attributes["channel_hint"] == "footer-form" and r.customer.name == "王伟"
    assert (await client.post_form(fields))[0] == 200
    for n, (name, value) in enumerate([("email", "x"), ("phone", "12"), ("attributes[9]", "x")]):
        bad = fields | {"idempotency_key": f"bad-{n}", name: value}
        status, error, _ = await client.post_form(bad)
        assert status == 400 and error["error"]["field"].startswith(name[:10]), error

    # a site with a redirect sends a plain form's browser to its thanks page
    vip = fields | {"site": VIP, "idempotency_key": "html-2"}
    status, _, headers = await client.post_form(vip, origin="https://vip.example.com:8443")
    assert status == 303
    location = urlsplit(headers["Location"])
    assert (location.netloc, location.path) == ("vip.example.com", "/thanks")
    query = parse_qs(location.query)
    assert query["lang"] == ["en"]
    status, seen, _ = await client.call(
        "GET", f"/v1/requests/{query['request'][0]}/status?token={query['token'][0]}"
    )
    assert status == 200 and seen["state"] == "waiting"


BAD_FIELDS = [
    ({"colour": "red"}, "colour", "unknown_field"),
    ({"name": 7}, "name", "invalid"),
    ({"name": "a" * 201}, "name", "invalid"),
    ({"name": "two\nlines"}, "name", "invalid"),
    ({"name": "nul\x00"}, "name", "invalid"),
    ({"email": "not-an-email"}, "email", "invalid"),
    ({"email": "a@b"}, "email", "invalid"),
    ({"email": "a b@example.com"}, "email", "invalid"),
    ({"email": None, "phone": None}, "email", "missing"),
    ({"phone": "+999 123 4567"}, "phone", "invalid"),
    ({"phone": "555-CALL-NOW"}, "phone", "invalid"),
    ({"phone": ["+14155552671"]}, "phone", "invalid"),
    ({"subject": "s" * 301}, "subject", "invalid"),
    ({"body": None}, "body", "missing"),
    ({"body": "   "}, "body", "missing"),
    ({"body": {"text": "hi"}}, "body", "invalid"),
    ({"body": "x" * 4000}, None, "too_large"),
    ({"category": "orders and payments"}, "category", "invalid"),
    ({"language": "english please"}, "language", "invalid"),
    ({"attributes": ["a"]}, "attributes", "invalid"),
    ({"attributes": {"nested": {"a": 1}}}, "attributes.nested", "invalid"),
    ({"attributes": {"9lives": 1}}, "attributes.9lives", "invalid"),
    ({"attributes": {"form_digest": "x"}}, "attributes.form_digest", "invalid"),
    ({"attributes": {"big": 2**60}}, "attributes.big", "invalid"),
    ({"attributes": {f"a{i}": i for i in range(21)}}, "attributes", "invalid"),
    ({"attributes": {"note": "n" * 501}}, "attributes.note", "invalid"),
]


async def test_each_bad_field_is_refused_by_name(client, services) -> None:
    for change, field, code in BAD_FIELDS:
        body = {k: v for k, v in (GOOD | change).items() if v is not None}
        status, error, _ = await client.post(body)
        assert status == (413 if code == "too_large" else 400), (change, error)
        assert (error["error"]["code"], error["error"]["field"]) == (code, field), change
        if code in ("invalid", "missing"):
            assert error["error"]["message"].startswith(f"{field}:"), error
    assert await _stored(services) == 0


NOT_FORMS = [
    (b"{not json", "application/json", 400, None),
    (b"[1, 2]", "application/json", 400, None),
    (b'{"body": "a", "body": "b"}', "application/json", 400, "body"),
    (b'{"body": NaN}', "application/json", 400, None),
    (b"\xff\xfe{}", "application/json", 400, None),
    (b"[" * 2000 + b"]" * 2000, "application/json", 400, None),
    (b"body=a&body=b", "application/x-www-form-urlencoded", 400, "body"),
    (b"body=%ff", "application/x-www-form-urlencoded", 400, None),
    (b"body=hi", "text/plain", 415, "Content-Type"),
    (b"body=hi", "multipart/form-data; boundary=x", 415, "Content-Type"),
]


async def test_bodies_that_are_not_a_form(client, services) -> None:
    for raw, content_type, status, field in NOT_FORMS:
        headers = {"Content-Type": content_type, "X-Frontdesk-Site": SITE, "Idempotency-Key": "k"}
        got, error, _ = await client.call("POST", "/v1/requests", data=raw, headers=headers)
        assert got == status, (raw[:20], error)
        assert error["error"]["field"] == field, (raw[:20], error)
    assert await _stored(services) == 0


async def test_the_idempotency_key_is_required_and_bounded(client, services) -> None:
    status, error, _ = await client.post(GOOD, key=None)
    assert status == 400 and error["error"]["code"] == "missing"
    assert error["error"]["field"] == "Idempotency-Key"
    for bad in ("has space", "k" * 129, "ключ"):
        status, error, _ = await client.post(GOOD, key=bad)
        assert status == 400 and error["error"]["field"] == "Idempotency-Key", bad
    form = {"site": SITE, "email": "a@example.com", "body": "hi"}
    status, error, _ = await client.post_form(form)
    assert status == 400 and error["error"]["field"] == "Idempotency-Key"
    assert await _stored(services) == 0


async def test_site_keys_and_origins(client, services) -> None:
    status, error, _ = await client.post(GOOD, site=None)
    assert status == 401 and error["error"]["field"] == "X-Frontdesk-Site"
    status, error, _ = await client.post(GOOD, site="no-such-site-key")
    assert status == 401 and error["error"]["field"] == "X-Frontdesk-Site"
    status, error, headers = await client.post(GOOD, origin="https://evil.example.net")
    assert status == 403 and error["error"]["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in headers
    status, error, _ = await client.post(GOOD, origin="https://vip.example.com:8443")
    assert status == 403, "the VIP site's origin does not go with the shop's key"
    status, error, _ = await client.post(GOOD, origin="null")
    assert status == 403
    assert await _stored(services) == 0
    status, _, _ = await client.post(GOOD, key="p1", origin="HTTPS://shop.example.com:443")
    assert status == 201
    status, _, _ = await client.post(GOOD, key="p2", origin=None)  # not from a browser
    assert status == 201


async def test_cors_preflight_for_the_sites_origins(client) -> None:
    ask = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    status, _, headers = await client.call("OPTIONS", "/v1/requests", headers=ask)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == SHOP
    allowed = headers["Access-Control-Allow-Headers"]
    assert "Idempotency-Key" in allowed and "X-Frontdesk-Site" in allowed
    ask["Origin"] = "https://evil.example.net"
    status, error, headers = await client.call("OPTIONS", "/v1/requests", headers=ask)
    assert status == 403 and error["error"]["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in headers


async def test_other_systems_post_with_a_bearer_token(client, services) -> None:
    status, body, _ = await client.post(
        GOOD, key="same", site=None, origin=None, token=TOKENS["hd"]
    )
    assert status == 201, body
    record = await services.store.get(body["id"])
    assert record is not None and record.request.entry_point == "api:hd"
    # the same key from a site is another sender's key: a different request
    status, other, _ = await client.post(GOOD | {"email": "x@example.com"}, key="same")
    assert status == 201 and other["id"] != body["id"]
    status, _, _ = await client.post(GOOD, key="s2", site=None, token=TOKENS["sup"])
    assert status == 201
    status, error, _ = await client.post(GOOD, key="s3", site=None, token=TOKENS["ann"])
    assert status == 403 and error["error"]["field"] == "Authorization"
    status, error, _ = await client.post(GOOD, key="s4", token="fdt_not-a-token")
    assert status == 401 and error["error"]["field"] == "Authorization"
    assert await _stored(services) == 3


async def test_the_customer_looks_their_request_up_with_its_token(client, services) -> None:
    ids, tokens = [], []
    for n in range(2):
        status, body, _ = await client.post(
            {"email": f"c{n}@example.com", "body": "Where is my parcel?"}, key=f"s{n}"
        )
        assert status == 201
        ids.append(body["id"])
        tokens.append(body["status_token"])
    status, seen, headers = await client.call(
        "GET", f"/v1/requests/{ids[1]}/status?token={tokens[1]}", headers={"Origin": SHOP}
    )
    assert status == 200
    assert seen == {
        "id": ids[1],
        "state": "waiting",
        "position": 2,
        "estimated_wait_s": None,
        "call_at": None,  # a phone callback's only
        "agent": None,
        "service_levels": [],  # no sla policy in this config
    }
    assert headers["Access-Control-Allow-Origin"] == SHOP

    wrong = await client.call("GET", f"/v1/requests/{ids[1]}/status?token={tokens[0]}")
    missing = await client.call("GET", f"/v1/requests/FD-999999/status?token={tokens[0]}")
    assert wrong[0] == missing[0] == 404
    assert wrong[1] == missing[1], "a wrong token says nothing about whether the request exists"
    assert (await client.call("GET", f"/v1/requests/{ids[1]}/status?token=x"))[0] == 404
    status, error, _ = await client.call("GET", f"/v1/requests/{ids[1]}/status")
    assert status == 400 and error["error"]["field"] == "token"

    await services.store.assign(ids[0], "ann", force=True)  # ann is offline: no dispatcher race
    status, seen, _ = await client.call("GET", f"/v1/requests/{ids[0]}/status?token={tokens[0]}")
    assert status == 200 and seen["state"] == "assigned" and seen["agent"] == "Ann Lee"
    assert seen["position"] is None
    status, seen, _ = await client.call("GET", f"/v1/requests/{ids[1]}/status?token={tokens[1]}")
    assert seen["position"] == 1


async def test_a_browser_following_the_link_gets_a_page_in_the_customers_language(
    client, services
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    ids, tokens = [], []
    for n, language in enumerate(("zh-CN", None)):
        body = {"email": f"p{n}@example.com", "body": "我的包裹在哪里?"}
        if language:
            body["language"] = language
        status, receipt, _ = await client.post(body, key=f"p{n}")
        assert status == 201
        ids.append(receipt["id"])
        tokens.append(receipt["status_token"])

    async def page(i: int, **headers: str) -> tuple[int, str, Any]:
        path = f"/v1/requests/{ids[i]}/status?token={tokens[i]}"
        async with client.http.get(client.base + path, headers=browser | headers) as response:
            return response.status, await response.text(), response.headers

    status, text, headers = await page(0)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert f"您的请求 {ids[0]}" in text and "您是第 1 位" in text
    assert '<meta http-equiv="refresh" content="30">' in text  # open: it refreshes
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["Referrer-Policy"] == "no-referrer"
    status, text, _ = await page(1)
    assert status == 200 and "In the queue: you are number 2." in text  # no language: English
    status, text, _ = await page(1, **{"Accept-Language": "zh-TW,zh;q=0.9"})
    assert "您是第 2 位" in text  # the browser's language

    await services.store.assign(ids[0], "ann", force=True)
    await services.store.complete(ids[0], "ann")
    status, text, _ = await page(0)
    assert "您的请求已处理完毕。" in text and "refresh" not in text  # closed: no more refreshing
    async with client.http.get(
        client.base + f"/v1/requests/{ids[0]}/status?token={tokens[1]}", headers=browser
    ) as response:
        assert response.status == 404 and "no longer valid" in await response.text()
    status, seen, _ = await client.call("GET", f"/v1/requests/{ids[1]}/status?token={tokens[1]}")
    assert status == 200 and seen["position"] == 1  # an API client still gets JSON


async def test_a_sender_over_the_limit_gets_429_and_nothing_is_stored(client, services) -> None:
    for n in range(3):
        assert (await client.post(GOOD, key=f"r{n}"))[0] in (200, 201)
    status, error, headers = await client.post(GOOD, key="r-over")
    assert status == 429 and error["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1
    assert await _stored(services) == 3


async def test_redis_down_is_503_with_retry_after(tmp_path: Path, http) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="no")
    server.start()
    daemon = Daemon(_settings(server.url), "form.yaml")
    await daemon.start()
    try:
        assert daemon.address is not None
        client = Client(f"http://127.0.0.1:{daemon.address[1]}", http)
        status, body, _ = await client.post(GOOD, key="before")
        assert status == 201
        server.stop()
        status, error, headers = await client.post(GOOD, key="during")
        assert status == 503 and error["error"]["code"] == "unavailable"
        assert headers["Retry-After"] == "5"
        path = f"/v1/requests/{body['id']}/status?token={body['status_token']}"
        status, error, headers = await client.call("GET", path)
        assert status == 503 and "Retry-After" in headers
    finally:
        await daemon.stop()
        server.stop()


# -- fuzzing through the endpoint ------------------------------------------------------------------
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_TEXT = st.text(st.characters(blacklist_categories=["Cs"]))  # what a browser can send
_FIELD_NAMES = st.sampled_from([*GOOD, "category", "colour", ""]) | st.text(max_size=12)
_PHONES = st.sampled_from(["+86 138 0013 8000", "(415) 555-2671", "0086", "+", "tel:+1"])
_VALUES = _JSON | st.text() | _PHONES | st.emails().map(str)


def _ok(status: int, body: Any) -> bool:
    if status in (200, 201):
        return set(body) == {"id", "status_token", "status_url"}
    return status in (400, 409, 413, 429) and set(body["error"]) == {"code", "message", "field"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.dictionaries(_FIELD_NAMES, _VALUES, max_size=8), key=st.text(max_size=10))
@example(fields={"body": "\ud800", "email": "a@example.com"}, key="k")
@example(fields={"attributes": {"\udc00": 1}, "email": "a@example.com", "body": "b"}, key="k")
@example(fields={"body": "b", "phone": "\u0660\u0661\u0662\u0663\u0664\u0665"}, key="k")
async def test_fuzzed_json_posts_never_fail_the_server(client, fields, key) -> None:
    key = "".join(c for c in key if " " <= c <= "~")  # what an HTTP header can carry
    status, body, _ = await client.post(json.dumps(fields), key=key or None)
    assert _ok(status, body), (status, body)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from([*GOOD, "attributes[x]", "x"]) | _TEXT, _TEXT), max_size=8
    ),
    raw=st.binary(max_size=200),
)
async def test_fuzzed_form_posts_never_fail_the_server(client, pairs, raw) -> None:
    status, body, _ = await client.post_form([("site", SITE), ("idempotency_key", "f"), *pairs])
    assert _ok(status, body), (status, body)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Frontdesk-Site": SITE}
    status, body, _ = await client.call("POST", "/v1/requests", data=raw, headers=headers)
    assert _ok(status, body), (status, body)


# -- small parts -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("origin", "normal"),
    [
        ("https://Shop.Example.com", "https://shop.example.com"),
        ("https://shop.example.com:443/", "https://shop.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("https://shop.example.com/path", None),
        ("ftp://shop.example.com", None),
        ("https://shop.example.com:70000", None),
        ("null", None),
    ],
)
def test_origins_are_compared_normalized(origin: str, normal: str | None) -> None:
    assert normalize_origin(origin) == normal


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64KB", 65536),
        ("16kb", 16384),
        ("1MB", 1048576),
        ("512B", 512),
        (2048, 2048),
        ("1 KiB", 1024),
    ],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1KB", -5, True, "1.5MB", "3 GB"])
def test_not_sizes(text: object) -> None:
    assert parse_size(text) is None
