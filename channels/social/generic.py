"""The generic signed webhook, for systems that are not a social platform (a partner's CRM, a
shop, a monitoring tool): one JSON message per delivery, signed with a shared secret.

    X-Frontdesk-Timestamp: 1767225600                    (Unix seconds)
    X-Frontdesk-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

    {"id": "m-1", "from": {"id": "c-42", "name": "...", "email": "...", "phone": "+86..."},
     "text": "...", "subject": "...", "thread": "case-7", "language": "zh-CN",
     "attributes": {"order": "A-1"}}

Also here: `decode_json` and `Fields`, the JSON reading that every JSON parser of the social
channel shares (Meta's, Telegram's), refusing with the path of the field at fault."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from typing import Any, NoReturn

from frontdesk.channels.base import Inbound
from frontdesk.channels.social.inbound import social_inbound
from frontdesk.queues.errors import DecodeError
from frontdesk.queues.request import Customer, Scalar
from frontdesk.router.http.body import not_text

SIGNATURE_HEADER = "X-Frontdesk-Signature"
TIMESTAMP_HEADER = "X-Frontdesk-Timestamp"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}")
_KEYS = {"id", "from", "text", "subject", "thread", "language", "attributes"}
_FROM_KEYS = {"id", "name", "email", "phone"}
MAX_ID = 256
MAX_NAME = 200
MAX_ATTRIBUTES = 50
_MAX_INT = 2**53


# -- JSON, shared by the JSON parsers ------------------------------------------------------------
def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(raw: bytes) -> Any:
    """The JSON document in `raw` (UTF-8, -16 or -32); NaN, Infinity and nesting too deep for
    Python are refused like any other bad JSON, with DecodeError. So is a string (a value or a
    name) that is not text: a `\\ud800` escape decodes to a lone surrogate, which no UTF-8
    store can keep; the DecodeError names its field."""
    try:
        document = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise DecodeError("(body)", raw, ValueError(f"not JSON: {exc}")) from None
    if (where := not_text(document)) is not None:
        raise DecodeError(where, raw, ValueError("is not valid Unicode text (a lone surrogate)"))
    return document


class Fields:
    """Reads a decoded JSON document field by field; a refusal is a DecodeError whose `what` is
    the path of the field at fault (`entry[0].changes[1].value.messages[0].id`)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def fail(self, field: str, message: str) -> NoReturn:
        raise DecodeError(field or "(body)", self.raw, ValueError(message))

    def mapping(self, value: object, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"must be a JSON object, got {_kind(value)}")
        return value

    def items(self, value: object, field: str, required: bool = True) -> list[Any]:
        if value is None and not required:
            return []
        if not isinstance(value, list):
            self.fail(field, f"must be a JSON array, got {_kind(value)}")
        return value

    def text(self, value: object, field: str, limit: int = 1 << 20) -> str:
        """A non-empty string (numbers are taken as their decimal text)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"must be a non-empty string, got {_kind(value)}")
        if len(value) > limit:
            self.fail(field, f"must be at most {limit} characters")
        return value

    def optional_text(self, value: object, field: str, limit: int = 1 << 20) -> str | None:
        """A string or nothing; an empty string counts as nothing."""
        if value is None or value == "":
            return None
        return self.text(value, field, limit)

    def integer(self, value: object, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"must be a whole number, got {_kind(value)}")
        return value

    def flag(self, value: object) -> bool:
        """A JSON true; anything else is false."""
        return value is True


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean", int: "a number", float: "a number", str: "a string",
        list: "an array", dict: "an object",
    }.get(type(value), type(value).__name__)  # fmt: skip


def language(value: object) -> str | None:
    """A language tag as a platform gives it (`en`, `zh-hans`, `pt_BR`), else None."""
    return value if isinstance(value, str) and _LANGUAGE.fullmatch(value) else None


# -- signature -------------------------------------------------------------------------------
def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Frontdesk-Signature value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes) -> bool:
    """The signature is the one `secret` gives `timestamp` and `body`, compared in constant time.
    Whether the timestamp is recent is checked apart (`fresh`)."""
    if timestamp is None or signature is None:
        return False
    expected = sign(secret, timestamp, body).encode()
    presented = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, presented)


def fresh(timestamp: str, now: float, tolerance_s: float) -> bool:
    """`timestamp` (Unix seconds) is within `tolerance_s` of `now`, either side."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now) <= tolerance_s


# -- the message -----------------------------------------------------------------------------
def parse(raw: bytes, name: str, received_at: float = 0.0) -> list[Inbound]:
    """The one message of a generic webhook delivery named `name`; DecodeError names the field
    at fault. `from.id` is the sender's handle under `name`; `thread` (else `from.id`) is the
    conversation that follow-ups join."""
    f = Fields(raw)
    body = f.mapping(decode_json(raw), "")
    for key in body:
        if key not in _KEYS:
            f.fail(str(key), f"unknown field; expected one of {', '.join(sorted(_KEYS))}")
    message_id = f.text(body.get("id"), "id", MAX_ID)
    sender = f.mapping(body.get("from"), "from")
    for key in sender:
        if key not in _FROM_KEYS:
            f.fail(f"from.{key}", f"unknown field; expected one of {', '.join(sorted(_FROM_KEYS))}")
    handle = f.text(sender.get("id"), "from.id", MAX_ID)
    email = f.optional_text(sender.get("email"), "from.email", 320)
    if email is not None and not _EMAIL.fullmatch(email):
        f.fail("from.email", "must be an email address")
    phone = f.optional_text(sender.get("phone"), "from.phone", 16)
    if phone is not None and not _E164.fullmatch(phone):
        f.fail("from.phone", "must be an E.164 number such as +8613800138000")
    text = f.optional_text(body.get("text"), "text") or ""
    subject = f.optional_text(body.get("subject"), "subject", 1000) or ""
    if not (text.strip() or subject.strip()):
        f.fail("text", "a message needs a text or a subject")
    thread = f.optional_text(body.get("thread"), "thread", MAX_ID) or handle
    lang = body.get("language")
    if lang is not None and language(lang) is None:
        f.fail("language", "must be a language tag such as en or zh-CN")
    customer = Customer(
        name=f.optional_text(sender.get("name"), "from.name", MAX_NAME),
        email=email,
        phone=phone,
        handles={name: handle},
    )
    inbound = social_inbound(
        name,
        message_id,
        thread,
        entry_point=f"generic:{name}",
        customer=customer,
        subject=subject,
        body=text,
        language=language(lang),
        received_at=received_at,
        attributes=_attributes(f, body.get("attributes")),
    )
    return [inbound]


def _attributes(f: Fields, value: object) -> dict[str, Scalar]:
    """Attributes for the classification rules: at most 50, each a string, number, boolean or
    null."""
    if value is None:
        return {}
    found = f.mapping(value, "attributes")
    if len(found) > MAX_ATTRIBUTES:
        f.fail("attributes", f"at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, Scalar] = {}
    for key, item in found.items():
        where = f"attributes.{key}"
        if not key or len(key) > 64:
            f.fail(where, "an attribute's name has 1 to 64 characters")
        if isinstance(item, float) and not math.isfinite(item):
            f.fail(where, "must be a finite number")
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > _MAX_INT:
            f.fail(where, "must be a number between -2^53 and 2^53")
        if isinstance(item, str) and len(item) > 1000:
            f.fail(where, "must be at most 1000 characters")
        if item is not None and not isinstance(item, str | int | float | bool):
            f.fail(where, f"must be a string, number, boolean or null, got {_kind(item)}")
        out[key] = item
    return out
