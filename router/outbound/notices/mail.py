"""Email notices: one message per notice, threaded into the customer's conversation and marked as
an automatic reply (RFC 3834), sent through the configured SMTP relay with the standard
library's smtplib in a worker thread (no new dependency; one connection per notice).

- To: the mail's Reply-To when it had one (where the customer wants answers), else its From.
  Never to mail that was auto-submitted, a bounce, bulk or list mail (attributes
  "auto_submitted" other than "no", or missing), to a null or missing address, to an address of
  a robot (mailer-daemon, postmaster, no-reply, owner-*, *-request, *-bounces) or to our own.
- In-Reply-To and References: the customer's Message-ID, so that the notice threads in their
  mail client; the subject carries `[#FD-n]` (added when a template leaves it out), so that a
  reply threads back onto the request even when its client drops the references.
- Message-ID: our own, derived from the tenant, the request and the event, so that the one
  duplicate a crash can cause carries the same Message-ID (mail clients show it once).
- Auto-Submitted: auto-replied, and X-Auto-Response-Suppress: All (Exchange's out-of-office
  replies stay quiet), so that no robot answers the notice.
- Failures: a 5xx reply, refused credentials, a relay without the configured TLS or an
  untrusted certificate are Undeliverable; 4xx replies, refused connections, timeouts and
  dropped sessions are RetryLater.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

from frontdesk.queues.request import Channel, Request
from frontdesk.router.outbound.notices.templates import Rendered
from frontdesk.router.outbound.sinks import DeliveryError, RetryLater, Undeliverable

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_ROBOT = re.compile(
    r"(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|owner-.*|.*-(request|bounces?"
    r"|owner))(\+.*)?",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|回复|答复|转发)\s*[::]\s*)+", re.IGNORECASE)
_SUBJECT_CHARS = 200


@dataclass(frozen=True, slots=True)
class SmtpRelay:
    """`notices.smtp`: where notices are handed over for delivery."""

    host: str
    port: int
    security: str = "starttls"  # starttls, tls (implicit, port 465) or none
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0  # per SMTP command
    helo: str | None = None  # the name we greet with (default: this machine's)


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Who email notices come from, and the relay that takes them."""

    sender: str  # `notices.from`: the address
    sender_name: str  # and its display name ("" for none)
    relay: SmtpRelay
    envelope_from: str  # MAIL FROM: the sender by default; "" is the null reverse-path <>

    @property
    def domain(self) -> str:
        return self.sender.rsplit("@", 1)[1].lower()


def recipient(request: Request, settings: MailSettings) -> tuple[str | None, str]:
    """The address a notice for `request` goes to, or None and the reason it goes nowhere."""
    reason = request.attributes.get("auto_submitted")
    if request.channel is not Channel.EMAIL:
        pass  # an address the customer typed (a form, a callback, a chat): no mail to judge
    elif reason is None:
        return None, "the request does not say whether its mail was sent by a person"
    elif reason != "no":
        return None, f"the customer's mail was automatic ({reason})"
    reply_to = request.attributes.get("reply_to")
    address = reply_to if isinstance(reply_to, str) and reply_to else request.customer.email
    if not address or not address.strip():
        return None, "the request has no email address"
    address = address.strip()
    if not ADDRESS.fullmatch(address):
        return None, f"{address!r} is not an address we write to"
    local = address.rsplit("@", 1)[0]
    if _ROBOT.fullmatch(local):
        return None, f"{address} is a robot's address"
    if address.lower() in (settings.sender.lower(), settings.envelope_from.lower()):
        return None, f"{address} is our own address"
    return address, ""


UNREACHABLE = ("the request has no email address", "is not an address we write to")


def unreachable(why: str) -> bool:
    """Whether a reason of `recipient` is a failure (the notice was wanted but has nowhere to
    go) rather than a choice (automatic mail, a robot's or our own address)."""
    return any(part in why for part in UNREACHABLE)


