"""Email in: one RFC 5322 message (from SMTP, an IMAP mailbox or a file) becomes the normalized
Inbound the Front takes. It never raises: any bytes at all become a request.

- external_id: the Message-ID without angle brackets (a mail without one: `sha256:<hex>` of its
  bytes with line ends normalized, so a re-delivery is still recognized). With a recipient it is
  `<recipient>:<id>`, so a mail sent to two of our addresses is one message per address.
- customer: the From address and display name (Reply-To is where answers go, not who asked; it is
  kept in attributes["reply_to"]); the envelope sender when From has no usable address.
- thread_refs: `email:<id>` for a bounce's original message, In-Reply-To and References (newest
  first), then `email:token:FD-n` for each `[#FD-n]` in the subject. thread_keys: its own id.
- auto_submitted (and attributes["auto_submitted"], "no" or the reason): bounces and delivery
  reports, read receipts, Auto-Submitted other than no, X-Autoreply and the like, Precedence
  bulk/list/junk, mailing-list headers, a null sender.
- attachments: decoded filename, content type and decoded size, and the content itself in
  `Inbound.contents` under the attachment's `ref` (`sha256:<hex>`) for Front to store first.
  Those over `max_attachment_bytes` are listed without content (no `ref`) and counted in
  attributes["attachments_over_limit"].
"""

from __future__ import annotations

import email
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from email.message import Message as MimePart
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses

from frontdesk.channels import base
from frontdesk.channels.base import Inbound
from frontdesk.channels.mail.text import (
    clean,
    decode_bytes,
    decode_header,
    filename_of,
    html_to_text,
    one_line,
    raw_header_bytes,
    tidy,
)
from frontdesk.queues.blobs import reference
from frontdesk.queues.request import Attachment, Channel, Customer, Request, Scalar

log = logging.getLogger("frontdesk.mail")

MAX_BODY_CHARS = 200_000
MAX_PARTS = 500
MAX_DEPTH = 20
MAX_ATTACHMENTS = 100
MAX_REFS = 20
_ID = re.compile(r"<([^<>\s]{1,995})>")
_TOKEN = re.compile(r"\[#\s*(FD-\d{1,18})\s*\]", re.IGNORECASE)
_ADDRESS = re.compile(r"[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+")
_BODY_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^<>\s]{1,995})>", re.IGNORECASE | re.MULTILINE)
_REPORTS = {"message/delivery-status": "bounce", "message/global-delivery-status": "bounce",
            "message/disposition-notification": "receipt"}  # fmt: skip
_BODY_TYPES = {"text/plain", "text/html"}
_SUPPRESS = re.compile(r"\b(all|oof|autoreply)\b", re.IGNORECASE)


def mail_ref(message_id: str) -> str:
    """The thread reference of a Message-ID (with or without angle brackets): `email:<id>`; what
    outgoing mail registers for the request it belongs to."""
    return base.mail_ref(normalize_id(message_id) or message_id.strip())


def normalize_id(value: str) -> str | None:
    """The first `<id>` in a header value, without brackets (a bare token if there is none)."""
    value = clean(value)
    if m := _ID.search(value):
        return m[1]
    token = value.strip().split(maxsplit=1)
    return token[0][:995] if token and "@" in token[0] else None


def parse_email(
    raw: bytes,
    *,
    recipient: str | None = None,
    envelope_from: str | None = None,
    max_attachment_bytes: int = 10 * 2**20,
) -> Inbound:
    """The Inbound of one raw message. `recipient`: the address it was delivered to (the entry
    point); `envelope_from`: the SMTP MAIL FROM ("" or "<>" for a null sender, None if unknown)."""
    try:
        return _parse(raw, recipient, envelope_from, max_attachment_bytes)
    except Exception as exc:  # the stdlib parser recurses once per nesting level
        log.warning("mail of %d bytes: MIME structure unreadable (%r), kept as text", len(raw), exc)
    try:
        return _parse(raw, recipient, envelope_from, max_attachment_bytes, headers_only=True)
    except Exception:  # the last resort: never lose a mail to a parser bug
        log.exception("mail of %d bytes: headers unreadable, kept as text", len(raw))
        return _bare(raw, recipient, envelope_from)


