"""What a phone callback request says (channels/phone.py takes it in): its fields checked, ours
or Twilio's, JSON or form-encoded (a window as window_from / window_to, attributes as
attributes[NAME]); its window, "HH:MM-HH:MM" or {"from", "to"}, read as UTC datetimes; and the
Request it becomes, with the window in the callback attributes the dispatcher reads
(router/routing/callbacks.py). A refusal names the field as it was sent (400)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as clock
from typing import Any, Protocol

from frontdesk.channels.fields import (
    attributes_field,
    email_address,
    form_attributes,
    invalid,
    language_tag,
    phone_field,
    refuse_unknown,
    text_field,
)
from frontdesk.queues.request import CALLBACK, FROM, UNTIL, Channel, Customer, Request, Scalar
from frontdesk.router.conf.hours import DAY_S, utc, window

MAX_AHEAD = timedelta(days=30)  # a window may start at most this far ahead
RESERVED = frozenset({CALLBACK, FROM, UNTIL})
FIELDS = {"number", "name", "reason", "language", "window", "id", "to", "attributes", "email"}
FORM_WINDOW = ("window_from", "window_to")  # a form-encoded window as two fields
LIMITS = {"number": 40, "name": 200, "reason": 2000, "subject": 100}
_TWILIO = {"From": "number", "To": "to", "CallSid": "id", "CallerName": "name"}
_ID = re.compile(r"[\x21-\x7e]{1,128}")
_TIME_OF_DAY_WINDOW = re.compile(r"\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*")


class Reading(Protocol):
    """What reading a callback needs of the channel's settings (PhoneSettings has both)."""

    @property
    def default_country(self) -> str | None:
        """The calling code of a number written without one."""
        ...

    @property
    def zone(self) -> tzinfo:
        """Where a time-of-day window, or a datetime without an offset, is read."""
        ...


Fits = Callable[[datetime, datetime], bool]
WINDOW_DAYS_AHEAD = 14  # a time-of-day window is looked for up to two weeks ahead


def parse_window(
    value: object, now: datetime, zone: tzinfo, fits: Fits | None = None
) -> tuple[datetime, datetime | None]:
    """A callback window [from, until) as UTC datetimes; ValueError says what is wrong.

    `"HH:MM-HH:MM"`: the next such window (in `zone`) that is not over yet and `fits` (meets
    the desk's working hours: "14:00-16:00" sent on a Saturday is Monday's), crossing midnight
    when the end is before the start; with none that fits in two weeks, the next one.
    `{"from": ISO, "to": ISO}`: ISO 8601 datetimes, without an offset read in `zone`; either
    may be left out (from: now, to: open-ended)."""
    now = utc(now)
    if isinstance(value, str):
        parsed = window(value) if _TIME_OF_DAY_WINDOW.fullmatch(value) else value
        if isinstance(parsed, str):
            raise ValueError(f"{value[:40]!r} is not a time window such as 14:00-16:00")
        start_s, end_s = parsed
        length = (end_s - start_s) % DAY_S or DAY_S
        today = now.astimezone(zone).date()
        first: tuple[datetime, datetime] | None = None
        for n in range(-1, WINDOW_DAYS_AHEAD + 1):
            midnight = datetime.combine(today + timedelta(days=n), clock())
            start = (midnight + timedelta(seconds=start_s)).replace(tzinfo=zone).astimezone(UTC)
            end = (midnight + timedelta(seconds=start_s + length)).replace(tzinfo=zone)
            if end.astimezone(UTC) > now:
                first = first or (start, end.astimezone(UTC))
                if fits is None or fits(start, end.astimezone(UTC)):
                    return start, end.astimezone(UTC)
        assert first is not None, "tomorrow's window always ends after now"
        return first
    if not isinstance(value, dict):
        raise ValueError('must be "HH:MM-HH:MM" or {"from": ..., "to": ...}')
    unknown = sorted(set(value) - {"from", "to"})
    if unknown:
        raise ValueError(f"{unknown[0][:40]!r} is not a key of a window; use from and to")
    start = _iso(value.get("from"), "from", zone) or now
    until = _iso(value.get("to"), "to", zone)
    if until is not None and until <= now:
        raise ValueError("has already ended")
    if until is not None and until <= start:
        raise ValueError("to must be after from")
    if start > now + MAX_AHEAD:
        raise ValueError(f"starts more than {MAX_AHEAD.days} days ahead")
    return start, until


