"""Phone callback requests (config key `phone`).

    POST /v1/callbacks                      an IVR or telephony platform's webhook (signed)
    GET /v1/customers/by-phone/{number}     a caller's requests, open ones first (bearer token)

The webhook body is JSON or form-encoded, our own fields

    {"number": "+86 138 0013 8000", "name": "...", "reason": "...", "language": "zh",
     "window": {"from": "2026-11-24T14:00+08:00", "to": "2026-11-24T16:00+08:00"},
     "id": "call-123", "to": "+864008000000", "attributes": {"impact": "many-users"}}

(`window` may also be "14:00-16:00": the next such window not yet over, in the working hours'
timezone) or Twilio's (`From`, `To`, `CallSid`, `CallerName`; Twilio's other fields are ignored).
It is signed with the configured secret over a timestamp and the body, as the generic webhook is
(`signature: timestamped`, the default):

    X-Frontdesk-Timestamp: 1767225600                    (Unix seconds)
    X-Frontdesk-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A timestamp further than `tolerance` (5m) from our clock is refused (401), and within it the same
signed body twice is one request (a body without an `id` is keyed by its signature), so a captured
callback cannot be replayed. `signature: legacy` accepts what IVRs signed before, the HMAC of the
raw body alone, with no such protection (a warning says so at start).

A second callback request from a number whose callback is still open joins that one.

What a callback's fields say, and the Request it becomes, is channels/callback.py; this module
is the channel: its config, the signature check, the two routes and their API description.
A callback is eligible for routing inside its window and the working hours (the pure functions of
`router/routing/callbacks.py` that the dispatcher and the simulator call).

    channels:
      phone:
        secret: "at least 16 characters"
        default_country: "86"
        working_hours: desk         # a calendar of `calendars:`, holidays and all, or inline:
        # working_hours: {timezone: Asia/Shanghai, days: mon-fri, hours: "08:30-18:00"}
        max_body: 16KB
        signature: timestamped      # or legacy
        tolerance: 5m
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from aiohttp import web

from frontdesk.channels.base import ChannelContext, Inbound, RoutesOnly
from frontdesk.channels.callback import LIMITS, callback_fields, form_window
from frontdesk.channels.fields import (
    check_country,
    check_size,
    invalid,
    media_type,
    parse_body,
    phone_field,
)
from frontdesk.channels.social.generic import TIMESTAMP_HEADER, fresh, sign
from frontdesk.queues.states import OPEN_STATES
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.hours import parse_working_hours
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.http.auth import Scope, principal, public
from frontdesk.router.http.body import read_body
from frontdesk.router.http.errors import Refusal, retry_after
from frontdesk.router.http.openapi import json_content, operation
from frontdesk.router.http.views import describe, status_path

log = logging.getLogger("frontdesk.phone")

SIGNATURE_HEADER = "X-Frontdesk-Signature"
SIGNATURES = ("timestamped", "legacy")
DEFAULT_TOLERANCE_S = 300.0
MAX_TOLERANCE_S = 3600.0
REPLAY_PREFIX = "signed:"  # the external id of a signed body that has no `id` of its own
DEFAULT_MAX_BODY = 16 * 1024
MAX_BODY_LIMIT = 1024 * 1024
MIN_SECRET = 16


# -- config ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PhoneSettings:
    secret: str = dataclasses.field(repr=False)
    default_country: str | None = None
    working_hours: Calendar | str | None = None  # a str names a calendar, until it is resolved
    max_body: int = DEFAULT_MAX_BODY
    signature: str = "timestamped"  # or "legacy": the HMAC of the body alone, replayable
    tolerance_s: float = DEFAULT_TOLERANCE_S  # how far a signed timestamp may be from our clock

    @property
    def zone(self) -> tzinfo:
        """Where a time-of-day window is read: the working hours' timezone, else UTC."""
        hours = self.working_hours
        return hours.zone if isinstance(hours, Calendar) else UTC


