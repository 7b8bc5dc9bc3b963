"""The one normalized request that every channel produces, and its msgpack codec."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import msgpack

from .errors import DecodeError, EncodeError

SCHEMA_VERSION = 1

Scalar = str | int | float | bool | None

# a phone callback request's attributes: it is one, and its window [from, until) in Unix seconds
CALLBACK, FROM, UNTIL = "callback", "callback_from", "callback_until"


class Channel(StrEnum):
    """How the customer reached us; agents' capacity is counted per channel."""

    EMAIL = "email"
    CHAT = "chat"
    PHONE = "phone"
    SOCIAL = "social"
    FORM = "form"


class Priority(StrEnum):
    """Urgency and impact; the band orders a queue (lower band first)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def band(self) -> int:
        return _BANDS[self]

    def boosted(self, steps: int = 1) -> Priority:
        """This priority raised by `steps` bands, never past high."""
        return _BY_BAND[max(0, self.band - steps)]


_BANDS = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}
_BY_BAND = {band: p for p, band in _BANDS.items()}


@dataclass(frozen=True, slots=True)
class Customer:
    """Who asked, with every address we know them by."""

    id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164, e.g. +8613800138000
    handles: dict[str, str] = field(default_factory=dict)  # platform -> handle
    # the kinds of address ("email", "phone") the customer typed and the channel did not prove:
    # kept as claimed, they never find the customer who proved them, raise no priority
    claimed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of one attachment; the content lives elsewhere (bounded) under `ref`."""

    filename: str
    content_type: str
    size: int
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class SkillRequirement:
    """A skill the request needs, at a minimum proficiency (1-5)."""

    name: str
    min_level: int = 1
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """A follow-up message appended to an open request."""

    body: str
    author: str = "customer"
    external_id: str | None = None
    received_at: float = 0.0
    attachments: tuple[Attachment, ...] = ()
    auto: str | None = None  # sent by a robot (an auto-reply, list mail): why; None a person


@dataclass(frozen=True, slots=True)
class Request:
    """A customer's request, the same shape whatever channel it came from."""

    id: str
    channel: Channel
    queue: str
    external_id: str | None = None
    entry_point: str | None = None  # recipient address, platform, form id
    customer: Customer = field(default_factory=Customer)
    subject: str = ""
    body: str = ""
    language: str | None = None
    attachments: tuple[Attachment, ...] = ()
    category: str | None = None
    priority: Priority = Priority.MEDIUM
    skills: tuple[SkillRequirement, ...] = ()
    tier: int = 1
    preferred_agent: str | None = None
    received_at: float = 0.0
    enqueued_at: float | None = None
    attributes: dict[str, Scalar] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str | None:
        """channel:external id, the identity of the external message (None: never deduplicated)."""
        return f"{self.channel.value}:{self.external_id}" if self.external_id else None

    def encode(self) -> bytes:
        return encode(self)

    @classmethod
    def decode(cls, raw: bytes) -> Request:
        return decode_request(raw)


def check_text(value: Request | Message) -> None:
    """Every string in a request or message encodes as UTF-8, else EncodeError naming the first
    field that does not (`customer.name`, `attributes.order`). The front door checks what a
    channel hands it before anything of it is stored; `encode` names the field for anything
    else (msgpack and Redis could not keep it)."""
    todo: list[tuple[Any, str]] = [(value, "")]
    while todo:
        item, path = todo.pop()
        if isinstance(item, str):
            if not is_text(item):
                raise EncodeError(path)
        elif isinstance(item, _RECORDS):
            prefix = f"{path}." if path else ""
            todo += [(getattr(item, name), prefix + name) for name in _names(type(item))]
        elif isinstance(item, tuple | list):
            todo += [(v, f"{path}[{i}]") for i, v in enumerate(item)]
        elif isinstance(item, dict):
            for key, v in item.items():
                if isinstance(key, str) and not is_text(key):
                    raise EncodeError(f"{path}.(name)")
                todo.append((v, f"{path}.{key}"))


_TEXT_FIELDS: dict[type, tuple[str, ...]] = {}
_NOT_TEXT = {"channel", "priority", "received_at", "enqueued_at", "tier", "size", "min_level"}


def _names(kind: type) -> tuple[str, ...]:
    """The fields of a record that can hold text (enums, numbers and flags cannot)."""
    if (names := _TEXT_FIELDS.get(kind)) is None:
        fields = dataclasses.fields(kind)
        names = _TEXT_FIELDS[kind] = tuple(f.name for f in fields if f.name not in _NOT_TEXT)
    return names


_RECORDS = (Request, Message, Customer, Attachment, SkillRequirement)


def is_text(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (no lone surrogates, as `\\ud800` in JSON or bytes that are
    not UTF-8 decoded with surrogateescape leave)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def encode(obj: Request | Message) -> bytes:
    """msgpack bytes of a request or message, with the schema version."""
    body = _plain(obj)
    body["v"] = SCHEMA_VERSION
    try:
        return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]
    except UnicodeEncodeError as exc:
        check_text(obj)  # names the field
        raise EncodeError("text") from exc


def _unpack(raw: bytes, what: str) -> dict[str, Any]:
    try:
        body = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:
        raise DecodeError(what, raw, exc) from exc
    if not isinstance(body, dict):
        raise DecodeError(what, raw, TypeError(f"expected a map, got {type(body).__name__}"))
    version = body.pop("v", None)
    if version != SCHEMA_VERSION:
        raise DecodeError(what, raw, ValueError(f"unknown schema version {version!r}"))
    return body


def _attachments(items: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    return tuple(Attachment(**a) for a in items)


def _customer(body: dict[str, Any]) -> Customer:
    return Customer(**{**body, "claimed": tuple(body.get("claimed") or ())})


def decode_request(raw: bytes) -> Request:
    """The request in `raw`; any failure raises DecodeError keeping the raw bytes."""
    body = _unpack(raw, "request")
    try:
        return Request(
            **{
                **body,
                "channel": Channel(body["channel"]),
                "priority": Priority(body["priority"]),
                "customer": _customer(body["customer"]),
                "attachments": _attachments(body["attachments"]),
                "skills": tuple(SkillRequirement(**s) for s in body["skills"]),
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError("request", raw, exc) from exc


def decode_message(raw: bytes) -> Message:
    """The follow-up message in `raw`; any failure raises DecodeError keeping the raw bytes."""
    body = _unpack(raw, "message")
    try:
        return Message(**{**body, "attachments": _attachments(body["attachments"])})
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError("message", raw, exc) from exc
