"""Hostile input, on real parts (issue 10, defects 2, 5, 6, 7): text that is not text in a
webhook or a mail is a 4xx or a permanent SMTP refusal with nothing stored; a body that stalls is
408 and its connection closed; a client that goes away, or sends a URL over 8 KB, is one INFO
line and never an ERROR; an admin token on the agent socket is 403."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import FRONT_CONFIG
from test_social import STANDS, keys_now, running, send
from test_social_parsers import (
    IG_ID,
    PAGE_ID,
    fb_message,
    generic_message,
    messaging_payload,
    telegram_update,
    wa_contact,
    wa_text,
    whatsapp_payload,
)

from frontdesk.channels.mail.smtp import SmtpChannel, create
from frontdesk.queues.errors import EncodeError
from frontdesk.queues.request import (
    Attachment,
    Channel,
    Customer,
    Message,
    Request,
    check_text,
    encode,
)
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Front, Inbound

LONE = "\ud800"  # what the JSON escape "\ud800" decodes to: no UTF-8 store can keep it


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()  # ASCII: a lone surrogate goes over the wire as \ud800


# -- defect 2: lone surrogates in JSON webhooks ----------------------------------------------------
SURROGATE_BODIES = {
    "generic-text": ("generic", generic_message("evt-1", "c-1", f"help {LONE}"), "text"),
    "generic-name": (
        "generic",
        {"id": "evt-2", "from": {"id": "c-2", "name": f"Ann {LONE}"}, "text": "hi"},
        "from.name",
    ),
    "generic-attribute": (
        "generic",
        generic_message("evt-3", "c-3", "hi", attributes={"order": LONE}),
        "attributes.order",
    ),
    "whatsapp-text": (
        "whatsapp",
        whatsapp_payload([wa_text("wamid.1", "8613800000001", LONE)], []),
        "entry[0].changes[0].value.messages[0].text.body",
    ),
    "whatsapp-contact": (
        "whatsapp",
        whatsapp_payload(
            [wa_text("wamid.2", "8613800000002", "hi")], [wa_contact("8613800000002", LONE)]
        ),
        "entry[0].changes[0].value.contacts[0].profile.name",
    ),
    "messenger-text": (
        "messenger",
        messaging_payload("messenger", [fb_message("1254459154600001", PAGE_ID, "m_1", LONE)]),
        "entry[0].messaging[0].message.text",
    ),
    "instagram-text": (
        "instagram",
        messaging_payload("instagram", [fb_message("1254459154600002", IG_ID, "m_2", LONE)]),
        "entry[0].messaging[0].message.text",
    ),
    "telegram-first-name": (
        "telegram",
        telegram_update(1, 400001, 1, "hi", **{"from": {"id": 400001, "first_name": LONE}}),
        "message.from.first_name",
    ),
    "telegram-text": ("telegram", telegram_update(2, 400002, 2, LONE), "message.text"),
}


@pytest.mark.parametrize("case", SURROGATE_BODIES)
async def test_a_lone_surrogate_in_a_webhook_is_400_naming_the_field_and_stores_nothing(
    case: str, redis, redis_server, tmp_path: Path
) -> None:
    platform, doc, field = SURROGATE_BODIES[case]
    async with running(redis_server.url, tmp_path) as daemon, aiohttp.ClientSession() as http:
        before = await keys_now(daemon)
        answer = await send(http, daemon, STANDS[platform].signed(_json(doc)))
        assert answer.status == 400, answer
        error = answer.json()["error"]
        assert error["code"] == "invalid_payload" and error["field"] == field, error
        assert await keys_now(daemon) == before  # no customer record, no thread, nothing
        again = await send(http, daemon, STANDS[platform].signed(_json(doc)))  # the retry
        assert again.status == 400 and await keys_now(daemon) == before


async def test_a_surrogate_in_a_json_name_is_refused_too(redis, redis_server, tmp_path) -> None:
    doc = generic_message("evt-9", "c-9", "hi", attributes={LONE: "x"})
    async with running(redis_server.url, tmp_path) as daemon, aiohttp.ClientSession() as http:
        answer = await send(http, daemon, STANDS["generic"].signed(_json(doc)))
        assert answer.status == 400 and answer.json()["error"]["field"] == "attributes.(name)"


async def test_wechat_xml_cannot_carry_a_surrogate(redis, redis_server, tmp_path) -> None:
    raw = (
        b"<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>"
        b"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&#xD800;</Content></xml>"
    )
    async with running(redis_server.url, tmp_path) as daemon, aiohttp.ClientSession() as http:
        before = await keys_now(daemon)
        answer = await send(http, daemon, STANDS["wechat"].signed(raw))
        assert answer.status == 400 and answer.json()["error"]["field"] == "body"
        assert await keys_now(daemon) == before


def test_a_request_or_message_is_checked_for_text_before_it_is_stored() -> None:
    """The front door's check (and the codec's, naming the field): msgpack could not keep it."""
    cases: list[tuple[dict[str, Any], str]] = [
        ({"body": LONE}, "body"),
        ({"customer": Customer(name=LONE)}, "customer.name"),
        ({"customer": Customer(handles={"telegram": LONE})}, "customer.handles.telegram"),
        ({"attachments": (Attachment("a.txt", f"text/{LONE}", 1),)}, "attachments[0].content_type"),
        ({"attributes": {"order": LONE}}, "attributes.order"),
    ]
    for fields, where in cases:
        bad = Request("", Channel.SOCIAL, "", **fields)
        with pytest.raises(EncodeError) as refused:
            check_text(bad)
        assert refused.value.what == where
        with pytest.raises(EncodeError) as refused:
            bad.encode()
        assert refused.value.what == where
    with pytest.raises(EncodeError):
        encode(Message(body="ok", external_id=LONE))
    good = Request("", Channel.SOCIAL, "", body="我要退款 😀", customer=Customer(name="Zoë"))
    assert Request.decode(good.encode()) == good


# -- defect 6 (and the mail path of 2): SMTP with bytes that are not UTF-8 ----------------------
SMTP_SECTION = """\
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    max_size: 64KB
    addresses:
      support@example.com: {}
