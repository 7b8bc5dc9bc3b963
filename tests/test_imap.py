"""The IMAP channel against a real Dovecot (tests/dovecot.py) and a real Redis: every message
becomes exactly one request, and is flagged or moved only once the request is in Redis."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from dovecot import Dovecot, DovecotError, available
from redis.asyncio import Redis

from frontdesk.channels.mail.imap import ImapChannel, ImapSettings, MailboxSettings, create
from frontdesk.channels.mail.imap_client import mailbox_name
from frontdesk.channels.mail.parse import parse_email
from frontdesk.channels.registry import MODULES
from frontdesk.queues.blobs import reference
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.intake.front import Front

PASSWORD = "s3cret pass"
PROCESSED = "frontdesk/processed"
ENTRY_POINT = "support@example.com"  # every test mailbox's; part of the message's identity
WAIT_S = 30.0  # the longest any test waits for something to happen
_users = itertools.count(1)


# -- fixtures ----------------------------------------------------------------------------------


def _dovecot(tls: bool = False, capabilities: str | None = None) -> Dovecot:
    if not available():
        raise DovecotError("no /usr/sbin/dovecot: apt-get install -y dovecot-imapd")
    server = Dovecot(tls=tls, capabilities=capabilities)
    try:
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot (IMAP and IMAPS) for the module; each test gets a user of its own."""
    server = _dovecot(tls=True)
    yield server
    server.cleanup()


@pytest.fixture
def user(dovecot: Dovecot) -> str:
    name = f"support{next(_users)}@example.com"
    dovecot.add_user(name, PASSWORD)
    return name


@pytest.fixture
async def running() -> AsyncIterator[list[ImapChannel]]:
    """Channels a test started; each is stopped (bounded) at teardown."""
    started: list[ImapChannel] = []
    yield started
    for channel in started:
        await channel.stop()


def _mailbox(server: Dovecot, user: str, **kw: Any) -> MailboxSettings:
    base: dict[str, Any] = {
        "name": "support",
        "host": "127.0.0.1",
        "port": server.port,
        "tls": False,
        "user": user,
        "password": PASSWORD,
        "after": "move",
        "move_to": "frontdesk/processed",
        "entry_point": ENTRY_POINT,
        "timeout_s": 10.0,
    }
    base.update(kw)
    if base["after"] == "flag":
        base["move_to"] = None
    return MailboxSettings(**base)


async def _start(running: list[ImapChannel], front: Front, *mailboxes: MailboxSettings):
    channel = create(ImapSettings(mailboxes), front)
    running.append(channel)
    await channel.start()
    return channel


# -- helpers -----------------------------------------------------------------------------------


def _mail(n: int, tag: str = "") -> tuple[str, bytes]:
    """A message from a customer of its own (so that no two messages thread together)."""
    msg = EmailMessage()
    message_id = f"<{tag}{n}.{uuid.uuid4().hex[:12]}@customers.example.org>"
    msg["From"] = f"Customer {n} <customer{n}.{uuid.uuid4().hex[:8]}@example.org>"
    msg["To"] = "support@example.com"
    msg["Subject"] = f"Question {n}{tag}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg.set_content(f"Hello, this is question number {n}.\n")
    return message_id, msg.as_bytes(policy=SMTP)


async def eventually(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll `check` (plain or async) until it returns something true; fail after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what} (last: {result!r})")
        await asyncio.sleep(0.05)


async def _messages(server: Dovecot, user: str, folder: str = "INBOX"):
    return await asyncio.to_thread(server.messages, user, folder)


async def _ids(server: Dovecot, user: str, folder: str = "INBOX") -> list[str]:
    return [mid for _, _, mid in await _messages(server, user, folder)]


async def _request_of(store: QueueStore, raw: bytes) -> str | None:
    """The request a delivered message became (keyed as the front door keys it)."""
    key = parse_email(raw, recipient=ENTRY_POINT).request.idempotency_key
    assert key, "every test message has a Message-ID"
    return await store.seen(key)