def parse_config(check: Checker, raw: object, path: Path, queues: set[str]) -> PhoneSettings | None:
    c = check.mapping(
        path, raw,
        ["secret", "default_country", "working_hours", "max_body", "signature", "tolerance"],
    )  # fmt: skip
    secret = check.string((*path, "secret"), c.get("secret"))
    if secret is not None and len(secret) < MIN_SECRET:
        check.error((*path, "secret"), f"must be at least {MIN_SECRET} characters long")
        secret = None
    country = None
    if c.get("default_country") is not None:
        country = check_country(check, (*path, "default_country"), c["default_country"])
    hours = None
    if "working_hours" in c:
        hours = parse_working_hours(check, (*path, "working_hours"), c["working_hours"])
    max_body = check_size(
        check, (*path, "max_body"), c.get("max_body", DEFAULT_MAX_BODY), 1024, MAX_BODY_LIMIT
    )
    scheme = check.choice((*path, "signature"), c.get("signature", SIGNATURES[0]), SIGNATURES)
    tolerance = check.duration((*path, "tolerance"), c.get("tolerance", DEFAULT_TOLERANCE_S))
    if tolerance is not None and not 1 <= tolerance <= MAX_TOLERANCE_S:
        check.error((*path, "tolerance"), f"must be from 1s to {MAX_TOLERANCE_S / 60:.0f}m")
        tolerance = None
    if secret is None or max_body is None or scheme is None or tolerance is None:
        return None
    return PhoneSettings(secret, country, hours, max_body, scheme, tolerance)


def create(settings: PhoneSettings, context: ChannelContext) -> PhoneChannel:
    if settings.signature == "legacy":
        log.warning(
            "channels.phone.signature is legacy: a captured callback can be replayed; "
            "have the IVR sign %s and switch to timestamped", TIMESTAMP_HEADER,
        )  # fmt: skip
    return PhoneChannel(settings, context)


# -- runtime --------------------------------------------------------------------------------------
def signature(secret: str, body: bytes) -> str:
    """The legacy X-Frontdesk-Signature value for `body` (`signature: legacy`)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers an IVR sends with `body` (`signature: timestamped`)."""
    stamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}


def _signed(secret: str, body: bytes, presented: str | None) -> bool:
    """Constant-time check of `sha256=<hex>` (or the bare hex) against the body's HMAC."""
    if not presented:
        return False
    given = presented.strip()
    given = given if given.lower().startswith("sha256=") else f"sha256={given}"
    wanted = signature(secret, body)
    return hmac.compare_digest(wanted.encode(), given.lower().encode("utf-8", "replace"))


class PhoneChannel(RoutesOnly[PhoneSettings]):
    """The callback webhook and the caller lookup on the daemon's HTTP listener."""

    name = "phone"

    def openapi_paths(self) -> dict[str, Any]:
        return OPENAPI_PATHS

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/callbacks", public(self.callback)),
            web.get("/v1/customers/by-phone/{number}", self.by_phone),
        ]

    def _authentic(self, request: web.Request, raw: bytes) -> str | None:
        """Refuse a body that is not signed as configured (401 naming the header at fault);
        for a timestamped one, the key that makes the same signed body one request."""
        s = self.settings
        presented = request.headers.get(SIGNATURE_HEADER)
        if s.signature == "legacy":
            if not _signed(s.secret, raw, presented):
                message = f"{SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of the body>"
                raise Refusal(401, "unauthorized", message, SIGNATURE_HEADER)
            return None
        stamp = request.headers.get(TIMESTAMP_HEADER)
        if not stamp:
            message = f"{TIMESTAMP_HEADER} (Unix seconds, signed with the body) is required"
            raise Refusal(401, "unauthorized", message, TIMESTAMP_HEADER)
        expected = sign(s.secret, stamp, raw)
        given = (presented or "").strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            message = f'{SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">'
            raise Refusal(401, "unauthorized", message, SIGNATURE_HEADER)
        if not fresh(stamp, time.time(), s.tolerance_s):
            message = f"the timestamp is more than {s.tolerance_s:.0f}s from our clock"
            raise Refusal(401, "stale_timestamp", message, TIMESTAMP_HEADER)
        return REPLAY_PREFIX + expected.removeprefix("sha256=")[:40]

    async def callback(self, request: web.Request) -> web.StreamResponse:
        kind = media_type(request)
        raw = await read_body(request, self.settings.max_body)
        replay_key = self._authentic(request, raw)
        data = parse_body(kind, raw)
        if kind != "application/json" and not any(k in data for k in ("From", "CallSid")):
            data = form_window(data)
        now = datetime.now(UTC)
        hours = self.settings.working_hours
        hours = hours if isinstance(hours, Calendar) else None
        fits = (lambda a, b: hours.meets(a, b, now)) if hours is not None else None
        found = callback_fields(data, self.settings, now, fits)
        if found.external_id is None and replay_key is not None:
            found = dataclasses.replace(found, external_id=replay_key)  # a replay is a duplicate
        inbound = found.request(now)
        if found.window is not None and hours is not None and not hours.meets(*found.window, now):
            invalid("window", f"never meets the working hours ({hours.describe()})")
        receipt = await self.context.receive(
            Inbound(inbound, join_open=True, admit=(found.number, None))  # counted in the call
        )
        if receipt.retry_after is not None:
            raise Refusal(
                429, "rate_limited", "too many callback requests from this number",
                headers={"Retry-After": retry_after(receipt.retry_after)},
            )  # fmt: skip
        outcome = "created" if receipt.created else "joined" if receipt.appended else "duplicate"
        return web.json_response(
            {
                "id": receipt.request_id,
                "outcome": outcome,
                "status_token": receipt.status_token,
                "status_url": status_path(receipt.request_id, receipt.status_token),
            },
            status=201 if receipt.created else 200,
        )

    async def by_phone(self, request: web.Request) -> web.StreamResponse:
        principal(request, Scope.AGENT, Scope.INTEGRATION, Scope.SUPERVISOR)
        text = request.match_info["number"]
        if len(text) > LIMITS["number"]:
            invalid("number", f"is longer than {LIMITS['number']} characters")
        number = phone_field("number", text, self.settings.default_country)
        customers = self.context.customers
        customer_id = await customers.find(f"phone:{number}")
        record = await customers.get(customer_id) if customer_id else None
        if customer_id is None or record is None:
            raise Refusal(404, "not_found", f"no customer calls from {number}", "number")
        listed = []
        for r in await customers.requests(customer_id):
            d = describe(r)
            keep = ("id", "state", "channel", "queue", "priority", "category", "subject")
            listed.append(
                {k: d[k] for k in keep}
                | {"open": r.state in OPEN_STATES, "agent": d["agent"]}
                | {"enqueued_at": d["enqueued_at"]}
            )
        return web.json_response(
            {
                "customer": {
                    "id": record.id,
                    "name": record.name or None,
                    "addresses": sorted(record.addresses),
                },
                "requests": listed,
            }
        )