@dataclass
class _Found:
    """What a walk over the MIME tree found."""

    max_attachment_bytes: int
    texts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)  # ref -> content, for Front
    over_limit: int = 0
    omitted: int = 0
    parts: int = 0
    reports: list[str] = field(default_factory=list)  # "bounce", "receipt"
    embedded_ids: list[str] = field(default_factory=list)  # of attached messages and headers
    dsn: dict[str, str] = field(default_factory=dict)


def _headers(msg: MimePart) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        found.setdefault(str(name).strip().lower(), []).append(str(value))
    return found


def _first(headers: dict[str, list[str]], name: str) -> str:
    return headers.get(name, [""])[0]


def _parse(
    raw: bytes,
    recipient: str | None,
    envelope_from: str | None,
    limit: int,
    headers_only: bool = False,
) -> Inbound:
    msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=headers_only)
    h = _headers(msg)
    message_id = normalize_id(_first(h, "message-id"))
    found = _Found(limit)
    if headers_only:  # everything after the headers, as text
        rest = msg.get_payload()
        found.texts.append(
            tidy(decode_bytes(raw_header_bytes(rest if isinstance(rest, str) else "")))
        )
    else:
        _visit(msg, 0, found, True)
    body, truncated = _body(found.texts)
    subject = one_line(decode_header(_first(h, "subject")))
    customer, reply_to = _customer(h, envelope_from)
    null_sender = _null_sender(h, envelope_from)
    original = _original_ids(found, null_sender, body, customer.email)
    reason = _auto_reason(h, found, null_sender, bool(original))
    refs = [*original, *_ids(_first(h, "in-reply-to"))]
    refs += reversed(_ids(" ".join(h.get("references", []))))
    thread_refs = [mail_ref(i) for i in dict.fromkeys(refs)][:MAX_REFS]
    tokens = dict.fromkeys(t.upper() for t in _TOKEN.findall(subject))
    thread_refs += [f"email:token:{t}" for t in tokens][:3]
    attributes: dict[str, Scalar] = {"message_id": message_id or "", "auto_submitted": reason}
    if reply_to and reply_to.lower() != (customer.email or "").lower():
        attributes["reply_to"] = reply_to
    attributes.update({f"bounce_{k}": v for k, v in found.dsn.items()})
    if found.over_limit:
        attributes["attachments_over_limit"] = found.over_limit
    if found.omitted:
        attributes["attachments_not_listed"] = found.omitted
    if truncated:
        attributes["body_truncated"] = True
    if headers_only:
        attributes["parse_error"] = True
    request = Request(
        id="",
        channel=Channel.EMAIL,
        queue="",
        external_id=_external_id(message_id, raw, recipient),
        entry_point=_entry_point(recipient),
        customer=customer,
        subject=subject,
        body=body,
        attachments=tuple(found.attachments),
        received_at=time.time(),
        attributes=attributes,
    )
    keys = (mail_ref(message_id),) if message_id else ()
    return Inbound(
        request, tuple(thread_refs), keys, auto_submitted=reason != "no", contents=found.contents
    )


def _bare(raw: bytes, recipient: str | None, envelope_from: str | None) -> Inbound:
    null = envelope_from is not None and envelope_from.strip() in ("", "<>")
    sender = None if null or not envelope_from else clean(envelope_from).strip()
    body, _ = _body([tidy(raw.decode("utf-8", errors="replace"))])
    reason = "null-sender" if null else "no"
    attributes: dict[str, Scalar] = {
        "message_id": "",
        "auto_submitted": reason,
        "parse_error": True,
    }
    request = Request("", Channel.EMAIL, "", _external_id(None, raw, recipient),
                      _entry_point(recipient), Customer(email=sender), body=body,
                      received_at=time.time(), attributes=attributes)  # fmt: skip
    return Inbound(request, auto_submitted=null)


