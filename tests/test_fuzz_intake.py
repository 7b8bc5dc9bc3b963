"""A fuzzer of every HTTP intake endpoint, on a real daemon, real Redis and a real HTTP client:
random bytes and random JSON (lone surrogates, deep nesting, huge numbers, wrong types, valid
documents with one field replaced) to the generic, Telegram, Meta and WeChat webhooks (signed
correctly, so that the parser is reached), the web form, the phone callback, the chat REST start
and the chat WebSocket's frames. Whatever comes in: never a 5xx; a 4xx carries a JSON error; a 2xx
means the request is in Redis."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_social import GENERIC_SECRET, PLATFORM_CONFIG, TG_SECRET, WA_SECRET, wechat_query
from test_social_parsers import (
    generic_message,
    telegram_update,
    wa_contact,
    wa_text,
    wechat_xml,
    whatsapp_payload,
)

from frontdesk.channels.phone import signed_headers
from frontdesk.channels.social import generic as webhook_generic
from frontdesk.channels.social import meta, telegram, wechat
from frontdesk.queues.errors import DecodeError
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings

EXAMPLES = 200
SITE, ORIGIN, PHONE_SECRET = "site-fuzz-00001", "https://www.example.com", "fuzz-phone-secret"
CONFIG = f"""\
tenant: fuzz
redis: {{url: "@URL@"}}
http: {{port: 0}}
queues: {{general: {{}}}}
default_queue: general
limits:
  per_sender: {{count: 100000, per: 1m}}
  per_source: {{count: 100000, per: 1m}}
channels:
  form:
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}"]}}
  phone:
    secret: {PHONE_SECRET}
  chat:
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}"]}}
  social:
    max_body: 64KB
{PLATFORM_CONFIG["whatsapp"]}{PLATFORM_CONFIG["telegram"]}{PLATFORM_CONFIG["wechat"]}\
{PLATFORM_CONFIG["generic"]}"""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
async def daemon(redis, redis_server, tmp_path: Path) -> AsyncIterator[Daemon]:
    secret = tmp_path / "generic.secret"
    secret.write_text(GENERIC_SECRET)
    text = CONFIG.replace("@URL@", redis_server.url).replace("@GENERIC_FILE@", str(secret))
    d = Daemon(parse_settings(text, "fuzz.yaml"), "fuzz.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- what is sent -------------------------------------------------------------------------------
HOSTILE_TEXT = (
    st.text(max_size=30)
    | st.sampled_from(["\ud800", "\udfff", "a\udc80b", "\x00", "\u2028", "😀" * 3, " ", ""])
    | st.text(max_size=10).map(lambda t: t + "\ud83d")
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | HOSTILE_TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _paths(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*at, i))
    return found


def _replaced(doc: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[at[0]] = _replaced(doc[at[0]], at[1:], value)
    return copy


@st.composite
def _mutated(draw: st.DrawFn, doc: Any) -> Any:
    """`doc` with one field (anywhere in it, or the whole) replaced by a hostile value."""
    at = draw(st.sampled_from(_paths(doc)))
    return _replaced(doc, at, draw(VALUES))


LONE = st.sampled_from(["\ud800", "\udfff", "\udc80"])


@st.composite
def _poisoned(draw: st.DrawFn, doc: Any) -> Any:
    """`doc` with a lone surrogate in one of its strings: what a platform's bug sends."""
    strings = [at for at in _paths(doc) if at and isinstance(_at(doc, at), str)]
    at = draw(st.sampled_from(strings))
    text = _at(doc, at)
    cut = draw(st.integers(0, len(text)))
    return _replaced(doc, at, text[:cut] + draw(LONE) + text[cut:])


def _at(doc: Any, at: tuple[Any, ...]) -> Any:
    for step in at:
        doc = doc[step]
    return doc


def bodies(*docs: Any) -> st.SearchStrategy[bytes]:
    """Random bytes, deep nesting, random JSON, and valid documents with one field replaced; JSON
    goes out as ASCII, so a lone surrogate travels as its `\\ud800` escape."""
    deep = st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
    nested = st.integers(1, 3000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode())
    documents = VALUES | st.one_of(*(_mutated(d) for d in docs), *(_poisoned(d) for d in docs))
    return st.binary(max_size=300) | deep | nested | documents.map(lambda d: json.dumps(d).encode())


# -- the endpoints, signed as their senders sign -------------------------------------------------
Request = tuple[str, str, dict[str, str], dict[str, str]]  # method, path, headers, query


def generic(body: bytes) -> Request:
    stamp = str(int(time.time()))
    signature = webhook_generic.sign(GENERIC_SECRET, stamp, body)
    headers = {"Content-Type": "application/json", "X-Frontdesk-Timestamp": stamp,
               "X-Frontdesk-Signature": signature}  # fmt: skip
    return "POST", "/v1/webhooks/generic/partner-crm", headers, {}


def whatsapp(body: bytes) -> Request:
    headers = {
        "Content-Type": "application/json",
        meta.SIGNATURE_HEADER: meta.sign(WA_SECRET, body),
    }
    return "POST", "/v1/webhooks/whatsapp", headers, {}


def telegram_bot(body: bytes) -> Request:
    headers = {"Content-Type": "application/json", telegram.SECRET_HEADER: TG_SECRET}
    return "POST", "/v1/webhooks/telegram", headers, {}


def wechat_account(body: bytes) -> Request:
    return "POST", "/v1/webhooks/wechat", {"Content-Type": "text/xml"}, wechat_query("wechatToken1")