# -- the API description --------------------------------------------------------------------------
_TEXT: dict[str, Any] = {"type": "string"}
_CALLBACK_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["number"],
    "additionalProperties": False,
    "description": "Form-encoded posts may use these fields (window as window_from and "
    "window_to, attributes as attributes[NAME]) or Twilio's From, To, CallSid, CallerName.",
    "properties": {
        "number": {"type": "string", "description": "the caller's number, any common spelling"},
        "name": {"type": "string", "maxLength": LIMITS["name"]},
        "reason": {"type": "string", "maxLength": LIMITS["reason"]},
        "language": _TEXT,
        "window": {
            "oneOf": [
                {"type": "string", "description": "HH:MM-HH:MM, the next such window"},
                {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "format": "date-time"},
                        "to": {"type": "string", "format": "date-time"},
                    },
                },
            ]
        },
        "id": {"type": "string", "description": "the platform's call id: retries are one request"},
        "to": {"type": "string", "description": "the number dialled (entry point phone:<to>)"},
        "attributes": {"type": "object", "additionalProperties": True},
        "email": {"type": "string", "format": "email", "description": "for notices by email"},
    },
}
_RECEIPT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "outcome", "status_token", "status_url"],
    "properties": {
        "id": _TEXT,
        "outcome": {"enum": ["created", "joined", "duplicate"]},
        "status_token": _TEXT,
        "status_url": _TEXT,
    },
}


def _post_callback() -> dict[str, Any]:
    op = operation(
        "An IVR or telephony platform asks for a callback (signed with the shared secret)",
        "postCallback",
        json_content("Joined the caller's open callback, or seen before", _RECEIPT),
        errors=(400, 401, 413, 415, 429),
        secured=False,
    )
    op["responses"]["201"] = json_content("Created", _RECEIPT)
    op["parameters"] = [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "schema": _TEXT,
            "description": 'sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret> '
            "(signature: legacy: of the raw body alone)",
        },
        {
            "name": TIMESTAMP_HEADER,
            "in": "header",
            "required": False,
            "schema": _TEXT,
            "description": "Unix seconds, within the configured tolerance of our clock; "
            "required unless signature is legacy",
        },
    ]
    op["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": _CALLBACK_BODY},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
    }
    return op


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/callbacks": {"post": _post_callback()},
    "/v1/customers/by-phone/{number}": {
        "get": operation(
            "A caller recognized by number: the customer and their requests, open ones first",
            "getCustomerByPhone",
            json_content("The customer and their requests", {"type": "object"}),
            path_params=("number",),
            errors=(400, 404),
        )
    },
}