def customer_subject(request: Request) -> str:
    """What the customer called the request: its subject without reply prefixes, else the
    first line of its text, else its id."""
    subject = _REPLY_PREFIX.sub("", " ".join(request.subject.split()))
    if not subject:
        first = next((line.strip() for line in request.body.splitlines() if line.strip()), "")
        subject = first or request.id
    if len(subject) > _SUBJECT_CHARS:
        subject = subject[: _SUBJECT_CHARS - 1] + "…"
    return subject


def with_token(subject: str, request_id: str) -> str:
    """`subject` carrying `[#FD-n]` (appended when missing), for replies to thread back."""
    token = f"[#{request_id}]"
    return subject if token.lower() in subject.lower() else f"{subject} {token}".strip()


def message_id(tenant: str, request_id: str, event_id: str, domain: str) -> str:
    """Our Message-ID for the notice of one event (without angle brackets): the same on every
    attempt, so that a duplicate is recognizable."""
    digest = hashlib.sha256(f"{tenant}\0{request_id}\0{event_id}".encode()).hexdigest()[:16]
    return f"notice.{request_id}.{event_id}.{digest}@{domain}"


def build(
    rendered: Rendered,
    request: Request,
    settings: MailSettings,
    to: str,
    our_id: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The notice as an RFC 5322 message."""
    msg = EmailMessage(policy=SMTP_POLICY)
    try:
        msg["From"] = Address(settings.sender_name, addr_spec=settings.sender)
        msg["To"] = Address(request.customer.name or "", addr_spec=to)
    except (ValueError, IndexError) as exc:
        raise Undeliverable(f"cannot write an address header for {to!r}: {exc}") from exc
    msg["Subject"] = with_token(rendered.subject, request.id)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = f"<{our_id}>"
    theirs = request.attributes.get("message_id")
    if isinstance(theirs, str) and theirs.strip():
        msg["In-Reply-To"] = f"<{theirs.strip()}>"
        msg["References"] = f"<{theirs.strip()}>"
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Frontdesk-Request"] = request.id
    msg.set_content(rendered.text)
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html")
    msg["Content-Language"] = rendered.language  # (set_content drops Content-* headers)
    return msg


async def send(settings: MailSettings, to: str, msg: EmailMessage) -> None:
    """Hand the message to the relay; RetryLater or Undeliverable when it was not taken."""
    relay = settings.relay
    where = f"SMTP relay {relay.host}:{relay.port}"
    try:
        await asyncio.to_thread(_send, relay, settings.envelope_from, to, msg.as_bytes())
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _by_code(f"{where} refused {to}", code, text) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise Undeliverable(
            f"{where} refused the credentials (check notices.smtp.user and password): "
            f"{exc.smtp_code} {_text(exc.smtp_error)}"
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise Undeliverable(f"{where}: {exc} (check notices.smtp.security)") from exc
    except smtplib.SMTPResponseException as exc:
        raise _by_code(f"{where} answered", exc.smtp_code, exc.smtp_error) from exc
    except ssl.SSLCertVerificationError as exc:
        raise Undeliverable(
            f"{where}: its certificate is not trusted: {exc.verify_message}"
        ) from exc
    except TimeoutError as exc:
        raise RetryLater(f"{where} did not answer within {relay.timeout_s:g}s") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise RetryLater(f"{where}: {exc!r}") from exc


def _send(relay: SmtpRelay, envelope_from: str, to: str, data: bytes) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if relay.security == "tls":
        smtp = smtplib.SMTP_SSL(
            relay.host, relay.port, relay.helo, timeout=relay.timeout_s, context=context
        )
    else:
        smtp = smtplib.SMTP(relay.host, relay.port, relay.helo, timeout=relay.timeout_s)
    with smtp:
        smtp.ehlo()
        if relay.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if relay.user:
            smtp.login(relay.user, relay.password or "")
        smtp.sendmail(envelope_from, [to], data)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _by_code(said: str, code: int, text: bytes | str) -> DeliveryError:
    reason = f"{said} {code} {_text(text)}".strip()
    return Undeliverable(reason) if 500 <= code < 600 else RetryLater(reason)