async def _requests(store: QueueStore, sent: dict[str, bytes]) -> dict[str, str | None]:
    return {mid: await _request_of(store, raw) for mid, raw in sent.items()}


def _deliver(server: Dovecot, user: str, raw: bytes, how: str) -> None:
    if how == "maildir":
        server.deliver(user, raw)
    else:
        server.append(user, raw)


async def _settled(
    server: Dovecot, user: str, store: QueueStore, sent: dict[str, bytes], after: str, folder: str
) -> bool:
    """Every sent message is a request and acknowledged: moved out of INBOX, or flagged."""
    inbox = await _messages(server, user)
    if after == "move":
        done = not inbox and sorted(await _ids(server, user, folder)) == sorted(sent)
    else:
        done = set(sent) <= {m for _, f, m in inbox if "\\Seen" in f}
    return done and all((await _requests(store, sent)).values())


async def _assert_one_request_each(store: QueueStore, sent: dict[str, bytes]) -> None:
    requests = await _requests(store, sent)
    assert all(requests.values()), requests
    assert len(set(requests.values())) == len(sent), requests
    assert await store.waiting_count("email") == len(sent)


# -- the tests ---------------------------------------------------------------------------------


async def test_before_start_and_during_idle_each_message_is_one_request(
    dovecot: Dovecot, user: str, front: Front, store: QueueStore, running: list[ImapChannel]
) -> None:
    processed = "frontdesk/已处理"  # created by the poller, named in modified UTF-7
    sent: dict[str, bytes] = {}
    for n, how in ((1, "maildir"), (2, "append"), (3, "maildir")):
        mid, raw = _mail(n)
        sent[mid] = raw
        await asyncio.to_thread(_deliver, dovecot, user, raw, how)
    channel = await _start(running, front, _mailbox(dovecot, user, move_to=processed))
    (poller,) = channel.pollers
    await eventually(
        lambda: _settled(dovecot, user, store, sent, "move", processed), "first three stored"
    )
    await eventually(lambda: poller.state == "idle", "IDLE")
    for n, how in ((4, "maildir"), (5, "append")):
        mid, raw = _mail(n)
        sent[mid] = raw
        await asyncio.to_thread(_deliver, dovecot, user, raw, how)
    await eventually(
        lambda: _settled(dovecot, user, store, sent, "move", processed), "two more during IDLE"
    )
    await _assert_one_request_each(store, sent)
    assert (poller.stats.stored, poller.stats.duplicates, poller.stats.connects) == (5, 0, 1)
    assert poller.stats.idles >= 1


async def test_auto_replies_attach_or_are_kept_out_and_acknowledged(
    dovecot: Dovecot, user: str, front: Front, store: QueueStore, running: list[ImapChannel]
) -> None:
    first_id, first = _mail(1, "ooo")
    await asyncio.to_thread(_deliver, dovecot, user, first, "append")
    await _start(running, front, _mailbox(dovecot, user))
    sent = {first_id: first}
    await eventually(lambda: _settled(dovecot, user, store, sent, "move", PROCESSED), "stored")
    rid = await _request_of(store, first)
    assert rid is not None
    replies = []
    for n, answers in ((2, first_id), (3, "<nothing@elsewhere.example>")):
        msg = EmailMessage()
        msg["From"], msg["To"] = "Away <away@example.org>", "support@example.com"
        msg["Subject"], msg["Message-ID"] = "Automatic reply: Out of Office", f"<ooo{n}@x.example>"
        msg["Auto-Submitted"], msg["In-Reply-To"] = "auto-replied", answers
        msg.set_content("I am out of the office until Monday.\n")
        replies.append(msg.as_bytes(policy=SMTP))
        await asyncio.to_thread(_deliver, dovecot, user, replies[-1], "append")
    # both acknowledged (moved out of INBOX), neither is work
    done = ["<ooo2@x.example>", "<ooo3@x.example>", first_id]
    await eventually(lambda: _moved(dovecot, user, done), "both auto-replies acknowledged")
    (message,) = await store.messages(rid)
    assert message.auto == "auto-replied"
    assert await store.waiting_count("email") == 1
    log = await EventLog(store.redis, store.keys).range()
    assert [e.type for e in log].count(EventType.AUTO_REPLY_DROPPED) == 1
    assert [e.request for e in log if e.type is EventType.ENQUEUED] == [rid]


