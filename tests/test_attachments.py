"""Attachments kept: a mail's files arrive over real SMTP, are stored by content before the
request, listed with a URL, and served as downloads to whoever may see the request; those over
the size limit are listed without content, and an expired one answers 410."""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

from frontdesk.queues.blobs import BlobStore, reference
from frontdesk.queues.request import Attachment, Message
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.http.views import attachment_view

TOKENS = {name: new_token() for name in ("sup", "ann", "bob")}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
CONFIG = f"""\
tenant: att
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues:
  email: {{mode: assign}}
default_queue: email
agents:
  - {{id: ann, capacity: {{email: 2}}, presence: available}}
  - {{id: bob, capacity: {{email: 2}}, presence: offline}}
api:
  tokens:
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: desk.test
    max_attachment_size: 4KB
    addresses: {{support@example.com: {{}}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    settings = parse_settings(CONFIG.replace("{url}", redis_server.url), "att.yaml")
    d = Daemon(settings, "att.yaml")
    await d.start()
    yield d
    await d.stop()


def _send(d: Daemon, mail: EmailMessage) -> str:
    """The request the mail became, from the 250 reply to DATA."""
    smtp = next(c for c in d.channels if c.name == "smtp")
    with smtplib.SMTP(*smtp.address, timeout=30) as client:  # type: ignore[attr-defined]
        client.ehlo("client.test")
        assert client.mail("li@example.com")[0] == 250
        assert client.rcpt("support@example.com")[0] == 250
        code, reply = client.data(mail.as_bytes())
    assert code == 250, reply
    found = re.search(rb"FD-\d+", reply)
    assert found is not None
    return found[0].decode()


async def _held_by(d: Daemon, rid: str, agent: str) -> None:
    for _ in range(500):
        record = await d.store.get(rid)
        if record is not None and record.agent == agent:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{rid} never went to {agent}")


async def _call(d: Daemon, path: str, token: str) -> tuple[int, Any, dict[str, str]]:
    assert d.address is not None
    url = f"http://127.0.0.1:{d.address[1]}{path}"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        body = await (
            response.json() if response.content_type == "application/json" else response.read()
        )
        return response.status, body, dict(response.headers)


async def test_a_mails_attachments_are_kept_and_served_as_downloads(daemon: Daemon) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "li@example.com", "support@example.com", "截图"
    mail["Message-ID"] = "<att-1@example.com>"
    mail.set_content("见附件")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="错误 截图.png")
    mail.add_attachment(b"x" * 5000, maintype="application", subtype="pdf", filename="big.pdf")
    mail.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html",
                        filename="page.html")  # fmt: skip
    rid = await asyncio.to_thread(_send, daemon, mail)
    status, view, _ = await _call(daemon, f"/v1/requests/{rid}", TOKENS["sup"])
    assert status == 200
    png, big, page = view["attachments"]
    assert (png["filename"], png["content_type"], png["size"]) == (
        "错误 截图.png",
        "image/png",
        len(PNG),
    )
    assert png["url"] == f"/v1/requests/{rid}/attachments/{reference(PNG)}"
    assert (big["size"], big["url"]) == (5000, None)  # over max_attachment_size: listed only

    status, body, headers = await _call(daemon, png["url"], TOKENS["sup"])
    assert status == 200 and body == PNG and hashlib.sha256(body).hexdigest() in png["url"]
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''%E9%94%99%E8%AF%AF%20%E6%88%AA%E5%9B%BE.png"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, headers = await _call(daemon, page["url"], TOKENS["sup"])
    assert status == 200 and headers["Content-Security-Policy"] == "sandbox"  # never rendered

    await _held_by(daemon, rid, "ann")  # mode: assign, ann is available
    assert (await _call(daemon, png["url"], TOKENS["ann"]))[0] == 200  # she holds it
    status, body, _ = await _call(daemon, png["url"], TOKENS["bob"])
    assert status == 404 and body["error"]["code"] == "not_found"  # not bob's request
    other = reference(b"another file")
    await BlobStore(daemon.store.redis, daemon.store.keys).put_many({other: b"another file"}, 60)
    status, body, _ = await _call(daemon, f"/v1/requests/{rid}/attachments/{other}", TOKENS["sup"])
    assert status == 404 and "no attachment" in body["error"]["message"]  # stored, not this one's

    ttl = await daemon.store.redis.ttl(daemon.store.keys.blob(reference(PNG)))
    assert 89 * 86400 < ttl <= 90 * 86400  # kept for retention.records
    await daemon.store.redis.delete(daemon.store.keys.blob(reference(PNG)))
    status, body, _ = await _call(daemon, png["url"], TOKENS["sup"])
    assert status == 410 and "no longer kept" in body["error"]["message"]


async def test_a_follow_ups_attachment_is_in_the_thread_and_served(daemon: Daemon) -> None:
    first = EmailMessage()
    first["From"], first["To"], first["Subject"] = "li@example.com", "support@example.com", "订单"
    first["Message-ID"] = "<att-2@example.com>"
    first.set_content("订单 12345")
    rid = await asyncio.to_thread(_send, daemon, first)
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = (
        "li@example.com",
        "support@example.com",
        "Re: 订单",
    )
    reply["Message-ID"], reply["In-Reply-To"] = "<att-3@example.com>", "<att-2@example.com>"
    reply.set_content("补充截图")
    reply.add_attachment(PNG, maintype="image", subtype="png", filename="more.png")
    assert await asyncio.to_thread(_send, daemon, reply) == rid  # joined its request
    await _held_by(daemon, rid, "ann")
    messages: list[Message] = await daemon.store.messages(rid)
    (attachment,) = messages[-1].attachments
    assert attachment.ref == reference(PNG)
    url = f"/v1/requests/{rid}/attachments/{attachment.ref}"
    status, body, _ = await _call(daemon, url, TOKENS["ann"])
    assert status == 200 and body == PNG


def test_a_platforms_own_reference_is_a_source_not_a_url() -> None:
    media = Attachment("voice.ogg", "audio/ogg", 0, "whatsapp:media:1234")
    assert attachment_view("FD-7", media) == {
        "filename": "voice.ogg", "content_type": "audio/ogg", "size": 0,
        "url": None, "source": "whatsapp:media:1234",
    }  # fmt: skip
    kept = Attachment("a.png", "image/png", len(PNG), reference(PNG))
    view = attachment_view("FD-7", kept)
    assert view["url"] == f"/v1/requests/FD-7/attachments/{reference(PNG)}"
    assert view["source"] is None
    assert attachment_view("FD-7", Attachment("big.pdf", "application/pdf", 9))["url"] is None