def _external_id(message_id: str | None, raw: bytes, recipient: str | None) -> str:
    if message_id is None:
        normalized = raw.replace(b"\r\n", b"\n")
        message_id = "sha256:" + hashlib.sha256(normalized).hexdigest()
    address = _entry_point(recipient)
    return f"{address}:{message_id}" if address else message_id


def _entry_point(recipient: str | None) -> str | None:
    if not recipient or not recipient.strip():
        return None
    return clean(recipient).strip().strip("<>").lower()


def _ids(value: str) -> list[str]:
    return _ID.findall(clean(value)) if value else []


def _body(texts: list[str]) -> tuple[str, bool]:
    body = "\n\n".join(t for t in texts if t.strip())
    if len(body) <= MAX_BODY_CHARS:
        return body, False
    more = len(body) - MAX_BODY_CHARS
    return f"{body[:MAX_BODY_CHARS]}\n\n[… {more} more characters not shown]", True


# -- who wrote, and was it a robot ----------------------------------------------------------------
def _address(value: str) -> tuple[str, str | None]:
    """Display name and address of the first mailbox in a raw address header."""
    for name, addr in getaddresses([value]):
        text = decode_header(addr).strip()
        if _ADDRESS.fullmatch(text):
            return one_line(decode_header(name), 200), text
    return "", None


def _customer(h: dict[str, list[str]], envelope_from: str | None) -> tuple[Customer, str | None]:
    name, addr = _address(_first(h, "from"))
    _, reply_to = _address(_first(h, "reply-to"))
    if addr is None and envelope_from:
        fallback = clean(envelope_from).strip().strip("<>")
        addr = fallback if _ADDRESS.fullmatch(fallback) else None
    return Customer(name=name or None, email=addr), reply_to


def _null_sender(h: dict[str, list[str]], envelope_from: str | None) -> bool:
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return True
    return any(v.strip() == "<>" for v in h.get("return-path", []))


def _original_ids(found: _Found, null_sender: bool, body: str, sender: str | None) -> list[str]:
    """The Message-IDs a bounce or a receipt is about: from the report's attached message or
    headers; for a null-sender failure without a report, from the text it quotes."""
    daemon = (sender or "").lower().startswith(("mailer-daemon@", "postmaster@"))
    if found.reports or null_sender or daemon:
        ids = found.embedded_ids or ([m[1] for m in [_BODY_ID.search(body)] if m])
        return ids[:3]
    return []


def _auto_reason(h: dict[str, list[str]], found: _Found, null_sender: bool, bounce: bool) -> str:
    """Why no one may answer this mail automatically; "no" when nothing says so."""
    if found.reports:
        return found.reports[0]
    if bounce:
        return "bounce"
    auto = clean(_first(h, "auto-submitted")).split(";")[0].strip().lower()
    if auto and auto != "no":
        return one_line(auto, 40)
    if "x-autoreply" in h or "x-autorespond" in h:
        return "auto-replied"
    if _SUPPRESS.search(_first(h, "x-auto-response-suppress")):
        return "auto-replied"
    precedence = _first(h, "precedence").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return precedence
    if "list-id" in h or "list-unsubscribe" in h:
        return "list"
    return "null-sender" if null_sender else "no"