async def _moved(server: Dovecot, user: str, ids: list[str]) -> bool:
    return not await _messages(server, user) and sorted(
        await _ids(server, user, PROCESSED)
    ) == sorted(ids)


@pytest.mark.parametrize("after", ["move", "flag"])
async def test_restart_takes_only_what_is_new_and_never_twice(
    after: str,
    dovecot: Dovecot,
    user: str,
    front: Front,
    store: QueueStore,
    running: list[ImapChannel],
) -> None:
    folder = "frontdesk/processed"
    sent: dict[str, bytes] = {}
    for n in (1, 2):
        mid, raw = _mail(n)
        sent[mid] = raw
        await asyncio.to_thread(dovecot.deliver, user, raw)
    channel = await _start(running, front, _mailbox(dovecot, user, after=after))
    await eventually(lambda: _settled(dovecot, user, store, sent, after, folder), "first two")
    await channel.stop()
    assert [p.state for p in channel.pollers] == ["stopped"]
    log = dovecot.log_tail(1000).splitlines()
    assert any(f"imap({user})" in line and "Logged out" in line for line in log)

    for n in (3, 4):
        mid, raw = _mail(n)
        sent[mid] = raw
        await asyncio.to_thread(dovecot.deliver, user, raw)
    # the daemon died after the front door took this one and before it was acknowledged
    mid, raw = _mail(5)
    sent[mid] = raw
    taken = await front.receive(parse_email(raw, recipient=ENTRY_POINT))
    await asyncio.to_thread(dovecot.deliver, user, raw)

    await channel.start()
    (poller,) = channel.pollers
    await eventually(lambda: _settled(dovecot, user, store, sent, after, folder), "after restart")
    await _assert_one_request_each(store, sent)
    assert await _request_of(store, raw) == taken.request_id
    assert (poller.stats.stored, poller.stats.duplicates) == (3, 1)


async def test_polling_without_idle(
    dovecot: Dovecot,
    user: str,
    front: Front,
    store: QueueStore,
    running: list[ImapChannel],
    tmp_path: Path,
) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text(PASSWORD + "\n")
    read_before, raw_read = _mail(0, "already-read")
    await asyncio.to_thread(dovecot.append, user, raw_read, "INBOX", "(\\Seen)")
    sent: dict[str, bytes] = {}
    mid, raw = _mail(1)
    sent[mid] = raw
    await asyncio.to_thread(dovecot.deliver, user, raw)
    mailbox = _mailbox(
        dovecot, user, after="flag", idle=False, poll_interval_s=1.0, password=None,
        password_file=str(secret),
    )  # fmt: skip
    channel = await _start(running, front, mailbox)
    (poller,) = channel.pollers
    await eventually(lambda: _settled(dovecot, user, store, sent, "flag", ""), "first poll")
    await eventually(lambda: poller.state == "polling", "waiting for the next poll")
    mid, raw = _mail(2)
    sent[mid] = raw
    await asyncio.to_thread(dovecot.append, user, raw)
    await eventually(lambda: _settled(dovecot, user, store, sent, "flag", ""), "next poll")
    await _assert_one_request_each(store, sent)
    assert poller.stats.idles == 0 and poller.stats.passes >= 2
    # with after: flag, a message someone had already read counts as handled
    assert await _request_of(store, raw_read) is None
    assert read_before in await _ids(dovecot, user)


