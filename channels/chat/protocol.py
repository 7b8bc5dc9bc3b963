"""The web chat's wire format: frames a customer's client sends, checked field by field.

    frame = decode('{"type": "message", "id": "m1", "text": "hello"}', max_text_bytes=4096)

Every refusal is one ChatError naming its code and, where one is to blame, the field; the server
turns it into an error frame (WebSocket) or an HTTP error (REST) and never drops a connection
without a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frontdesk.router.http.errors import STORAGE_RETRY_S, Refusal, Unavailable, retry_after

NAME_CHARS = 100
TOPIC_CHARS = 200
EMAIL_CHARS = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")
MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
START_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_AFTER = 10**9

STATUS = {
    "bad_json": 400,
    "bad_frame": 400,
    "unknown_type": 400,
    "unknown_field": 400,
    "missing": 400,
    "invalid": 400,
    "not_started": 400,
    "already_started": 400,
    "websocket_required": 400,
    "unknown_site": 403,
    "origin_not_allowed": 403,
    "bad_token": 403,
    "not_found": 404,
    "closed": 409,
    "too_large": 413,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}
"""Every error code, with the HTTP status the REST fallback answers it with."""


class ChatError(Refusal):
    """A refusal the customer's client sees: a code (its HTTP status from STATUS), a message,
    the field to blame; on the WebSocket an error frame, on the REST fallback a JSON error
    (rendered by json_errors, Retry-After from `retry_after_s`, the client's message `id`)."""

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        *,
        retry_after_s: float | None = None,
        id: str | None = None,  # the client's message id, when the frame named one
    ) -> None:
        wait = {"Retry-After": retry_after(retry_after_s)} if retry_after_s is not None else None
        super().__init__(STATUS[code], code, message, field, wait)
        self.retry_after_s = retry_after_s
        self.id = id

    @classmethod
    def unavailable(cls) -> ChatError:
        """Redis does not answer (Unavailable): try again in STORAGE_RETRY_S."""
        return cls("unavailable", Unavailable.text, retry_after_s=STORAGE_RETRY_S)

    def extra(self) -> dict[str, Any]:
        return super().extra() | ({"id": self.id} if self.id is not None else {})

    def frame(self) -> dict[str, Any]:
        """The error frame sent on the WebSocket."""
        out: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        out["field"] = self.field
        if self.id is not None:
            out["id"] = self.id
        if self.retry_after_s is not None:
            out["retry_after_s"] = self.retry_after_s
        return out


@dataclass(frozen=True, slots=True)
class Start:
    """Open a conversation: the customer's first message, and who they say they are."""

    text: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164
    topic: str | None = None
    language: str | None = None
    id: str | None = None  # the client's own id for this start: a resend gives the same answer


@dataclass(frozen=True, slots=True)
class Send:
    """A follow-up from the customer; `id` makes a resend harmless."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Resume:
    """Pick a conversation up again (a reload, a new connection); replays messages after `after`."""

    conversation: str
    token: str
    after: int = 0


@dataclass(frozen=True, slots=True)
class End:
    """The customer ends the conversation."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive from the client; answered with a pong."""


@dataclass(frozen=True, slots=True)
class Rate:
    """The customer's answer to the satisfaction survey a `survey` frame asked: `score` 1-5
    (the overall one), the other dimensions' scores, an optional comment."""

    score: int
    dimensions: dict[str, int]
    comment: str = ""


Frame = Start | Send | Resume | End | Ping | Rate


