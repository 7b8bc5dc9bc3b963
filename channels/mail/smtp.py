"""The SMTP channel (`channels.smtp`): an aiosmtpd server in the daemon's own event loop that
accepts mail for the configured addresses only (no relay) and says 250 only after every
recipient's request is in Redis.

A mail to several of our addresses opens one request per address (its external id is
`<address>:<Message-ID>`, see channels/mail/parse.py); a reply to several of them joins its
conversation once: the first recipient decides, and only if it opened a request do the others
open their own."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
import socket
import ssl
import weakref
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from frontdesk.channels.base import ChannelContext, Inbound, Receipt
from frontdesk.channels.mail.parse import parse_email
from frontdesk.channels.mail.trust import proven
from frontdesk.queues.errors import EncodeError, StaleRead
from frontdesk.queues.request import is_text
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.http.errors import REDIS_DOWN, Unavailable

log = logging.getLogger("frontdesk.smtp")

# Replies (RFC 5321 codes with RFC 3463 enhanced status codes)
SENDER_OK = "250 2.1.0 OK"
RECIPIENT_OK = "250 2.1.5 OK"
QUEUED = "250 2.0.0 OK: queued as {ids}"
KEPT_OUT = "250 2.0.0 OK: automatic mail answering no open request, kept out of the queues"
NO_SUCH_MAILBOX = "550 5.1.1 <{address}>: no such mailbox here"
RELAY_DENIED = "550 5.7.1 <{address}>: relaying denied, no such mailbox here"
RATE_LIMITED = "450 4.7.1 Too many messages; try again in {seconds} seconds"
STORAGE_DOWN = Unavailable.smtp_reply  # Redis down: the one mapping (router/http/errors.py)
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure; try again later"
BAD_SYNTAX = "501 5.5.4 Syntax error in parameters"
BAD_SENDER = "553 5.1.7 The sender address is not valid UTF-8"
BAD_RECIPIENT = "553 5.1.3 The recipient address is not valid UTF-8"
BAD_CONTENT = "554 5.6.0 Message not accepted: {field} is not valid text"

MAX_LINE = 1 << 20  # RFC 5321 says 1000 octets; real mailers send longer lines (8-bit HTML)
SESSION_TIMEOUT_S = 300
_KEYS = ["host", "port", "hostname", "max_size", "max_attachment_size", "addresses", "tls"]
_KEYS += ["trusted_authserv_id"]  # our MX's Authentication-Results id: senders proven by it
_TLS_KEYS = ["cert", "key", "require"]
_ADDRESS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*"
HOSTNAME = r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}
MIN_SIZE, MAX_SIZE = 2**10, 2**30


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """`channels.smtp`: where to listen, what to announce, and the addresses we accept mail for
    (lower-cased address -> entry point)."""

    addresses: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "localhost"
    max_size: int = 25 * 2**20
    tls: ssl.SSLContext | None = None  # STARTTLS offered with this certificate
    max_attachment_size: int = 10 * 2**20  # larger attachments are listed, their content not kept
    require_tls: bool = False  # refuse mail before STARTTLS
    # set: a sender is trusted only when the envelope sender is the From address and our MX
    # (this authserv-id) says spf=pass or dkim=pass for it (channels/mail/trust.py); else its
    # address is kept as claimed. None: every sender trusted, as before
    trusted_authserv_id: str | None = None


def parse_size(value: object) -> int | None:
    """Bytes in `25MB`, `512KB`, `1GB` (powers of 1024) or a plain number; None if not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return int(float(m[1]) * _UNITS[(m[2] or "b")[0].lower()])
    return None