async def test_a_polled_mails_attachments_are_kept_up_to_the_mailboxs_limit(
    dovecot: Dovecot, user: str, front: Front, store: QueueStore, running: list[ImapChannel]
) -> None:
    mid, plain = _mail(1)
    msg = message_from_bytes(plain, policy=SMTP)
    assert isinstance(msg, EmailMessage)
    small, large = b"\x89PNG" + b"s" * 100, b"%PDF" + b"l" * 3000
    msg.add_attachment(small, maintype="image", subtype="png", filename="small.png")
    msg.add_attachment(large, maintype="application", subtype="pdf", filename="large.pdf")
    raw = msg.as_bytes(policy=SMTP)
    await asyncio.to_thread(dovecot.deliver, user, raw)
    mailbox = _mailbox(dovecot, user, max_attachment_size=2048)
    await _start(running, front, mailbox)
    sent, done = {mid: raw}, "frontdesk/processed"
    await eventually(lambda: _settled(dovecot, user, store, sent, "move", done), "stored")
    rid = await _request_of(store, raw)
    record = await store.get(rid) if rid else None
    assert record is not None
    kept, listed = record.request.attachments
    assert (kept.filename, kept.ref) == ("small.png", reference(small))
    assert (listed.filename, listed.size, listed.ref) == ("large.pdf", len(large), None)
    assert await front.blobs.get(reference(small)) == small


@pytest.mark.parametrize("after", ["move", "flag"])
async def test_acknowledged_only_once_stored_in_redis(
    after: str,
    dovecot: Dovecot,
    user: str,
    front_settings: Any,
    running: list[ImapChannel],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="frontdesk.channels.mail.imap")
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always")
    server.start()
    client = Redis.from_url(server.url)
    try:
        store = QueueStore(client, Keys("down"))
        front = Front(store, CustomerStore(store), lambda: front_settings)
        await front.start()
        channel = await _start(running, front, _mailbox(dovecot, user, after=after))
        (poller,) = channel.pollers
        await eventually(lambda: poller.state == "idle", "IDLE")
        await asyncio.to_thread(server.stop)
        mid, raw = _mail(1)
        await asyncio.to_thread(dovecot.deliver, user, raw)
        await eventually(lambda: poller.stats.store_failures >= 2, "two attempts to store")
        (only,) = await _messages(dovecot, user)
        assert only[2] == mid and "\\Seen" not in only[1]
        assert await _ids(dovecot, user, "frontdesk/processed") == []

        await asyncio.to_thread(server.start)
        sent = {mid: raw}
        await eventually(
            lambda: _settled(dovecot, user, store, sent, after, "frontdesk/processed"), "stored"
        )
        await _assert_one_request_each(store, sent)
        await channel.stop()
        cannot = [r for r in caplog.records if "cannot store" in r.getMessage()]
        again = [r for r in caplog.records if "storing messages again" in r.getMessage()]
        assert (len(cannot), len(again)) == (1, 1)
    finally:
        await client.aclose()
        server.stop()


async def test_reconnects_after_the_imap_server_restarts(
    front: Front, store: QueueStore, running: list[ImapChannel], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="frontdesk.channels.mail.imap")
    server = _dovecot()
    try:
        server.add_user("desk@example.com", PASSWORD)
        channel = await _start(running, front, _mailbox(server, "desk@example.com"))
        (poller,) = channel.pollers
        await eventually(lambda: poller.state == "idle", "IDLE")
        await asyncio.to_thread(server.stop)
        await eventually(lambda: poller.stats.connect_failures >= 2, "two failed attempts")
        mid, raw = _mail(1)
        await asyncio.to_thread(server.deliver, "desk@example.com", raw)
        await asyncio.to_thread(server.start)
        sent = {mid: raw}
        await eventually(
            lambda: _settled(server, "desk@example.com", store, sent, "move", PROCESSED),
            "stored after the restart",
        )
        await _assert_one_request_each(store, sent)
        assert poller.stats.connects == 2
        await channel.stop()
        lost = [r for r in caplog.records if "retrying with backoff" in r.getMessage()]
        back = [r for r in caplog.records if "connected again" in r.getMessage()]
        assert (len(lost), len(back)) == (1, 1)
        assert lost[0].levelno == logging.WARNING
    finally:
        server.cleanup()