# -- the MIME tree ------------------------------------------------------------------------------
def _visit(part: MimePart, depth: int, found: _Found, wants_text: bool) -> None:
    found.parts += 1
    if found.parts > MAX_PARTS or depth > MAX_DEPTH:
        return
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        _attached_message(part, found)
    elif ctype in _REPORTS:
        found.reports.append(_REPORTS[ctype])
        _report_fields(part, found)
    elif ctype in ("text/rfc822-headers", "message/global-headers"):
        headers = email.message_from_bytes(_payload(part), policy=compat32)
        if found_id := normalize_id(headers.get("message-id", "") or ""):
            found.embedded_ids.append(found_id)
    elif part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, MimePart)]
        chosen = _best_alternative(children) if ctype == "multipart/alternative" else None
        for i, child in enumerate(children):
            if ctype == "multipart/alternative":
                wanted = wants_text and child is chosen
            else:
                wanted = wants_text and (i == 0 or ctype != "multipart/related")
            _visit(child, depth + 1, found, wanted)
    elif (ctype in _BODY_TYPES and not _is_file(part)) or ctype.startswith("multipart/"):
        if wants_text:  # (a multipart without a usable boundary is text too)
            found.texts.append(_text(part))
    else:
        data = _payload(part)
        _attach(found, filename_of(part) or _unnamed(ctype, found), ctype, data)


def _payload(part: MimePart) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text(part: MimePart) -> str:
    text = decode_bytes(_payload(part), part.get_content_charset())
    return html_to_text(text) if part.get_content_type() == "text/html" else tidy(text)


def _is_file(part: MimePart) -> bool:
    disposition = str(part.get("content-disposition", "")).split(";")[0].strip().lower()
    return disposition == "attachment" or filename_of(part) is not None


def _best_alternative(children: list[MimePart]) -> MimePart | None:
    """Plain text if it says anything, else HTML, else the first nested multipart."""
    by_type: dict[str, MimePart] = {}
    for child in children:
        kind = "multipart" if child.is_multipart() else child.get_content_type()
        by_type.setdefault(kind, child)
    plain = by_type.get("text/plain")
    if plain is not None and _text(plain).strip():
        return plain
    return by_type.get("text/html") or by_type.get("multipart") or plain


def _attach(found: _Found, filename: str, ctype: str, data: bytes) -> None:
    """List one attachment, keeping its content unless it is over the size limit."""
    kept = len(data) <= found.max_attachment_bytes
    if not kept:
        found.over_limit += 1
    if len(found.attachments) >= MAX_ATTACHMENTS:
        found.omitted += 1
        return
    ref = reference(data) if kept else None
    if ref is not None:
        found.contents[ref] = data
    found.attachments.append(Attachment(filename, ctype, len(data), ref))


def _attached_message(part: MimePart, found: _Found) -> None:
    inner = next((p for p in part.get_payload() if isinstance(p, MimePart)), None)
    if inner is None:
        inner = email.message_from_bytes(_payload(part), policy=compat32)
    if inner_id := normalize_id(str(inner.get("message-id", "") or "")):
        found.embedded_ids.append(inner_id)
    try:
        data = inner.as_bytes()
    except Exception:  # a broken attached message still gets listed
        data = b""
    subject = one_line(decode_header(str(inner.get("subject", "") or "")), 120)
    name = filename_of(part) or (f"{subject}.eml" if subject else _unnamed("message/rfc822", found))
    _attach(found, name, part.get_content_type(), data)


def _report_fields(part: MimePart, found: _Found) -> None:
    """Action, Status and recipient of a delivery report; a read receipt's Original-Message-ID."""
    blocks = [p for p in part.get_payload() if isinstance(p, MimePart)] or [
        email.message_from_bytes(_payload(part), policy=compat32)
    ]
    for block in blocks:
        for name, value in block.raw_items():
            key, text = name.strip().lower(), one_line(decode_header(str(value)), 200)
            if key == "original-message-id" and (original := normalize_id(text)):
                found.embedded_ids.append(original)
            elif key in ("action", "status") and key not in found.dsn:
                found.dsn[key] = text.lower()
            elif key in ("final-recipient", "original-recipient") and "recipient" not in found.dsn:
                found.dsn["recipient"] = text.split(";")[-1].strip()


def _unnamed(ctype: str, found: _Found) -> str:
    extension = {"message/rfc822": ".eml", "text/calendar": ".ics", "text/plain": ".txt"}
    subtype = ctype.split("/")[-1]
    suffix = extension.get(ctype) or ("." + subtype if subtype.isalnum() else "")
    return f"attachment-{len(found.attachments) + 1}{suffix}"