"""


@pytest.fixture
def front_settings() -> Settings:
    return parse_settings(FRONT_CONFIG + SMTP_SECTION, "front.yaml")


@pytest.fixture
async def smtp(front: Front, front_settings: Settings) -> AsyncIterator[SmtpChannel]:
    channel = create(front_settings.channels["smtp"], front)
    await channel.start()
    yield channel
    await channel.stop()


class Talk:
    """An SMTP client on a raw socket: bytes out as given, one reply (its last line) back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> tuple[int, str]:
        async with asyncio.timeout(10):
            while True:
                line = (await self.reader.readline()).decode("utf-8", "replace")
                assert line, "the server closed the connection"
                if line[3:4] != "-":
                    return int(line[:3]), line[4:].strip()

    async def say(self, line: bytes) -> tuple[int, str]:
        self.writer.write(line + b"\r\n")
        await self.writer.drain()
        return await self.reply()


async def _talk(channel: SmtpChannel) -> Talk:
    assert channel.address is not None
    talk = Talk(*await asyncio.open_connection(*channel.address))
    assert (await talk.reply())[0] == 220
    assert (await talk.say(b"EHLO client.test"))[0] == 250
    return talk


def _no_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not bad, [(r.name, r.getMessage()) for r in bad]


async def test_smtp_addresses_that_are_not_utf8_get_a_permanent_refusal(
    smtp: SmtpChannel, front: Front, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    talk = await _talk(smtp)
    code, text = await talk.say(b"MAIL FROM:<\xff\xfe@x.test>")
    assert code == 553 and text.startswith("5.1.7"), (code, text)
    assert (await talk.say(b"MAIL FROM:<li@example.com>"))[0] == 250
    code, text = await talk.say(b"RCPT TO:<\xffsupport@example.com>")
    assert code == 553 and text.startswith("5.1.3"), (code, text)
    assert (await talk.say(b"QUIT"))[0] == 221
    await _closed(talk.writer)
    assert await front.store.peek("email", 10) == []
    _no_errors(caplog)


async def test_smtp_headers_with_raw_8bit_bytes_are_stored_as_text(
    smtp: SmtpChannel, front: Front, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mail = (
        b"From: \xff\xfe <li@example.com>\r\nTo: support@example.com\r\n"
        b"Subject: \xc0\xc1 refund\r\nMessage-ID: <m-8bit@example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nplease refund\r\n"
        b"--b\r\nContent-Type: application/\xff\xfe\r\n"
        b"Content-Disposition: attachment; filename=x.bin\r\n\r\nabc\r\n--b--\r\n"
    )
    talk = await _talk(smtp)
    assert (await talk.say(b"MAIL FROM:<li@example.com>"))[0] == 250
    assert (await talk.say(b"RCPT TO:<support@example.com>"))[0] == 250
    assert (await talk.say(b"DATA"))[0] == 354
    code, text = await talk.say(mail + b".")
    await _closed(talk.writer)
    assert code == 250, (code, text)
    record = await front.store.get(text.split()[-1])
    assert record is not None
    (attachment,) = record.request.attachments
    assert attachment.filename == "x.bin" and attachment.content_type.startswith("application/")
    attachment.content_type.encode("utf-8")  # text now
    _no_errors(caplog)


# -- defects 5 and 7: a daemon with short HTTP timeouts and tokens of every scope ----------------
TOKENS = {name: new_token() for name in ("ann", "sup", "root")}
DAEMON_CONFIG = f"""\
tenant: hostile
redis: {{url: "@URL@"}}
http: {{port: 0, body_timeout: 1s, idle_timeout: 1s}}
queues: {{general: {{}}}}
default_queue: general
agents:
  - {{id: ann, capacity: {{chat: 1}}, presence: offline}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: root, scope: admin, sha256: {digest(TOKENS["root"])}}}
channels:
  form:
    sites:
      - {{key: site-hostile-1, origins: ["https://www.example.com"]}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    text = DAEMON_CONFIG.replace("@URL@", redis_server.url)
    d = Daemon(parse_settings(text, "hostile.yaml"), "hostile.yaml")
    await d.start()
    yield d
    await d.stop()


def _url(daemon: Daemon, path: str) -> str:
    assert daemon.address is not None
    return f"http://127.0.0.1:{daemon.address[1]}{path}"


def _bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


async def test_an_admin_or_supervisor_token_on_the_agent_socket_is_403(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        for who in ("root", "sup"):
            async with http.get(
                _url(daemon, "/v1/agents/ws"),
                headers={**_bearer(who), "Connection": "Upgrade", "Upgrade": "websocket",
                         "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZQ=="},
            ) as response:  # fmt: skip
                assert response.status == 403, (who, await response.text())
                assert (await response.json())["error"]["code"] == "forbidden"
            async with http.post(_url(daemon, "/v1/agents/ws-ticket"), headers=_bearer(who)) as r:
                assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
        # a ticket that names the admin's token (issued before this check, say) opens nothing
        from frontdesk.router.http.auth import digest as ticket_digest

        key = daemon.store.keys.ws_ticket(ticket_digest("fdw_admin-ticket"))
        await daemon.redis.set(key, "root", ex=30)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(_url(daemon, "/v1/agents/ws?ticket=fdw_admin-ticket"))
        assert refused.value.status == 403
        async with http.ws_connect(_url(daemon, "/v1/agents/ws"), headers=_bearer("ann")) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "hello"  # agents still can


async def _closed(writer: asyncio.StreamWriter) -> None:
    """Close a raw connection and wait until its socket is released (an unawaited close leaves
    the socket to the garbage collector, a ResourceWarning in a later test)."""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _raw(daemon: Daemon) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert daemon.address is not None
    return await asyncio.open_connection("127.0.0.1", daemon.address[1])


async def _read_all(reader: asyncio.StreamReader, within_s: float) -> bytes:
    """Everything until the server closes the connection (fails if it is still open)."""
    async with asyncio.timeout(within_s):
        return await reader.read()


FORM_POST = (
    b"POST /v1/requests HTTP/1.1\r\nHost: x\r\nX-Frontdesk-Site: site-hostile-1\r\n"
    b"Idempotency-Key: k-1\r\nOrigin: https://www.example.com\r\n"
    b"Content-Type: application/json\r\n"
)


async def test_a_stalled_body_is_408_and_the_connection_closed(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reader, writer = await _raw(daemon)
    writer.write(FORM_POST + b"Content-Length: 10000\r\n\r\n" + b'{"text": "')
    await writer.drain()
    answer = await _read_all(reader, within_s=15)  # body_timeout 1s
    await _closed(writer)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert json.loads(body)["error"] == {
        "code": "body_timeout", "field": "body",
        "message": "the body did not arrive: no complete body within 1s",
    }  # fmt: skip
    _no_errors(caplog)


async def test_headers_that_never_end_are_closed_by_the_idle_timeout(daemon: Daemon) -> None:
    reader, writer = await _raw(daemon)
    writer.write(b"POST /v1/requests HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    await writer.drain()
    assert await _read_all(reader, within_s=15) == b""  # idle_timeout 1s: closed, unanswered
    await _closed(writer)


async def test_a_client_that_leaves_mid_body_is_one_info_line(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        _, writer = await _raw(daemon)
        writer.write(FORM_POST + b"Content-Length: 10000\r\n\r\n" + b'{"text": "' + b"x" * 2000)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(10):
        while sum("went away" in r.getMessage() for r in caplog.records) < 3:
            await asyncio.sleep(0.05)
    _no_errors(caplog)
    went = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(went) == 3 and all(r.levelno == logging.INFO for r in went)


async def test_a_url_over_8kb_is_400_and_an_info_line(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reader, writer = await _raw(daemon)
    writer.write(b"GET /v1/requests/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    answer = await _read_all(reader, within_s=10)
    await _closed(writer)
    assert answer.split(b" ")[1] in (b"400", b"414"), answer[:200]
    _no_errors(caplog)
    lines = [r for r in caplog.records if r.name.startswith("frontdesk.http")]
    assert any("LineTooLong" in r.getMessage() for r in lines), [r.getMessage() for r in lines]
    assert all(len(r.getMessage()) < 400 for r in lines)  # one line, not the 9 KB URL and more


async def test_a_surrogate_in_an_api_body_is_400_naming_the_field(daemon: Daemon) -> None:
    """A supervisor's forced assignment whose reason holds a lone surrogate: refused when the
    body is read (it was stored, escaped, in the request's routing), and the request did not
    move."""
    inbound = Inbound(Request("", Channel.CHAT, "", external_id="x-1", body="hello"))
    request_id = (await daemon.front.receive(inbound)).request_id
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            _url(daemon, f"/v1/requests/{request_id}/assign"),
            data=_json({"agent": "ann", "reason": LONE}),
            headers={**_bearer("sup"), "Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400, await response.text()
        assert (await response.json())["error"]["field"] == "reason"
    record = await daemon.store.get(request_id)
    assert record is not None and record.state.value == "waiting"


SMTP_GARBAGE = {
    "open-bracket": [b"MAIL FROM:<"],
    "crlf-in-sender": [b"MAIL FROM:<\r\n>"],
    "crlf-in-recipient": [b"MAIL FROM:<li@example.com>", b"RCPT TO:<\r\n>"],
    "nul": [b"MAIL FROM:<a\x00b@x.test>"],
    "long": [b"MAIL FROM:<" + b"x" * 900 + b">"],
}


@pytest.mark.parametrize("commands", SMTP_GARBAGE.values(), ids=SMTP_GARBAGE.keys())
async def test_smtp_garbage_gets_no_temporary_refusal(
    smtp: SmtpChannel, caplog: pytest.LogCaptureFixture, commands: list[bytes]
) -> None:
    """Found by the chaos suite's fuzzer: some broken addresses were answered 451."""
    caplog.set_level(logging.INFO)
    talk = await _talk(smtp)
    for command in commands:
        talk.writer.write(command + b"\r\n")
    await talk.writer.drain()
    codes = []
    async with asyncio.timeout(10):
        for _ in range(command_lines(commands)):
            codes.append((await talk.reply())[0])
    await _closed(talk.writer)
    assert 451 not in codes and all(c < 400 or c >= 500 for c in codes), codes
    ours = [r for r in caplog.records if r.name.startswith("frontdesk")]
    assert not [r for r in ours if r.levelno >= logging.WARNING or r.exc_info], ours
    assert not [r for r in caplog.records if r.exc_info]  # aiosmtpd warns of the line, no more


def command_lines(commands: list[bytes]) -> int:
    return sum(c.count(b"\r\n") + 1 for c in commands)