async def test_a_server_without_idle_or_move_is_polled_and_copied(
    front: Front, store: QueueStore, running: list[ImapChannel]
) -> None:
    server = _dovecot(capabilities="IMAP4rev1 UIDPLUS")
    try:
        server.add_user("old@example.com", PASSWORD)
        mid, raw = _mail(1)
        await asyncio.to_thread(server.deliver, "old@example.com", raw)
        mailbox = _mailbox(server, "old@example.com", poll_interval_s=1.0)  # idle: true
        channel = await _start(running, front, mailbox)
        (poller,) = channel.pollers
        sent = {mid: raw}
        await eventually(
            lambda: _settled(server, "old@example.com", store, sent, "move", PROCESSED),
            "copied, then expunged from INBOX",
        )
        await eventually(lambda: poller.state == "polling", "polling")
        mid, raw = _mail(2)
        sent[mid] = raw
        await asyncio.to_thread(server.append, "old@example.com", raw)
        await eventually(
            lambda: _settled(server, "old@example.com", store, sent, "move", PROCESSED), "polled"
        )
        await _assert_one_request_each(store, sent)
        assert poller.stats.idles == 0
        await channel.stop()
    finally:
        server.cleanup()


async def test_idle_is_renewed_on_the_same_connection(
    dovecot: Dovecot, user: str, front: Front, store: QueueStore, running: list[ImapChannel]
) -> None:
    channel = await _start(running, front, _mailbox(dovecot, user, idle_renew_s=1.0))
    (poller,) = channel.pollers
    await eventually(lambda: poller.stats.idles >= 3, "IDLE renewed twice")
    mid, raw = _mail(1)
    await asyncio.to_thread(dovecot.append, user, raw)
    sent = {mid: raw}
    await eventually(
        lambda: _settled(dovecot, user, store, sent, "move", "frontdesk/processed"), "stored"
    )
    assert poller.stats.connects == 1


async def test_imaps_with_a_private_ca_and_one_task_per_mailbox(
    dovecot: Dovecot, front: Front, store: QueueStore, running: list[ImapChannel],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="frontdesk.channels.mail.imap")
    good, bad = f"tls{next(_users)}@example.com", f"tls{next(_users)}@example.com"
    for name in (good, bad):
        dovecot.add_user(name, PASSWORD)
    sent: dict[str, bytes] = {}
    for name in (good, bad):
        mid, raw = _mail(1, name.split("@")[0])
        sent[mid] = raw
        await asyncio.to_thread(dovecot.deliver, name, raw)
    tls = {"tls": True, "port": dovecot.tls_port}
    trusted = _mailbox(dovecot, good, name="trusted", tls_ca_file=str(dovecot.cert), **tls)
    untrusted = _mailbox(dovecot, bad, name="untrusted", **tls)  # the system CAs only
    channel = await _start(running, front, trusted, untrusted)
    ok, refused = channel.pollers
    good_mid = next(iter(sent))
    await eventually(
        lambda: _settled(
            dovecot, good, store, {good_mid: sent[good_mid]}, "move", "frontdesk/processed"
        ),
        "stored over IMAPS",
    )
    await eventually(lambda: refused.stats.connect_failures >= 1, "certificate refused")
    warning = next(r for r in caplog.records if "untrusted" in r.getMessage())
    assert "CERTIFICATE_VERIFY_FAILED" in warning.getMessage()
    bad_mid, bad_raw = list(sent.items())[1]
    assert await _ids(dovecot, bad) == [bad_mid]
    assert await _request_of(store, bad_raw) is None
    assert (ok.stats.connects, refused.stats.connects) == (1, 0)


# -- config and the registry -------------------------------------------------------------------

FRONT = """\
queues: {email: {}}
default_queue: email
"""