def parse_config(check: Checker, raw: object, path: Path, queues: set[str]) -> SmtpSettings | None:
    """Check `channels.smtp`; every problem is reported with its path and line. No address names
    a queue: the rules decide, by `entry_point` among others (`queues` is not needed)."""
    c = check.mapping(path, raw, _KEYS)
    if raw is not None and not isinstance(raw, dict):
        return None
    before = len(check.problems)
    host = check.string((*path, "host"), c.get("host", "127.0.0.1"))
    port = check.integer((*path, "port"), c.get("port", 2525), 0, 65535)
    hostname = check.string((*path, "hostname"), c.get("hostname", _machine()))
    if hostname and not re.fullmatch(HOSTNAME, hostname):
        check.error((*path, "hostname"), f"{hostname!r} is not a host name like mail.example.com")
        hostname = None
    size = parse_size(c.get("max_size", "25MB"))
    if size is None or not MIN_SIZE <= size <= MAX_SIZE:
        shown = c.get("max_size")
        check.error(
            (*path, "max_size"), f"must be a size from 1KB to 1GB such as 25MB, got {shown!r}"
        )
    kept = parse_size(c.get("max_attachment_size", "10MB"))
    if kept is None or not 0 <= kept <= MAX_SIZE:
        shown = c.get("max_attachment_size")
        check.error(
            (*path, "max_attachment_size"), f"must be a size up to 1GB such as 10MB, got {shown!r}"
        )
    addresses = _addresses(check, (*path, "addresses"), c.get("addresses"))
    tls, require = _tls(check, (*path, "tls"), c.get("tls"))
    authserv = c.get("trusted_authserv_id")
    if authserv is not None:
        authserv = check.string((*path, "trusted_authserv_id"), authserv)
        if authserv and not re.fullmatch(HOSTNAME, authserv):
            check.error((*path, "trusted_authserv_id"), f"{authserv!r} is not a host name "
                        "like mx.example.com (the authserv-id your MX writes)")  # fmt: skip
    if len(check.problems) > before:
        return None
    assert host and port is not None and hostname and size and kept is not None
    return SmtpSettings(
        addresses,
        host,
        port,
        hostname,
        size,
        tls=tls,
        require_tls=require,
        max_attachment_size=kept,
        trusted_authserv_id=authserv or None,
    )


def _tls(check: Checker, path: Path, raw: object) -> tuple[ssl.SSLContext | None, bool]:
    """`tls: {cert, key, require}`: the certificate chain and key files (PEM) for STARTTLS."""
    if raw is None:
        return None, False
    t = check.mapping(path, raw, _TLS_KEYS)
    cert = check.string((*path, "cert"), t.get("cert"))
    key = check.string((*path, "key"), t.get("key", cert))
    require = check.boolean((*path, "require"), t.get("require", False))
    if not cert or not key:
        return None, False
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        check.error((*path, "cert"), f"cannot load {cert!r} with key {key!r}: {reason}")
        return None, False
    return context, bool(require)


def _addresses(check: Checker, path: Path, raw: object) -> dict[str, str]:
    if raw is None or raw == {}:
        check.error(path, "list at least one address to accept mail for")
        return {}
    out: dict[str, str] = {}
    first: dict[str, str] = {}
    for address, body in check.mapping(path, raw).items():
        where = (*path, address)
        if not re.fullmatch(_ADDRESS, address):
            check.error(where, f"{address!r} is not an email address like support@example.com")
            continue
        key = address.lower()
        if key in first:
            check.error(where, f"is the same address as {first[key]!r}")
            continue
        first[key] = address
        entry = check.mapping(where, body, ["entry_point"]).get("entry_point", key)
        if entry_point := check.string((*where, "entry_point"), entry):
            out[key] = entry_point.strip()
    return out


def _machine() -> str:
    """The name announced in the greeting when `hostname` is not configured."""
    name = socket.gethostname()
    return name if re.fullmatch(HOSTNAME, name) else "localhost"


def create(settings: SmtpSettings, context: ChannelContext) -> SmtpChannel:
    return SmtpChannel(settings, context)


class _Server(SMTP):
    line_length_limit = MAX_LINE