class _Fields:
    """One JSON object's fields, each read once with its checks; unknown fields refused."""

    def __init__(self, body: dict[Any, Any], allowed: set[str], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        for key in body:
            if key not in allowed:
                name = key if isinstance(key, str) and key.isprintable() else repr(key)
                raise ChatError(
                    "unknown_field",
                    f"unknown field {name[:64]!r}; expected one of {', '.join(sorted(allowed))}",
                    f"{prefix}{name[:64]}",
                )

    def text(
        self, name: str, required: bool = False, max_chars: int = 1000, strip: bool = True
    ) -> str | None:
        field = self.prefix + name
        value = self.body.get(name)
        if value is None:
            if required:
                raise ChatError("missing", f"{field} is required", field)
            return None
        if not isinstance(value, str):
            raise ChatError("invalid", f"{field} must be a string", field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ChatError("invalid", f"{field} must be valid Unicode text", field) from None
        if len(value) > max_chars:
            raise ChatError("invalid", f"{field} must be at most {max_chars} characters", field)
        if not value.strip():
            if required:
                raise ChatError("missing", f"{field} must not be empty", field)
            return None
        return value.strip() if strip else value

    def matching(
        self, name: str, pattern: re.Pattern[str], what: str, required: bool
    ) -> str | None:
        value = self.text(name, required, max_chars=256)
        if value is not None and not pattern.fullmatch(value):
            raise ChatError("invalid", f"{self.prefix}{name} must be {what}", self.prefix + name)
        return value

    def message(self, name: str, max_bytes: int) -> str:
        value = self.text(name, required=True, max_chars=4 * max_bytes, strip=False)
        assert value is not None
        size = len(value.encode("utf-8"))
        if size > max_bytes or len(value) > max_bytes:
            raise ChatError(
                "too_large", f"{name} is {size} bytes; at most {max_bytes} are allowed", name
            )
        return value


def _json(raw: str | bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ChatError("bad_json", f"not JSON: {str(exc)[:200]}") from None


def _object(raw: str | bytes) -> dict[Any, Any]:
    body = _json(raw)
    if not isinstance(body, dict):
        raise ChatError("bad_frame", "a frame is a JSON object with a type")
    return body


def _start(body: dict[Any, Any], max_bytes: int) -> Start:
    f = _Fields(body, {"type", "text", "name", "contact", "topic", "language", "id"})
    text = f.message("text", max_bytes)
    email = phone = None
    contact = body.get("contact")
    if contact is not None:
        if not isinstance(contact, dict):
            raise ChatError("invalid", "contact must be an object (email, phone)", "contact")
        c = _Fields(contact, {"email", "phone"}, "contact.")
        email = c.text("email", max_chars=EMAIL_CHARS)
        if email is not None and not _EMAIL.fullmatch(email):
            raise ChatError("invalid", "contact.email must be an email address", "contact.email")
        phone = c.text("phone", max_chars=32)
        if phone is not None:
            phone = _PHONE_SEPARATORS.sub("", phone)
            if not _PHONE.fullmatch(phone):
                raise ChatError(
                    "invalid",
                    "contact.phone must be an international number, e.g. +8613800138000",
                    "contact.phone",
                )
    return Start(
        text=text,
        name=f.text("name", max_chars=NAME_CHARS),
        email=email,
        phone=phone,
        topic=f.text("topic", max_chars=TOPIC_CHARS),
        language=f.matching("language", _LANGUAGE, "a language tag such as en or zh-CN", False),
        id=f.matching("id", START_ID, "16 to 64 letters, digits, - or _", False),
    )


def _send(body: dict[Any, Any], max_bytes: int) -> Send:
    f = _Fields(body, {"type", "id", "text"})
    msg_id = f.matching("id", MESSAGE_ID, "1 to 64 letters, digits or . _ : -", True)
    assert msg_id is not None
    try:
        return Send(msg_id, f.message("text", max_bytes))
    except ChatError as exc:
        exc.id = msg_id
        raise


def _resume(body: dict[Any, Any], max_bytes: int) -> Resume:
    f = _Fields(body, {"type", "conversation", "token", "after"})
    conversation = f.text("conversation", required=True, max_chars=64)
    token = f.text("token", required=True, max_chars=128)
    after = body.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_AFTER:
        raise ChatError("invalid", "after must be a whole number of at least 0", "after")
    assert conversation is not None and token is not None
    return Resume(conversation, token, after)


def _score(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ChatError("invalid", f"{field} must be a whole number from 1 to 5", field)
    return value


def _rate(body: dict[Any, Any], max_bytes: int) -> Rate:
    f = _Fields(body, {"type", "score", "dimensions", "comment"})
    if "score" not in body:
        raise ChatError("missing", "score is required", "score")
    dims = body.get("dimensions") or {}
    if not isinstance(dims, dict) or len(dims) > 16:
        raise ChatError("invalid", "dimensions must be an object of scores", "dimensions")
    scores = {str(k)[:32]: _score(v, f"dimensions.{str(k)[:32]}") for k, v in dims.items()}
    comment = f.text("comment", max_chars=2000) or ""
    return Rate(_score(body["score"], "score"), scores, comment)


def _bare(frame: Frame) -> Callable[[dict[Any, Any], int], Frame]:
    def decode(body: dict[Any, Any], max_bytes: int) -> Frame:
        _Fields(body, {"type"})
        return frame

    return decode


_DECODERS: dict[str, Callable[[dict[Any, Any], int], Frame]] = {
    "start": _start,
    "message": _send,
    "resume": _resume,
    "end": _bare(End()),
    "ping": _bare(Ping()),
    "rate": _rate,
}
TYPES = tuple(_DECODERS)


def decode(raw: str | bytes, max_text_bytes: int) -> Frame:
    """The frame in `raw`; anything else raises ChatError."""
    body = _object(raw)
    kind = body.get("type")
    if kind is None:
        raise ChatError("missing", "type is required", "type")
    if not isinstance(kind, str) or kind not in _DECODERS:
        shown = kind[:32] if isinstance(kind, str) and kind.isprintable() else "that"
        raise ChatError(
            "unknown_type", f"unknown type {shown!r}; expected one of {', '.join(TYPES)}", "type"
        )
    return _DECODERS[kind](body, max_text_bytes)


def decode_start(raw: bytes, max_text_bytes: int) -> Start:
    """A REST start body: the start frame's fields (`type` may be left out)."""
    body = _object(raw)
    if body.setdefault("type", "start") != "start":
        raise ChatError("invalid", "type must be start here (or left out)", "type")
    return _start(body, max_text_bytes)


def decode_send(raw: bytes, max_text_bytes: int) -> Send:
    """A REST message body: `id` and `text` (`type` may be left out)."""
    body = _object(raw)
    if body.setdefault("type", "message") != "message":
        raise ChatError("invalid", "type must be message here (or left out)", "type")
    return _send(body, max_text_bytes)
