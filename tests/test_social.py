"""Social webhooks end to end: a real daemon (real Front, real Redis) and a real HTTP client.

The platforms are external services; each is stood in by this test building its requests the way
the platform documents them: Meta's X-Hub-Signature-256 over the raw body, Telegram's secret
header, WeChat's sha1 over the sorted token, timestamp and nonce, the generic webhook's HMAC over
"<timestamp>.<body>". Every platform gets the same checks: a signed message becomes a request
with its customer and thread, a bad signature stores nothing, a replay stays one request, a
follow-up joins the open request, an oversize body is 413, Redis down is 503 and the platform's
retry is stored once, and signed garbage is a clean 4xx, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_social_parsers import (
    IG_ID,
    JSON,
    PAGE_ID,
    SAMPLES,
    WA_NUMBER,
    encoded,
    fb_message,
    generic_message,
    messaging_payload,
    mutations,
    telegram_update,
    wa_contact,
    wa_status,
    wa_text,
    wechat_xml,
    whatsapp_payload,
)

from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings

WA_SECRET = "wa-app-secret-" + "3f" * 8
FB_SECRET = "fb-app-secret-" + "9c" * 8
IG_SECRET = "ig-app-secret-" + "51" * 8
TG_SECRET = "tg_Secret-" + "a1" * 8
WX_TOKEN = "wechatToken1"
WX_APP = "wx1234567890abcdef"
GENERIC_SECRET = "partner-" + "7e" * 16
MAX_BODY = 64 * 1024

CONFIG = """\
tenant: social
redis: {url: "@URL@"}
http: {port: 0}
queues:
  general: {}
  social: {}
default_queue: general
limits:
  per_sender: {count: @PER_SENDER@, per: 10m}
  per_source: {count: 2, per: 10m}  # the peer is the platform: webhooks never count against it
rules:
  - name: social-to-social
    when: {channel: social}
    then: {queue: social}
channels:
  social:
    max_body: 64KB
