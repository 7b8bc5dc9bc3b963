"""The SMTP channel: Python's smtplib against the real aiosmtpd server on a free loopback port,
the real Front and a real Redis. 250 only once the request is in Redis; 5xx for what will never
be accepted, 4xx for what may be later; a follow-up, a bounce or a token joins its request."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import smtplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme
from conftest import FRONT_CONFIG
from redis.asyncio import Redis

from frontdesk.channels.mail.smtp import SmtpChannel, SmtpSettings, create, parse_size
from frontdesk.channels.registry import MODULES
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import Limit, Settings, load_settings, parse_settings
from frontdesk.router.intake.front import Front

SMTP_SECTION = """\
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    max_size: 64KB
    addresses:
      support@example.com: {}
      Billing@Example.com: {entry_point: billing}
"""
Reply = tuple[int, str]


@pytest.fixture
def front_settings() -> Settings:
    return parse_settings(FRONT_CONFIG + SMTP_SECTION, "front.yaml")


@pytest.fixture
async def smtp(front: Front, front_settings: Settings) -> AsyncIterator[SmtpChannel]:
    channel = create(front_settings.channels["smtp"], front)
    await channel.start()
    yield channel
    await channel.stop()


def _mail(
    subject: str = "我的订单还没有发货",
    body: str = "订单 12345",
    msgid: str = "<m1@mail.cn>",
    sender: str = "李娜 <li@example.com>",
    **headers: str,
) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = (
        sender,
        "support@example.com",
        subject,
        msgid,
    )
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


def _transaction(
    channel: SmtpChannel, raw: bytes, sender: str, rcpts: list[str], size: bool = False
) -> list[Reply]:
    """MAIL, each RCPT, then DATA if a recipient was accepted; every reply, in order."""
    assert channel.address is not None
    with smtplib.SMTP(*channel.address, timeout=30) as client:
        client.ehlo("client.test")
        options = [f"SIZE={len(raw)}"] if size else []
        replies = [client.mail(sender, options)]
        if replies[0][0] != 250:
            return [(c, m.decode()) for c, m in replies]
        replies += [client.rcpt(r) for r in rcpts]
        if any(code == 250 for code, _ in replies[1:]):
            replies.append(client.data(raw))
    return [(code, text.decode()) for code, text in replies]


async def _send(
    channel: SmtpChannel,
    mail: EmailMessage | bytes,
    sender: str = "li@example.com",
    rcpts: tuple[str, ...] = ("support@example.com",),
) -> Reply:
    """The last reply of one transaction (DATA's when it got that far)."""
    raw = mail if isinstance(mail, bytes) else mail.as_bytes()
    replies = await asyncio.to_thread(_transaction, channel, raw, sender, list(rcpts))
    return replies[-1]


def _ids(reply: Reply) -> list[str]:
    assert reply[0] == 250, reply
    return re.findall(r"FD-\d+", reply[1])


async def _stored(front: Front, reply: Reply) -> Request:
    (request_id,) = _ids(reply)
    record = await front.store.get(request_id)
    assert record is not None
    return record.request


async def _waiting(front: Front) -> list[str]:
    return await front.store.peek("email", 100)


# -- intake ----------------------------------------------------------------------------------------
async def test_a_plain_mail_is_stored_before_250(smtp: SmtpChannel, front: Front) -> None:
    reply = await _send(smtp, _mail())
    assert reply[1].startswith("2.0.0 OK: queued as FD-")
    request = await _stored(front, reply)
    assert (request.subject, request.body) == ("我的订单还没有发货", "订单 12345")
    assert (request.customer.name, request.customer.email) == ("李娜", "li@example.com")
    assert request.entry_point == "support@example.com" and request.queue == "email"
    assert request.external_id == "support@example.com:m1@mail.cn"
    assert await _waiting(front) == _ids(reply)


async def test_greeting_names_the_host_and_size_is_announced(smtp: SmtpChannel) -> None:
    assert smtp.address is not None and smtp.address[0] == "127.0.0.1"

    def talk() -> tuple[Reply, str]:
        client = smtplib.SMTP(timeout=30)
        try:
            code, banner = client.connect(*smtp.address)
            client.ehlo("client.test")
            return (code, banner.decode()), client.esmtp_features["size"]
        finally:
            client.quit()

    greeting, size = await asyncio.to_thread(talk)
    assert greeting[0] == 220 and greeting[1].startswith("frontdesk.test")
    assert size == str(64 * 1024)


async def test_a_resent_mail_is_stored_once(smtp: SmtpChannel, front: Front) -> None:
    first = await _send(smtp, _mail())
    again = await _send(smtp, _mail())
    assert _ids(again) == _ids(first) and await _waiting(front) == _ids(first)


async def test_alternative_html_only_and_attachments(smtp: SmtpChannel, front: Front) -> None:
    alt = _mail(msgid="<alt@x>", body="纯文本优先")
    alt.add_alternative("<p>HTML 版本</p>", subtype="html")
    alt.add_attachment(b"%PDF" + b"0" * 1000, maintype="application", subtype="pdf",
                       filename="发票.pdf")  # fmt: skip
    request = await _stored(front, await _send(smtp, alt))
    assert request.body == "纯文本优先"
    attached = [(a.filename, a.content_type, a.size) for a in request.attachments]
    assert attached == [("发票.pdf", "application/pdf", 1004)]

    html = _mail(msgid="<html@x>")
    html.set_content(
        "<html><style>p{}</style><p>无法登录<br>错误 403</p><script>x()</script>"
        '<p><a href="https://help.example.com">帮助</a></p></html>',
        subtype="html",
    )
    request = await _stored(front, await _send(smtp, html))
    assert request.body == "无法登录\n错误 403\n\n帮助 (https://help.example.com)"


async def test_long_lines_and_a_repeated_recipient(smtp: SmtpChannel, front: Front) -> None:
    line = "很长的一行" * 2000  # 30 KB in one line: over RFC 5321's 1000, as real mailers send
    raw = (
        "From: li@example.com\r\nTo: support@example.com\r\nMessage-ID: <long@x>\r\n"
        "Subject: long\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n<p>{line}</p>\r\n"
    ).encode()
    twice = ("support@example.com", "Support@example.com")
    reply = await _send(smtp, raw, rcpts=twice)
    assert len(_ids(reply)) == 1 and (await _stored(front, reply)).body == line


def _encoded(text: str, codec: str, label: str) -> str:
    return f"=?{label}?B?{base64.b64encode(text.encode(codec)).decode()}?="


@pytest.mark.parametrize(
    ("charset", "label", "subject", "body"),
    [
        ("gbk", "gb2312", "发票问题 朱镕基", "您好 我需要开具增值税发票"),  # 镕: GBK, not GB2312
        ("gbk", "GBK", "账户被锁定", "无法登录 提示密码错误"),
        ("big5", "big5", "帳號無法登入", "請協助重設密碼 謝謝"),
        ("utf-8", "utf-8", "退款申请", "我要退款 ✓"),
    ],
)
async def test_chinese_mail_in_real_charsets(
    smtp: SmtpChannel, front: Front, charset: str, label: str, subject: str, body: str
) -> None:
    name = "王偉" if charset == "big5" else "王伟"
    raw = (
        f"From: {_encoded(name, charset, label)} <wang@example.com>\r\n"
        f"To: support@example.com\r\nSubject: {_encoded(subject, charset, label)}\r\n"
        f"Message-ID: <{charset}-{label}@mail.cn>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={label}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body.encode(charset)
    request = await _stored(front, await _send(smtp, raw, "wang@example.com"))
    assert (request.subject, request.body, request.customer.name) == (subject, body, name)


# -- threading -------------------------------------------------------------------------------------
async def test_a_reply_joins_its_request(smtp: SmtpChannel, front: Front) -> None:
    first = _ids(await _send(smtp, _mail()))
    reply = _mail(
        "Re: 我的订单还没有发货", "还是没有收到", "<r1@mail.cn>", In_Reply_To="<m1@mail.cn>"
    )
    assert _ids(await _send(smtp, reply)) == first
    assert await _waiting(front) == first  # no new request
    (message,) = await front.store.messages(first[0])
    assert message.body == "Re: 我的订单还没有发货\n\n还是没有收到"
    assert message.external_id == "support@example.com:r1@mail.cn"
    # and a reply to the reply, by References only
    later = _mail("Re: Re:", "第三封", "<r2@mail.cn>", References="<m1@mail.cn> <r1@mail.cn>")
    assert _ids(await _send(smtp, later)) == first
    assert len(await front.store.messages(first[0])) == 2


async def test_the_subject_token_threads_when_headers_are_lost(
    smtp: SmtpChannel, front: Front
) -> None:
    (request_id,) = _ids(await _send(smtp, _mail()))
    # what Front (or outgoing mail) registers for every email request; see the proposal
    await front.customers.remember((f"email:token:{request_id}",), request_id)
    reply = _mail(f"回复 [#{request_id}] 订单", "补充信息", "<t1@other.cn>", sender="li@other.cn")
    assert _ids(await _send(smtp, reply, "li@other.cn")) == [request_id]
    assert await _waiting(front) == [request_id]
    assert len(await front.store.messages(request_id)) == 1


async def test_an_auto_reply_answering_nothing_is_kept_out(smtp: SmtpChannel, front: Front) -> None:
    # tests/test_auto_replies.py: one answering a request is attached to it
    auto = _mail("自动回复 休假中", "我正在休假", "<ooo@x>", Auto_Submitted="auto-replied")
    reply = await _send(smtp, auto)
    assert reply[0] == 250 and "kept out" in reply[1] and _ids(reply) == []
    bulk = _mail("Newsletter", "news", "<news@x>", List_Id="<news.example.com>")
    assert _ids(await _send(smtp, bulk)) == [] and await _waiting(front) == []


async def test_a_bounce_attaches_to_the_request_it_concerns(
    smtp: SmtpChannel, front: Front
) -> None:
    (request_id,) = _ids(await _send(smtp, _mail()))
    # the acknowledgement frontdesk sent carried this Message-ID, registered to the request
    await front.customers.remember(("email:ack-1@frontdesk.test",), request_id)
    dsn = (
        "From: MAILER-DAEMON@mx.example.com\r\nTo: support@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="R"\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n'
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; li@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\n"
        f"Message-ID: <ack-1@frontdesk.test>\r\nSubject: [#{request_id}] received\r\n--R--\r\n"
    ).encode()
    assert _ids(await _send(smtp, dsn, sender="")) == [request_id]  # MAIL FROM:<>
    assert await _waiting(front) == [request_id]
    (message,) = await front.store.messages(request_id)
    assert "Delivery failed." in message.body


async def test_several_of_our_addresses_one_request_each(smtp: SmtpChannel, front: Front) -> None:
    both = ("support@example.com", "billing@example.com")
    ids = _ids(await _send(smtp, _mail(), rcpts=both))
    assert len(set(ids)) == 2 and sorted(await _waiting(front)) == sorted(ids)
    requests = [(await front.store.get(i)).request for i in ids]  # type: ignore[union-attr]
    assert [r.entry_point for r in requests] == ["support@example.com", "billing"]
    assert _ids(await _send(smtp, _mail(), rcpts=both)) == ids  # resent: nothing new
    # a reply to both joins the conversation once
    reply = _mail("Re:", "补充", "<both-r@mail.cn>", In_Reply_To="<m1@mail.cn>")
    joined = _ids(await _send(smtp, reply, rcpts=both))
    assert len(joined) == 1 and joined[0] in ids
    assert sum([len(await front.store.messages(i)) for i in ids]) == 1


# -- refusals --------------------------------------------------------------------------------------
async def test_unknown_recipient_and_relay_are_refused(smtp: SmtpChannel, front: Front) -> None:
    replies = await asyncio.to_thread(
        _transaction, smtp, _mail().as_bytes(), "li@example.com",
        ["nobody@example.com", "someone@elsewhere.org", "SUPPORT@example.com"],
    )  # fmt: skip
    assert replies[1] == (550, "5.1.1 <nobody@example.com>: no such mailbox here")
    assert replies[2][0] == 550 and replies[2][1].startswith("5.7.1 <someone@elsewhere.org>")
    assert replies[3][0] == 250 and replies[4][0] == 250  # the known one, in any case, gets it
    assert len(await _waiting(front)) == 1
    only_relay = await _send(smtp, _mail(msgid="<relay@x>"), rcpts=("x@elsewhere.org",))
    assert only_relay[0] == 550 and len(await _waiting(front)) == 1


async def test_oversize_mail_is_refused_and_nothing_stored(smtp: SmtpChannel, front: Front) -> None:
    big = _mail(body="大" * 40_000).as_bytes()  # about 120 KB in UTF-8, max_size is 64KB
    declared = await asyncio.to_thread(_transaction, smtp, big, "li@example.com",
                                       ["support@example.com"], True)  # fmt: skip
    assert declared[0][0] == 552  # refused at MAIL FROM ... SIZE=
    undeclared = await _send(smtp, big)
    assert undeclared[0] == 552  # refused after DATA
    assert await _waiting(front) == []
    assert (await _send(smtp, _mail()))[0] == 250  # the session and server carry on


async def test_rate_limit_is_a_temporary_refusal_with_the_wait(
    front: Front, front_settings: Settings
) -> None:
    two = replace(front_settings, limits=replace(front_settings.limits, per_sender=Limit(2, 600)))
    limited = Front(front.store, front.customers, lambda: two)
    await limited.start()
    channel = create(front_settings.channels["smtp"], limited)
    await channel.start()
    try:
        assert (await _send(channel, _mail(msgid="<a@x>")))[0] == 250
        assert (await _send(channel, _mail(msgid="<b@x>")))[0] == 250
        code, text = await _send(channel, _mail(msgid="<c@x>"))
        assert code == 450 and re.fullmatch(r"4\.7\.1 .*try again in \d+ seconds", text)
        assert (await _send(channel, _mail(msgid="<d@x>"), "other@example.com"))[0] == 250
    finally:
        await channel.stop()
    assert len(await _waiting(front)) == 3


async def test_redis_down_means_451_and_nothing_lost(
    tmp_path: Path, front_settings: Settings
) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="always")
    server.start()
    redis = Redis.from_url(server.url)
    store = QueueStore(redis, Keys("test"))
    front = Front(store, CustomerStore(store), lambda: front_settings)
    await front.start()
    channel = create(front_settings.channels["smtp"], front)
    await channel.start()
    try:
        first = await _send(channel, _mail(msgid="<before@x>"))
        assert first[0] == 250
        # Redis stops between RCPT and DATA: the DATA reply is 451
        assert channel.address is not None
        client = await asyncio.to_thread(smtplib.SMTP, *channel.address, timeout=30)
        await asyncio.to_thread(client.ehlo, "client.test")
        assert (await asyncio.to_thread(client.mail, "li@example.com"))[0] == 250
        assert (await asyncio.to_thread(client.rcpt, "support@example.com"))[0] == 250
        await asyncio.to_thread(server.stop)
        code, text = await asyncio.to_thread(client.data, _mail(msgid="<during@x>").as_bytes())
        assert (code, text.decode()) == (451, "4.3.0 Storage unavailable; try again later")
        await asyncio.to_thread(client.quit)
        # a new transaction is refused at MAIL FROM (the rate limit needs Redis too)
        code, text = await _send(channel, _mail(msgid="<during@x>"))
        assert (code, text) == (451, "4.3.0 Storage unavailable; try again later")

        await asyncio.to_thread(server.start)
        again = await _send(channel, _mail(msgid="<during@x>"))
        assert again[0] == 250
        resent = await _send(channel, _mail(msgid="<during@x>"))
        assert _ids(resent) == _ids(again)
        waiting = await store.peek("email", 100)
        assert waiting == _ids(first) + _ids(again)  # the first kept, the second once
    finally:
        await channel.stop()
        await redis.aclose()
        server.stop()


async def test_an_unexpected_failure_is_451_without_a_traceback(
    store: QueueStore, front_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    not_started = Front(store, CustomerStore(store), lambda: front_settings)  # no secret read
    channel = create(front_settings.channels["smtp"], not_started)
    await channel.start()
    try:
        with caplog.at_level(logging.ERROR, logger="frontdesk.smtp"):
            code, text = await _send(channel, _mail())
    finally:
        await channel.stop()
    assert (code, text) == (451, "4.3.0 Temporary failure; try again later")
    assert any(r.exc_info for r in caplog.records if r.name == "frontdesk.smtp")


# -- the daemon and the config ---------------------------------------------------------------------
async def test_the_daemon_runs_the_smtp_channel(daemon_config) -> None:
    extra = SMTP_SECTION.replace("    max_size: 64KB\n", "")
    path = daemon_config(extra=extra)
    daemon = Daemon(load_settings(path), path)
    await daemon.start()
    try:
        (channel,) = daemon.channels
        assert isinstance(channel, SmtpChannel) and channel.routes() == []
        reply = await _send(channel, _mail(), rcpts=("billing@example.com",))
        record = await daemon.store.get(_ids(reply)[0])
        assert record is not None and record.request.entry_point == "billing"
        assert record.request.queue == "general"  # the rules of this config decide
    finally:
        await daemon.stop()
    assert channel.address is not None
    with pytest.raises(OSError):  # stopped: nothing listens any more
        await asyncio.to_thread(smtplib.SMTP, *channel.address, timeout=5)


def test_config_defaults_and_sizes() -> None:
    text = (
        "queues: {q: {}}\ndefault_queue: q\nchannels:\n  smtp:\n    addresses: {A@B.example: {}}\n"
    )
    settings = parse_settings(text, "s.yaml").channels["smtp"]
    assert settings == SmtpSettings(
        {"a@b.example": "a@b.example"}, "127.0.0.1", 2525, settings.hostname, 25 * 2**20
    )
    assert settings.hostname and MODULES["smtp"].create is create
    assert [parse_size(v) for v in ("25MB", "512kb", "1.5M", "1GiB", 4096, "x", True, "-1MB")] == [
        25 * 2**20, 512 * 2**10, int(1.5 * 2**20), 2**30, 4096, None, None, None,
    ]  # fmt: skip


# -- STARTTLS --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, trustme.CA]:
    """A PEM file with frontdesk.test's certificate chain and key, and the CA that signed it."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "frontdesk.pem"
    cert = ca.issue_cert("frontdesk.test", "127.0.0.1")  # the name, and the address dialled
    cert.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path, ca


def _tls_channel(front: Front, pem: Path, require: bool) -> SmtpChannel:
    section = f"    tls: {{cert: '{pem}', require: {'true' if require else 'false'}}}\n"
    settings = parse_settings(FRONT_CONFIG + SMTP_SECTION + section, "tls.yaml")
    return create(settings.channels["smtp"], front)


def _over_tls(channel: SmtpChannel, ca: trustme.CA, starttls: bool) -> list[Reply]:
    assert channel.address is not None
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with smtplib.SMTP(*channel.address, timeout=30) as client:
        client.ehlo("client.test")
        replies: list[tuple[int, bytes]] = []
        if starttls:
            assert client.has_extn("starttls")
            replies.append(client.starttls(context=context))  # verified against the CA
            client.ehlo("client.test")
        replies.append(client.mail("li@example.com"))
        if replies[-1][0] == 250:
            replies.append(client.rcpt("support@example.com"))
            replies.append(client.data(_mail(msgid="<tls@mail.cn>").as_bytes()))
    return [(code, text.decode()) for code, text in replies]


@pytest.mark.parametrize("require", [False, True])
async def test_starttls_with_the_configured_certificate(
    front: Front, certificate: tuple[Path, trustme.CA], require: bool
) -> None:
    pem, ca = certificate
    channel = _tls_channel(front, pem, require)
    await channel.start()
    try:
        plain = await asyncio.to_thread(_over_tls, channel, ca, False)
        if require:
            assert plain[0][0] == 530 and "STARTTLS" in plain[0][1]  # nothing taken in the clear
            assert await _waiting(front) == []
        else:
            assert plain[-1][0] == 250  # offered, not imposed: senders without TLS still deliver
        secured = await asyncio.to_thread(_over_tls, channel, ca, True)
        assert secured[0][0] == 220 and secured[-1][0] == 250
        assert len(await _waiting(front)) == 1  # one Message-ID: the second one joined the first
    finally:
        await channel.stop()


def test_tls_files_that_do_not_load_are_config_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for cert, wanted in ((junk, "cannot load"), (tmp_path / "missing.pem", "No such file")):
        text = FRONT_CONFIG + SMTP_SECTION + f"    tls: {{cert: '{cert}', require: maybe}}\n"
        with pytest.raises(ConfigError) as caught:
            parse_settings(text, "tls.yaml")
        found = {(".".join(map(str, p.path)), p.line) for p in caught.value.problems}
        line = len((FRONT_CONFIG + SMTP_SECTION).splitlines()) + 1
        assert ("channels.smtp.tls.require", line) in found
        problem = next(p for p in caught.value.problems if p.path[-1] == "cert")
        assert wanted in problem.message and str(cert) in problem.message


def test_max_attachment_size_is_checked() -> None:
    text = FRONT_CONFIG + SMTP_SECTION + "    max_attachment_size: lots\n"
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "s.yaml")
    (problem,) = caught.value.problems
    assert problem.path[-1] == "max_attachment_size" and "up to 1GB such as 10MB" in problem.message
    kept = parse_settings(FRONT_CONFIG + SMTP_SECTION + "    max_attachment_size: 0\n", "s.yaml")
    assert kept.channels["smtp"].max_attachment_size == 0  # list attachments, keep no content