class MailHandler:
    """aiosmtpd hooks: each returns the reply line."""

    def __init__(self, settings: SmtpSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.domains = {a.rsplit("@", 1)[1] for a in settings.addresses}

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not is_text(address):  # aiosmtpd keeps bytes that are not UTF-8 as surrogates
            log.info("MAIL FROM refused from %s: the address is not UTF-8", _peer_ip(session))
            return BAD_SENDER
        sender = None if address in ("", "<>") else address.strip().lower()
        wait = await self.context.admit(sender, _peer_ip(session))
        if wait is not None:
            log.info("rate limit: mail from %s (%s) refused", sender, _peer_ip(session))
            return RATE_LIMITED.format(seconds=max(1, math.ceil(wait)))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not is_text(address):
            log.info("RCPT TO refused from %s: the address is not UTF-8", _peer_ip(session))
            return BAD_RECIPIENT
        mailbox = address.strip().lower()
        if mailbox not in self.settings.addresses:
            domain = mailbox.rsplit("@", 1)[-1]
            reply = NO_SUCH_MAILBOX if domain in self.domains else RELAY_DENIED
            return reply.format(address=address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        peer = _peer_ip(session)
        try:
            ids = await self._deliver(envelope)
        except REDIS_DOWN as exc:
            log.warning("mail from %s (%s): 451, storage down: %r", envelope.mail_from, peer, exc)
            return STORAGE_DOWN
        except StaleRead as exc:  # a conversation that kept losing its race: the sender retries
            log.info("mail from %s (%s): 451, contended: %s", envelope.mail_from, peer, exc)
            return TEMPORARY_FAILURE
        except EncodeError as exc:  # the mail parser cleans text; this is the last guard
            log.info(
                "mail from %s (%s) refused: %s is not text", envelope.mail_from, peer, exc.what
            )
            return BAD_CONTENT.format(field=exc.what)
        except Exception:
            log.exception("mail from %s (%s) refused with 451", envelope.mail_from, peer)
            return TEMPORARY_FAILURE
        log.info("mail from %s (%s) to %s: %s", envelope.mail_from, peer, envelope.rcpt_tos, ids)
        if not any(ids):
            return KEPT_OUT
        return QUEUED.format(ids=" ".join(dict.fromkeys(i for i in ids if i)))

    async def handle_exception(self, error: Exception) -> str:
        """Anything a hook raised (Redis down while counting a rate limit, a bug): a temporary
        refusal with a generic reason, never the exception, and a log line."""
        if isinstance(error, REDIS_DOWN):
            log.warning("SMTP command refused with 451, storage down: %r", error)
            return STORAGE_DOWN
        if _in_argument_parsing(error):  # aiosmtpd's parser trips on some broken addresses
            log.info("SMTP command refused with 501, its argument does not parse: %r", error)
            return BAD_SYNTAX
        log.error("SMTP command refused with 451", exc_info=error)
        return TEMPORARY_FAILURE

    async def _deliver(self, envelope: Envelope) -> list[str]:
        """One request per recipient address; durable on return."""
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        sender = "" if mail_from == "<>" else mail_from
        recipients = list(dict.fromkeys(a.strip().lower() for a in envelope.rcpt_tos))
        ids: list[str] = []
        for i, mailbox in enumerate(recipients):
            inbound = await asyncio.to_thread(
                parse_email,
                raw,
                recipient=mailbox,
                envelope_from=sender,
                max_attachment_bytes=self.settings.max_attachment_size,
            )
            request = dataclasses.replace(
                inbound.request, entry_point=self.settings.addresses[mailbox]
            )
            authserv = self.settings.trusted_authserv_id
            if authserv and not proven(raw, authserv, sender, request.customer.email):
                claimed = dataclasses.replace(request.customer, claimed=("email",))
                request = dataclasses.replace(request, customer=claimed)
            inbound = dataclasses.replace(inbound, request=request)
            if i > 0:  # a sibling copy: its own request, never threaded onto the first one's
                inbound = dataclasses.replace(inbound, thread_refs=(), thread_keys=())
            receipt = await self.context.receive(inbound)
            ids.append(receipt.request_id)
            if i == 0 and not await self._opened(receipt, inbound):
                break  # it joined a conversation: once is enough
        return ids

    async def _opened(self, receipt: Receipt, inbound: Inbound) -> bool:
        """Whether this message opened its request (now, or on an earlier delivery)."""
        if receipt.created or receipt.appended:
            return receipt.created
        record = await self.context.store.get(receipt.request_id)
        return record is not None and record.request.external_id == inbound.request.external_id


class SmtpChannel:
    """The running SMTP listener."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.handler = MailHandler(settings, context)
        self.address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def routes(self) -> list[web.RouteDef]:
        return []

    def _session(self) -> SMTP:
        server = _Server(
            self.handler,
            hostname=self.settings.hostname,
            ident="frontdesk",
            data_size_limit=self.settings.max_size,
            enable_SMTPUTF8=True,
            timeout=SESSION_TIMEOUT_S,
            tls_context=self.settings.tls,
            require_starttls=self.settings.require_tls,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(server)
        return server

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        self._server = await loop.create_server(self._session, host=s.host, port=s.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        log.info("SMTP listening on %s:%d for %s", host, port, ", ".join(s.addresses))

    async def stop(self) -> None:
        """Stop listening and close open sessions; a mail not yet answered is retried by its
        sender (nothing was acknowledged)."""
        if self._server is None:
            return
        self._server.close()
        tasks: list[asyncio.Task[Any]] = []
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
            task = getattr(session, "_handler_coroutine", None)  # aiosmtpd's per-session task
            if isinstance(task, asyncio.Task):
                tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await self._server.wait_closed()
        self._server = None


def _in_argument_parsing(error: BaseException) -> bool:
    """Whether `error` was raised while aiosmtpd parsed a command's address or parameters (e.g.
    an IndexError for `MAIL FROM:<`): the client's fault, not ours."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in ("_getaddr", "_getparams"):
            return True
        tb = tb.tb_next
    return False


def _peer_ip(session: Session) -> str | None:
    peer: Any = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer) if peer else None