async def test_a_polled_mail_proves_its_sender_only_by_our_mxs_verdict(
    dovecot: Dovecot, user: str, front: Front, store: QueueStore, running: list[ImapChannel]
) -> None:
    """With trusted_authserv_id, the topmost Return-Path (the envelope sender, as delivered) must
    be the From and our MX must have said pass; else the address is only claimed."""
    sent: dict[str, bytes] = {}
    for n, (path, verdict) in enumerate([
        ("<boss@bigclient.example>", "spf=pass smtp.mailfrom=boss@bigclient.example"),
        ("<boss@bigclient.example>", "spf=fail smtp.mailfrom=boss@bigclient.example"),
        ("<x@evil.example>", "spf=pass smtp.mailfrom=x@evil.example"),
    ]):  # fmt: skip
        msg = EmailMessage()
        msg["Return-Path"], msg["Authentication-Results"] = path, f"mx.example.com; {verdict}"
        msg["From"], msg["To"] = "Boss <boss@bigclient.example>", "support@example.com"
        msg["Subject"], msg["Message-ID"] = f"Contract {n}", f"<c{n}.{uuid.uuid4().hex}@x>"
        msg.set_content("About our contract.\n")
        sent[msg["Message-ID"]] = msg.as_bytes(policy=SMTP)
        await asyncio.to_thread(dovecot.append, user, sent[msg["Message-ID"]])
    mailbox = _mailbox(dovecot, user, trusted_authserv_id="mx.example.com")
    await _start(running, front, mailbox)
    await eventually(lambda: _settled(dovecot, user, store, sent, "move", "frontdesk/processed"),
                     "all three stored")  # fmt: skip
    customers = CustomerStore(store)
    requests = [await store.get(r or "") for r in (await _requests(store, sent)).values()]
    claims = [r.request.customer.claimed if r else None for r in requests]
    assert claims == [(), ("email",), ("email",)]
    proven = await customers.find("email:boss@bigclient.example")
    assert proven is not None and requests[0] and requests[0].request.customer.id == proven
    assert await customers.find("claimed:email:boss@bigclient.example") not in (None, proven)


def test_config_with_defaults_and_password_file() -> None:
    text = """\
queues: {email: {}}
default_queue: email
channels:
  imap:
    mailboxes:
      - name: support-inbox
        host: imap.example.com
        user: support@example.com
        password_file: /run/secrets/imap
        after: move
        move_to: frontdesk/processed
        poll_interval: 2m
        entry_point: support@example.com
      - name: billing
        host: 127.0.0.1
        tls: false
        user: billing
        password: "x y"
        idle: false
"""
    settings = parse_settings(text, "imap.yaml").channels["imap"]
    assert isinstance(settings, ImapSettings)
    support, billing = settings.mailboxes
    assert (support.port, support.tls, support.folder, support.after) == (
        993,
        True,
        "INBOX",
        "move",
    )
    assert (support.move_to, support.poll_interval_s, support.idle) == (PROCESSED, 120, True)
    assert support.idle_renew_s == 25 * 60 and support.password is None
    assert (billing.port, billing.tls, billing.after, billing.idle) == (143, False, "flag", False)
    assert billing.secret() == "x y" and "x y" not in repr(billing)


def test_config_needs_a_mailbox() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(FRONT + "channels:\n  imap: {mailboxes: []}\n", "x.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "x.yaml:4: channels.imap.mailboxes: must list at least one mailbox"
    ]


async def test_registered_under_imap_with_no_routes(front: Front) -> None:
    settings = ImapSettings((MailboxSettings(name="m", host="127.0.0.1", user="u", password="p"),))
    runtime = MODULES["imap"].create(settings, front)
    assert runtime.name == "imap" and runtime.routes() == []
    await runtime.stop()  # never started: nothing to do


def test_mailbox_names_in_modified_utf7() -> None:
    # RFC 3501 section 5.1.3's example, and a literal ampersand
    assert mailbox_name("~peter/mail/台北/日本語") == '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"'
    assert mailbox_name("R&D") == '"R&-D"'