"""
PLATFORM_CONFIG = {
    "whatsapp": f'    whatsapp: {{app_secret: "{WA_SECRET}", verify_token: wa-verify-token}}\n',
    "messenger": f'    messenger: {{app_secret: "{FB_SECRET}", verify_token: fb-verify-token}}\n',
    "instagram": f'    instagram: {{app_secret: "{IG_SECRET}", verify_token: ig-verify-token}}\n',
    "telegram": f'    telegram: {{secret_token: "{TG_SECRET}", bot: support_bot}}\n',
    "wechat": f'    wechat: {{token: "{WX_TOKEN}", app_id: {WX_APP}}}\n',
    "generic": '    generic:\n      partner-crm: {secret_file: "@GENERIC_FILE@", tolerance: 5m}\n',
}
PLATFORMS = list(PLATFORM_CONFIG)


def _settings(url: str, secret_file: Path, per_sender: int = 1000, only: list[str] | None = None):
    secret_file.write_text(GENERIC_SECRET + "\n")
    text = CONFIG + "".join(PLATFORM_CONFIG[p] for p in only or PLATFORMS)
    text = text.replace("@URL@", url).replace("@PER_SENDER@", str(per_sender))
    return parse_settings(text.replace("@GENERIC_FILE@", str(secret_file)), "social.yaml")


@asynccontextmanager
async def running(url: str, tmp: Path, **options: Any) -> AsyncIterator[Daemon]:
    daemon = Daemon(_settings(url, tmp / "generic.secret", **options), "social.yaml")
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


@pytest.fixture
async def daemon(redis, redis_server, tmp_path: Path) -> AsyncIterator[Daemon]:
    async with running(redis_server.url, tmp_path) as d:
        yield d


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- the platforms, stood in -----------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One HTTP request exactly as a platform would send it."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


async def send(
    http: aiohttp.ClientSession, daemon: Daemon, d: Delivery, data: Any = None
) -> Answer:
    assert daemon.address is not None
    url = f"http://127.0.0.1:{daemon.address[1]}{d.path}"
    async with http.request(
        d.method, url, data=d.body if data is None else data, headers=d.headers, params=d.params
    ) as response:
        return Answer(response.status, await response.text(), dict(response.headers))


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Stand:
    """A platform as this test stands it in: message `n` from user `u` saying `text`."""

    name: str
    ack: str
    entry_point: str
    path: str

    def user(self, u: int) -> str:
        raise NotImplementedError

    def payload(self, n: int, u: int, text: str) -> bytes:
        raise NotImplementedError

    def signed(self, body: bytes, secret: str | None = None) -> Delivery:
        raise NotImplementedError

    def unsigned(self, d: Delivery) -> Delivery:
        raise NotImplementedError

    def key(self, n: int, u: int) -> str:
        raise NotImplementedError

    def message(self, n: int, u: int, text: str) -> Delivery:
        return self.signed(self.payload(n, u, text))

    def forged(self, n: int, u: int, text: str) -> Delivery:
        return self.signed(self.payload(n, u, text), secret="someone-else-" + "0" * 20)

    def address(self, u: int) -> str:
        return f"{self.name}:{self.user(u)}"

    def ref(self, u: int) -> str:
        return f"{self.name}:{self.user(u)}"


class MetaStand(Stand):
    ack = "EVENT_RECEIVED"

    def __init__(self, name: str, secret: str) -> None:
        self.name, self.secret, self.path = name, secret, f"/v1/webhooks/{name}"

    def signed(self, body: bytes, secret: str | None = None) -> Delivery:
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": hub_signature(secret or self.secret, body)}  # fmt: skip
        return Delivery("POST", self.path, body, headers)

    def unsigned(self, d: Delivery) -> Delivery:
        return replace(d, headers={"Content-Type": "application/json"})


class WhatsApp(MetaStand):
    entry_point = f"whatsapp:{WA_NUMBER}"

    def user(self, u: int) -> str:
        return f"86138{u:08d}"

    def payload(self, n: int, u: int, text: str) -> bytes:
        wa_id = self.user(u)
        doc = whatsapp_payload([wa_text(f"wamid.HBgL{n}", wa_id, text)],
                               [wa_contact(wa_id, f"Customer {u}")])  # fmt: skip
        return encoded(doc)

    def key(self, n: int, u: int) -> str:
        return f"social:whatsapp:wamid.HBgL{n}"


class Messaging(MetaStand):
    def __init__(self, name: str, secret: str, account: str) -> None:
        super().__init__(name, secret)
        self.account = account
        self.entry_point = f"{name}:{account}"

    def user(self, u: int) -> str:
        return f"12544591546{u:05d}"

    def payload(self, n: int, u: int, text: str) -> bytes:
        event = fb_message(self.user(u), self.account, f"m_{n}", text)
        return encoded(messaging_payload(self.name, [event]))

    def key(self, n: int, u: int) -> str:
        return f"social:{self.name}:m_{n}"


class Telegram(Stand):
    name, ack, entry_point, path = "telegram", "ok", "telegram:support_bot", "/v1/webhooks/telegram"

    def user(self, u: int) -> str:
        return str(400000 + u)

    def payload(self, n: int, u: int, text: str) -> bytes:
        return encoded(telegram_update(1000 + n, 400000 + u, n, text))

    def signed(self, body: bytes, secret: str | None = None) -> Delivery:
        headers = {"Content-Type": "application/json",
                   "X-Telegram-Bot-Api-Secret-Token": secret or TG_SECRET}  # fmt: skip
        return Delivery("POST", self.path, body, headers)

    def forged(self, n: int, u: int, text: str) -> Delivery:
        return self.signed(self.payload(n, u, text), secret="someone_else")

    def unsigned(self, d: Delivery) -> Delivery:
        return replace(d, headers={"Content-Type": "application/json"})

    def key(self, n: int, u: int) -> str:
        return f"social:telegram:{400000 + u}:{n}"


def wechat_query(token: str, stamp: int | None = None, **more: str) -> dict[str, str]:
    """The query WeChat signs: sha1 of token, timestamp and nonce sorted and joined."""
    timestamp, nonce = str(stamp or int(time.time())), str(secrets.randbelow(10**9))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **more}


class WeChat(Stand):
    name, ack, entry_point, path = "wechat", "success", f"wechat:{WX_APP}", "/v1/webhooks/wechat"

    def user(self, u: int) -> str:
        return f"oUpF8uMuAJO_M2pxb1Q9zNjW{u:04d}"

    def payload(self, n: int, u: int, text: str) -> bytes:
        return wechat_xml(self.user(u), str(10**15 + n), text)

    def signed(self, body: bytes, secret: str | None = None) -> Delivery:
        query = wechat_query(secret or WX_TOKEN, openid="oUpF8uMuAJO")
        return Delivery("POST", self.path, body, {"Content-Type": "text/xml"}, query)

    def forged(self, n: int, u: int, text: str) -> Delivery:
        return self.signed(self.payload(n, u, text), secret="otherToken")

    def unsigned(self, d: Delivery) -> Delivery:
        return replace(d, params={k: v for k, v in d.params.items() if k != "signature"})

    def key(self, n: int, u: int) -> str:
        return f"social:wechat:{10**15 + n}"


class Generic(Stand):
    name, ack = "partner-crm", ""
    entry_point, path = "generic:partner-crm", "/v1/webhooks/generic/partner-crm"

    def user(self, u: int) -> str:
        return f"c-{u}"

    def payload(self, n: int, u: int, text: str) -> bytes:
        return encoded(generic_message(f"evt-{n}", self.user(u), text))

    def signed(self, body: bytes, secret: str | None = None, stamp: int | None = None) -> Delivery:
        timestamp = str(stamp or int(time.time()))
        mac = hmac.new((secret or GENERIC_SECRET).encode(), timestamp.encode() + b"." + body,
                       hashlib.sha256).hexdigest()  # fmt: skip
        headers = {"Content-Type": "application/json", "X-Frontdesk-Timestamp": timestamp,
                   "X-Frontdesk-Signature": f"sha256={mac}"}  # fmt: skip
        return Delivery("POST", self.path, body, headers)

    def unsigned(self, d: Delivery) -> Delivery:
        headers = {k: v for k, v in d.headers.items() if k != "X-Frontdesk-Signature"}
        return replace(d, headers=headers)

    def key(self, n: int, u: int) -> str:
        return f"social:partner-crm:evt-{n}"


STANDS: dict[str, Stand] = {
    "whatsapp": WhatsApp("whatsapp", WA_SECRET),
    "messenger": Messaging("messenger", FB_SECRET, PAGE_ID),
    "instagram": Messaging("instagram", IG_SECRET, IG_ID),
    "telegram": Telegram(),
    "wechat": WeChat(),
    "generic": Generic(),
}


def acknowledged(stand: Stand, answer: Answer) -> bool:
    if stand.name == "partner-crm":
        return answer.status == 200 and answer.json()["request_id"].startswith("FD-")
    return answer.status == 200 and answer.text == stand.ack


async def stored(daemon: Daemon, key: str) -> str | None:
    return await daemon.store.seen(key)


async def keys_now(daemon: Daemon) -> set[bytes]:
    return set(await daemon.redis.keys("*"))


# -- every platform --------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_signed_message_becomes_a_request(platform, daemon, http) -> None:
    stand = STANDS[platform]
    answer = await send(http, daemon, stand.message(1, 7, "我要退款, order A-1"))
    assert acknowledged(stand, answer), answer
    request_id = await stored(daemon, stand.key(1, 7))
    assert request_id is not None
    record = await daemon.store.get(request_id)
    assert record is not None and record.state.value == "waiting"
    r = record.request
    assert (r.channel.value, r.queue, r.entry_point) == ("social", "social", stand.entry_point)
    assert r.body == "我要退款, order A-1"
    assert r.customer.handles == {stand.name: stand.user(7)}
    assert r.customer.id is not None
    customer = await daemon.front.customers.get(r.customer.id)
    assert customer is not None and stand.address(7) in customer.addresses
    assert await daemon.front.customers.thread(stand.ref(7)) == request_id
    if platform == "whatsapp":
        assert "phone:+8613800000007" in customer.addresses and customer.name == "Customer 7"
    if platform == "telegram":
        assert customer.name == "Wei Zhang" and r.language == "zh-hans"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_bad_signature_is_refused_and_nothing_stored(platform, daemon, http) -> None:
    stand = STANDS[platform]
    before = await keys_now(daemon)
    good = stand.message(1, 7, "hello")
    attempts = [stand.forged(1, 7, "hello"), stand.unsigned(good)]
    if platform in ("whatsapp", "messenger", "instagram", "generic"):
        attempts.append(replace(good, body=good.body.replace(b"hello", b"hellO")))  # tampered
    for attempt in attempts:
        answer = await send(http, daemon, attempt)
        assert answer.status == 401, answer
        error = answer.json()["error"]
        assert error["code"] == "invalid_signature" and error["field"]
    assert await stored(daemon, stand.key(1, 7)) is None
    assert await daemon.store.waiting_count("social") == 0
    assert await keys_now(daemon) == before


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_replayed_delivery_is_one_request(platform, daemon, http) -> None:
    stand = STANDS[platform]
    delivery = stand.message(1, 7, "my invoice is wrong")
    answers = [await send(http, daemon, delivery) for _ in range(3)]
    assert all(acknowledged(stand, a) for a in answers), answers
    assert await daemon.store.waiting_count("social") == 1
    request_id = await stored(daemon, stand.key(1, 7))
    assert request_id is not None and await daemon.store.messages(request_id) == []
    if platform == "generic":
        assert [a.json()["duplicate"] for a in answers] == [False, True, True]
        assert {a.json()["request_id"] for a in answers} == {request_id}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_follow_up_in_the_same_chat_joins_the_open_request(platform, daemon, http) -> None:
    stand = STANDS[platform]
    assert acknowledged(stand, await send(http, daemon, stand.message(1, 7, "printer is down")))
    assert acknowledged(
        stand, await send(http, daemon, stand.message(2, 7, "still down, 3rd floor"))
    )
    assert acknowledged(stand, await send(http, daemon, stand.message(3, 8, "other customer")))
    first, follow_up, other = [
        await stored(daemon, stand.key(n, u)) for n, u in ((1, 7), (2, 7), (3, 8))
    ]
    assert first is not None and follow_up == first and other not in (None, first)
    messages = await daemon.store.messages(first)
    assert [m.body for m in messages] == ["still down, 3rd floor"]
    assert messages[0].external_id == stand.key(2, 7).removeprefix("social:")
    assert await daemon.store.waiting_count("social") == 2


async def test_a_message_after_the_request_closed_opens_a_new_one(daemon, http) -> None:
    stand = STANDS["telegram"]
    assert acknowledged(stand, await send(http, daemon, stand.message(1, 7, "refund please")))
    first = await stored(daemon, stand.key(1, 7))
    assert first is not None
    await daemon.store.abandon(first, "customer gave up")
    assert acknowledged(stand, await send(http, daemon, stand.message(2, 7, "new problem")))
    second = await stored(daemon, stand.key(2, 7))
    assert second not in (None, first)
    assert await daemon.front.customers.thread(stand.ref(7)) == second


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_oversize_body_is_413_and_nothing_stored(platform, daemon, http) -> None:
    stand = STANDS[platform]
    big = stand.message(1, 7, "x" * MAX_BODY)
    answer = await send(http, daemon, big)
    assert answer.status == 413, answer
    assert answer.json()["error"] == {
        "code": "too_large", "message": f"the body is larger than {MAX_BODY} bytes", "field": "body"
    }  # fmt: skip
    assert await stored(daemon, stand.key(1, 7)) is None


async def test_oversize_chunked_body_without_length_is_413(daemon, http) -> None:
    stand = STANDS["whatsapp"]
    big = stand.message(1, 7, "y" * (3 * MAX_BODY))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big.body), 8192):
            yield big.body[i : i + 8192]

    answer = await send(http, daemon, big, data=chunks())
    assert answer.status == 413 and answer.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_redis_down_is_503_and_the_retry_is_stored_once(platform, tmp_path, http) -> None:
    stand = STANDS[platform]
    server = EmbeddedRedis(tmp_path / "r", appendfsync="always")
    server.start()
    try:
        async with running(server.url, tmp_path) as daemon:
            delivery = stand.message(1, 7, "the app crashes at login")
            server.stop()
            down = await send(http, daemon, delivery)
            assert down.status == 503 and down.headers["Retry-After"] == "5"
            assert down.json()["error"]["code"] == "unavailable"
            server.start()
            retried = [
                await send(http, daemon, delivery) for _ in range(2)
            ]  # the platform's retries
            assert all(acknowledged(stand, a) for a in retried), retried
            assert await daemon.store.waiting_count("social") == 1
            assert await stored(daemon, stand.key(1, 7)) is not None
    finally:
        server.stop()


# -- handshakes ------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", ["whatsapp", "messenger", "instagram"])
async def test_meta_subscription_check(platform, daemon, http) -> None:
    token = {"whatsapp": "wa", "messenger": "fb", "instagram": "ig"}[platform] + "-verify-token"
    query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    path = f"/v1/webhooks/{platform}"
    ok = await send(http, daemon, Delivery("GET", path, params=query))
    assert (ok.status, ok.text) == (200, "1158201444")
    wrong = await send(
        http, daemon, Delivery("GET", path, params={**query, "hub.verify_token": "x"})
    )
    assert wrong.status == 403 and wrong.json()["error"]["field"] == "hub.verify_token"
    other = f"/v1/webhooks/{'messenger' if platform == 'whatsapp' else 'whatsapp'}"
    assert (await send(http, daemon, Delivery("GET", other, params=query))).status == 403
    missing = await send(http, daemon, Delivery("GET", path, params={"hub.mode": "subscribe"}))
    assert missing.status == 400 and missing.json()["error"]["code"] == "missing_parameter"


async def test_wechat_server_check(daemon, http) -> None:
    path = "/v1/webhooks/wechat"
    ok = await send(
        http, daemon, Delivery("GET", path, params=wechat_query(WX_TOKEN, echostr="e-6543"))
    )
    assert (ok.status, ok.text) == (200, "e-6543")
    for params in (
        wechat_query("otherToken", echostr="e-6543"),
        wechat_query(WX_TOKEN, stamp=int(time.time()) - 3600, echostr="e-6543"),  # replayed
        {**wechat_query(WX_TOKEN, echostr="e-6543"), "nonce": "1"},
        {"echostr": "e-6543"},
    ):
        answer = await send(http, daemon, Delivery("GET", path, params=params))
        assert answer.status == 403 and answer.json()["error"]["code"] == "verification_failed"
    no_echo = await send(http, daemon, Delivery("GET", path, params=wechat_query(WX_TOKEN)))
    assert no_echo.status == 400


async def test_wechat_stale_or_declaring_messages_are_refused(daemon, http) -> None:
    stand = STANDS["wechat"]
    body = stand.payload(1, 7, "hello")
    old = Delivery("POST", stand.path, body, params=wechat_query(WX_TOKEN, int(time.time()) - 600))
    answer = await send(http, daemon, old)
    assert answer.status == 401 and answer.json()["error"]["code"] == "stale_timestamp"
    evil = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>&x;</xml>'
    answer = await send(http, daemon, stand.signed(evil))
    assert answer.status == 400 and answer.json()["error"]["code"] == "invalid_payload"
    subscribe = wechat_xml("o-new-follower", None, "", kind="event", Event="subscribe")
    assert acknowledged(stand, await send(http, daemon, stand.signed(subscribe)))
    assert await daemon.store.waiting_count("social") == 0


async def test_telegram_secret_header_is_required(daemon, http) -> None:
    stand = STANDS["telegram"]
    good = stand.message(1, 7, "hi")
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": ""},
                    {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET + "x"}):  # fmt: skip
        answer = await send(http, daemon, replace(good, headers=headers))
        assert (
            answer.status == 401
            and answer.json()["error"]["field"] == "X-Telegram-Bot-Api-Secret-Token"
        )
    callback = stand.signed(encoded({"update_id": 5, "callback_query": {"id": "1", "data": "x"}}))
    assert acknowledged(stand, await send(http, daemon, callback))
    assert await daemon.store.waiting_count("social") == 0


# -- batches, rate limits, routes ------------------------------------------------------------
async def test_whatsapp_batch_is_one_request_per_message_and_statuses_are_ignored(
    daemon, http
) -> None:
    stand = STANDS["whatsapp"]
    doc = whatsapp_payload(
        [wa_text("wamid.A", "16505551234", "where is my refund?"),
         wa_text("wamid.B", "447700900123", "cannot log in")],
        [wa_contact("16505551234", "Sheena Nelson"), wa_contact("447700900123", "Tom Baker")],
        statuses=[wa_status("wamid.OUT", "16505551234")],
    )  # fmt: skip
    assert acknowledged(stand, await send(http, daemon, stand.signed(encoded(doc))))
    ids = [await stored(daemon, f"social:whatsapp:wamid.{x}") for x in "AB"]
    assert None not in ids and len(set(ids)) == 2
    records = [await daemon.store.get(i) for i in ids if i]
    names = [(await daemon.front.customers.get(r.request.customer.id)).name for r in records if r]
    assert names == ["Sheena Nelson", "Tom Baker"]
    statuses = whatsapp_payload([], [], statuses=[wa_status("wamid.OUT2", "16505551234")])
    assert acknowledged(stand, await send(http, daemon, stand.signed(encoded(statuses))))
    assert await daemon.store.waiting_count("social") == 2


async def test_messenger_echoes_and_receipts_are_acknowledged_and_ignored(daemon, http) -> None:
    stand = STANDS["messenger"]
    events = [
        fb_message(PAGE_ID, "1254459154682919", "m_echo", "we replied", is_echo=True),
        {"sender": {"id": "1254459154682919"}, "recipient": {"id": PAGE_ID},
         "timestamp": 1458668856463, "read": {"watermark": 1458668856253}},
    ]  # fmt: skip
    before = await keys_now(daemon)
    answer = await send(http, daemon, stand.signed(encoded(messaging_payload("messenger", events))))
    assert acknowledged(stand, answer)
    assert await keys_now(daemon) == before


async def test_a_sender_over_its_limit_gets_429_and_the_rest_is_stored(
    redis, redis_server, tmp_path, http
) -> None:
    stand = STANDS["whatsapp"]
    doc = whatsapp_payload(
        [wa_text("wamid.A1", "16505551234", "one"), wa_text("wamid.A2", "16505551234", "two"),
         wa_text("wamid.B1", "447700900123", "other")], [])  # fmt: skip
    async with running(redis_server.url, tmp_path, per_sender=1) as daemon:
        for _ in range(2):  # the platform retries: stored messages are not counted again
            answer = await send(http, daemon, stand.signed(encoded(doc)))
            assert answer.status == 429 and int(answer.headers["Retry-After"]) >= 1
            assert answer.json()["error"]["code"] == "rate_limited"
        found = [await stored(daemon, f"social:whatsapp:wamid.{x}") for x in ("A1", "A2", "B1")]
        assert found[0] is not None and found[1] is None and found[2] is not None


async def test_unconfigured_platforms_and_names_are_404(
    redis, redis_server, tmp_path, http
) -> None:
    async with running(redis_server.url, tmp_path, only=["telegram"]) as daemon:
        for path in ("/v1/webhooks/whatsapp", "/v1/webhooks/wechat", "/v1/webhooks/generic/shop"):
            answer = await send(http, daemon, Delivery("POST", path, b"{}"))
            assert answer.status == 404 and answer.json()["error"]["code"] == "not_found"
        answer = await send(http, daemon, Delivery("GET", "/v1/webhooks/telegram"))
        assert answer.status == 405 and answer.headers["Allow"] == "POST"


async def test_generic_webhook_refusals(daemon, http) -> None:
    stand = STANDS["generic"]
    assert isinstance(stand, Generic)
    unknown = replace(stand.message(1, 7, "hi"), path="/v1/webhooks/generic/shop")
    assert (await send(http, daemon, unknown)).status == 404
    stale = stand.signed(stand.payload(1, 7, "hi"), stamp=int(time.time()) - 3600)
    answer = await send(http, daemon, stale)
    assert answer.status == 401 and answer.json()["error"]["field"] == "X-Frontdesk-Timestamp"
    bad = stand.signed(encoded({"id": "e1", "from": {"id": "c-1", "phone": "12345"}, "text": "x"}))
    answer = await send(http, daemon, bad)
    assert answer.status == 400
    assert answer.json()["error"] == {
        "code": "invalid_payload",
        "message": "from.phone: must be an E.164 number such as +8613800138000",
        "field": "from.phone",
    }
    assert await daemon.store.waiting_count("social") == 0


async def test_one_customer_across_platforms_by_phone_number(daemon, http) -> None:
    wa, generic = STANDS["whatsapp"], STANDS["generic"]
    assert acknowledged(wa, await send(http, daemon, wa.message(1, 7, "hello from WhatsApp")))
    doc = generic_message("evt-9", "c-99", "hello from the CRM")
    doc["from"]["phone"] = "+8613800000007"
    assert acknowledged(generic, await send(http, daemon, generic.signed(encoded(doc))))
    ids = [await stored(daemon, k) for k in (wa.key(1, 7), "social:partner-crm:evt-9")]
    records = [await daemon.store.get(i) for i in ids if i]
    assert len(records) == 2 and records[0] and records[1]
    assert records[0].request.customer.id == records[1].request.customer.id


# -- signed garbage through the endpoint -----------------------------------------------------
def _garbage(platform: str) -> st.SearchStrategy[bytes]:
    base = st.binary(max_size=400) | JSON.map(encoded)
    if platform == "wechat":
        text = st.text(max_size=60)
        return (
            base
            | text.map(lambda t: wechat_xml("o1", "1", t))
            | text.map(lambda t: f"<xml><MsgType>{t}</MsgType></xml>".encode())
        )
    return base | mutations(SAMPLES[platform])


@pytest.mark.parametrize("platform", PLATFORMS)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_signed_garbage_is_a_clean_refusal(platform, daemon, http, data) -> None:
    stand = STANDS[platform]
    body = data.draw(_garbage(platform))
    answer = await send(http, daemon, stand.signed(body))
    assert answer.status in (200, 400), answer
    if answer.status == 400:
        error = answer.json()["error"]
        assert error["code"] == "invalid_payload" and error["field"] and error["message"]


def test_every_platform_is_stood_in() -> None:
    assert set(STANDS) == set(PLATFORMS) == set(PLATFORM_CONFIG)
    assert all(isinstance(s, Stand) for s in STANDS.values())