def form(body: bytes) -> Request:
    key = hashlib.sha256(body).hexdigest()[:32]
    headers = {"Content-Type": "application/json", "X-Frontdesk-Site": SITE, "Origin": ORIGIN,
               "Idempotency-Key": key}  # fmt: skip
    return "POST", "/v1/requests", headers, {}


def phone(body: bytes) -> Request:
    headers = {"Content-Type": "application/json", **signed_headers(PHONE_SECRET, body)}
    return "POST", "/v1/callbacks", headers, {}


def chat_rest(body: bytes) -> Request:
    return "POST", "/v1/chat/conversations", {"Content-Type": "application/json",
                                              "Origin": ORIGIN}, {"site": SITE}  # fmt: skip


def _social_keys(kind: str, body: bytes) -> list[str]:
    """The idempotency keys of the messages a platform's parser finds in `body`."""
    try:
        if kind == "whatsapp":
            found = meta.parse("whatsapp", body)
        elif kind == "telegram":
            found = telegram.parse(body, "support_bot")
        else:
            found = wechat.parse(body, None)
    except DecodeError:
        return []
    return [i.request.idempotency_key for i in found if i.request.idempotency_key]


ENDPOINTS: dict[str, tuple[Any, st.SearchStrategy[bytes]]] = {
    "generic": (generic, bodies(generic_message("evt-1", "c-1", "help", attributes={"a": 1}))),
    "whatsapp": (
        whatsapp,
        bodies(
            whatsapp_payload(
                [wa_text("wamid.1", "8613800000001", "hi")], [wa_contact("8613800000001", "Li")]
            )
        ),
    ),
    "telegram": (telegram_bot, bodies(telegram_update(1, 400001, 1, "hi"))),
    "wechat": (
        wechat_account,
        st.binary(max_size=300)
        | HOSTILE_TEXT.map(lambda t: wechat_xml("o1", "1", t.encode("utf-8", "replace").decode()))
        | st.text(max_size=60).map(lambda t: f"<xml><MsgType>{t}</MsgType></xml>".encode()),
    ),
    "form": (
        form,
        bodies(
            {
                "name": "Li",
                "email": "li@example.com",
                "body": "help",
                "attributes": {"order": "A-1"},
            }
        ),
    ),
    "phone": (phone, bodies({"number": "+8613800138000", "name": "Li", "reason": "refund"})),
    "chat": (chat_rest, bodies({"text": "hello", "name": "Li", "contact": {"email": "a@b.cn"}})),
}


def _request_id(answer: Any) -> str | None:
    if isinstance(answer, dict):
        for key in ("request_id", "request", "id"):
            if isinstance(answer.get(key), str) and answer[key].startswith("FD-"):
                return str(answer[key])
    return None


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@FUZZ
@given(data=st.data())
async def test_intake_endpoints_never_fail_on_hostile_bodies(
    endpoint: str, daemon: Daemon, http: aiohttp.ClientSession, data: st.DataObject
) -> None:
    build, strategy = ENDPOINTS[endpoint]
    body = data.draw(strategy)
    method, path, headers, query = build(body)
    assert daemon.address is not None
    url = f"http://127.0.0.1:{daemon.address[1]}{path}"
    async with http.request(method, url, data=body, headers=headers, params=query) as response:
        status, raw, kind = response.status, await response.read(), response.content_type
    assert status < 500, (status, raw[:300], body[:200])
    assert status != 401, ("signed correctly: the parser must be reached", raw[:300])
    if status >= 400:
        assert kind == "application/json", (status, raw[:300])
        error = json.loads(raw)["error"]
        assert error["code"] and error["message"], error
        return
    if endpoint in ("whatsapp", "telegram", "wechat"):  # acknowledged as the platform wants
        for key in _social_keys(endpoint, body):
            assert await daemon.store.seen(key), (key, body[:200])
        return
    request_id = _request_id(json.loads(raw))
    assert request_id is not None, raw[:300]
    assert await daemon.store.get(request_id) is not None


CHAT_FRAMES = st.one_of(
    VALUES.map(lambda v: json.dumps(v)),
    _mutated({"type": "start", "text": "hello", "name": "Li"}).map(json.dumps),
    _mutated({"type": "message", "id": "m-1", "text": "more"}).map(json.dumps),
    _mutated({"type": "resume", "conversation": "c", "token": "t", "after": 0}).map(json.dumps),
    st.text(max_size=50),
)


@FUZZ
@given(frames=st.lists(CHAT_FRAMES, min_size=1, max_size=4))
async def test_chat_frames_never_break_the_socket(
    daemon: Daemon, http: aiohttp.ClientSession, frames: list[str]
) -> None:
    """Each frame gets a frame back (an error naming what is wrong, or its answer); the server
    never closes the socket on a frame with an internal error."""
    assert daemon.address is not None
    url = f"http://127.0.0.1:{daemon.address[1]}/v1/chat/ws?site={SITE}"
    async with http.ws_connect(url, headers={"Origin": ORIGIN}) as ws:
        for frame in frames:
            await ws.send_str(frame)
            msg = await ws.receive(timeout=10)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                assert msg.data != aiohttp.WSCloseCode.INTERNAL_ERROR, (frame, msg)
                return
            assert msg.type is aiohttp.WSMsgType.TEXT, (frame, msg)
            reply = json.loads(msg.data)
            assert isinstance(reply, dict) and isinstance(reply.get("type"), str), reply
            if reply["type"] == "started":
                assert await daemon.store.get(reply["request"]) is not None