def _iso(value: object, key: str, zone: tzinfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"{key} must be an ISO 8601 datetime such as 2026-11-24T14:00+08:00")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{key}: {value!r} is not an ISO 8601 datetime such as 2026-11-24T14:00+08:00"
        ) from None
    if parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{key}: {value!r} is out of range") from None


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback request's checked fields."""

    number: str
    name: str | None
    reason: str
    language: str | None
    window: tuple[datetime, datetime | None] | None
    external_id: str | None
    to: str | None
    attributes: dict[str, Scalar]
    email: str | None = None  # the caller's address, for notices by email (optional)

    @property
    def subject(self) -> str:
        """The reason's first line (shortened), as an agent's list shows it."""
        return self.reason.partition("\n")[0].strip()[: LIMITS["subject"]]

    @property
    def body(self) -> str:
        """The rest of the reason, or all of it when the first line was shortened."""
        first, _, rest = self.reason.partition("\n")
        return rest.strip() if len(first.strip()) <= LIMITS["subject"] else self.reason

    def request(self, now: datetime) -> Request:
        attributes: dict[str, Scalar] = {**self.attributes, CALLBACK: True}
        if self.window is not None:
            start, until = self.window
            attributes[FROM] = int(start.timestamp())
            if until is not None:
                attributes[UNTIL] = math.ceil(until.timestamp())
        return Request(
            id="",
            channel=Channel.PHONE,
            queue="",
            external_id=self.external_id,
            entry_point=f"phone:{self.to}" if self.to else "phone:callback",
            customer=Customer(name=self.name, phone=self.number, email=self.email),
            subject=self.subject,
            body=self.body,
            language=self.language,
            received_at=now.timestamp(),
            attributes=attributes,
        )


def callback_fields(
    data: dict[str, Any], settings: Reading, now: datetime, fits: Fits | None = None
) -> Callback:
    """The fields of a callback webhook, each checked; a refusal names the field (as sent).
    A time-of-day window is the next one that `fits` (the working hours)."""
    names = {field: field for field in FIELDS}
    if any(k in data for k in ("From", "CallSid")):  # Twilio's fields; the rest are ignored
        data = {mine: data[theirs] for theirs, mine in _TWILIO.items() if theirs in data}
        names |= {mine: theirs for theirs, mine in _TWILIO.items()}
    refuse_unknown(data, FIELDS)
    number = text_field(data, "number", LIMITS["number"], required=True) or ""
    to = text_field(data, "to", LIMITS["number"])
    name = text_field(data, "name", LIMITS["name"])
    reason = text_field(data, "reason", LIMITS["reason"], multiline=True) or ""
    language = text_field(data, "language", 35)
    external_id = text_field(data, "id", 128)
    email = text_field(data, "email", 254)
    if external_id is not None and not _ID.fullmatch(external_id):
        invalid(names["id"], "must be 1 to 128 printable ASCII characters, no spaces")
    window = None
    if data.get("window") is not None:
        try:
            window = parse_window(data["window"], now, settings.zone, fits)
        except ValueError as exc:
            invalid("window", str(exc))
    return Callback(
        number=phone_field(names["number"], number, settings.default_country),
        name=name,
        reason=reason,
        language=language_tag("language", language) if language is not None else None,
        window=window,
        external_id=external_id,
        to=phone_field(names["to"], to, settings.default_country) if to is not None else None,
        attributes=attributes_field("attributes", data.get("attributes"), RESERVED),
        email=email_address("email", email) if email is not None else None,
    )


def form_window(data: dict[str, Any]) -> dict[str, Any]:
    """A form-encoded body's window_from / window_to fields as one `window`."""
    parts = {key: data.pop(key) for key in FORM_WINDOW if key in data}
    if parts:
        if "window" in data:
            invalid("window", "give window, or window_from and window_to, not both")
        data["window"] = {key.removeprefix("window_"): v for key, v in parts.items() if v}
    attributes = form_attributes(data)
    if attributes:
        data = {k: v for k, v in data.items() if not k.startswith("attributes[")}
        data["attributes"] = attributes
    return data
