"""The helpdesks' own webhooks, verified and read (POST /v1/helpdesks/{name}/webhook; the
handler is router/api/helpdesk_hooks.py). Every signature is compared in constant time
(`hmac.compare_digest`); a refusal is an ApiError naming the header or field at fault.

- Zendesk (developer.zendesk.com, "Verifying webhook authenticity"): headers
  `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret, timestamp + body)) and
  `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601, within `MAX_SKEW_S` of our clock). The
  body is a trigger's JSON, `{"ticket_id", "status", "assignee_id"}` (placeholders
  `{{ticket.id}}`, `{{ticket.status}}`, `{{ticket.assignee.id}}`), or an event subscription's
  `{"type": "zen:event-type:ticket...", "detail": {"id", "status", "assignee_id"}}`.
- Zammad (docs.zammad.org, "Webhook"): `X-Hub-Signature: sha1=<hex HMAC-SHA1(secret, body)>`;
  the body is the trigger's default payload, `{"ticket": {"id", "state", "owner_id"}, ...}`
  (no timestamp is signed: Zammad's signature cannot stop a replay).
- Chatwoot (account webhooks with a secret): `X-Chatwoot-Signature: sha256=<hex
  HMAC-SHA256(secret, "<X-Chatwoot-Timestamp>.<body>")>`, the timestamp in Unix seconds within
  `MAX_SKEW_S`; the body `{"event": "conversation_status_changed" | "conversation_updated",
  "id" (the conversation's display id), "status", "meta": {"assignee": {"id"}}}`; other events
  are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.router.http.errors import ApiError

MAX_SKEW_S = 300.0
CLOSED = {
    "zendesk": frozenset({"solved", "closed"}),
    "zammad": frozenset({"closed"}),
    "chatwoot": frozenset({"resolved"}),
}
INBOUND = frozenset(CLOSED)  # the kinds whose webhooks frontdesk reads
_CHATWOOT_EVENTS = ("conversation_status_changed", "conversation_updated")


@dataclass(frozen=True, slots=True)
class Change:
    """What a webhook says of one ticket."""

    ticket: str
    status: str  # as the helpdesk names it, lower case ('' when not said)
    assignee: int | None  # the helpdesk user assigned now (None: not said, or nobody)


def _unauthorized(message: str, header: str) -> ApiError:
    return ApiError(401, "bad_signature", message, header)


def _equal(given: str, wanted: str) -> bool:
    return hmac.compare_digest(given.encode(), wanted.encode())


def verify(kind: str, secret: str, headers: Mapping[str, str], body: bytes, now_s: float) -> None:
    """Raise ApiError 401 unless `body` was signed with `secret` as helpdesk `kind` signs."""
    key = secret.encode()
    if kind == "zendesk":
        stamp_h, sig_h = "X-Zendesk-Webhook-Signature-Timestamp", "X-Zendesk-Webhook-Signature"
        stamp, given = headers.get(stamp_h, ""), headers.get(sig_h, "")
        if not stamp or not given:
            raise _unauthorized(f"{sig_h} and {stamp_h} are required", sig_h)
        raw = hmac.new(key, stamp.encode() + body, hashlib.sha256).digest()
        if not _equal(given, base64.b64encode(raw).decode()):
            raise _unauthorized("the signature does not match the body", sig_h)
        _fresh(_iso_seconds(stamp, stamp_h), now_s, stamp_h)
    elif kind == "zammad":
        header = "X-Hub-Signature"
        given = headers.get(header, "")
        wanted = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
        if not given or not _equal(given, wanted):
            raise _unauthorized("the signature does not match the body", header)
    elif kind == "chatwoot":
        stamp_h, sig_h = "X-Chatwoot-Timestamp", "X-Chatwoot-Signature"
        stamp, given = headers.get(stamp_h, ""), headers.get(sig_h, "")
        if not stamp or not given:
            raise _unauthorized(f"{sig_h} and {stamp_h} are required", sig_h)
        mac = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256)
        if not _equal(given, "sha256=" + mac.hexdigest()):
            raise _unauthorized("the signature does not match the body", sig_h)
        if not stamp.isdigit():
            raise _unauthorized("the timestamp is not Unix seconds", stamp_h)
        _fresh(float(stamp), now_s, stamp_h)
    else:  # config.py refuses a webhook secret for any other kind
        raise ApiError(404, "not_found", f"a {kind} helpdesk sends no webhooks here")


def _iso_seconds(stamp: str, header: str) -> float:
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise _unauthorized("the timestamp is not ISO 8601", header) from None
    if at.tzinfo is None:
        raise _unauthorized("the timestamp has no time zone", header)
    return at.timestamp()


def _fresh(stamp_s: float, now_s: float, header: str) -> None:
    if abs(now_s - stamp_s) > MAX_SKEW_S:
        raise _unauthorized(
            f"the signed timestamp is more than {MAX_SKEW_S:g}s from now (a replay?)", header
        )


def read(kind: str, body: bytes) -> Change | None:
    """The change a verified webhook announces; None for an event that changes nothing here.
    A malformed body raises ApiError 400 naming the field."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "invalid", "the body is not JSON", "body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid", "the body must be a JSON object", "body")
    if kind == "zendesk":
        if isinstance(data.get("detail"), dict):
            d, prefix = data["detail"], "detail."
            ticket = _id(d.get("id"), "detail.id")
        else:
            d, prefix = data, ""
            ticket = _id(d.get("ticket_id"), "ticket_id")
        return Change(ticket, _status(d.get("status"), prefix + "status"),
                      _user(d.get("assignee_id"), prefix + "assignee_id"))  # fmt: skip
    if kind == "zammad":
        t = data.get("ticket")
        if not isinstance(t, dict):
            raise ApiError(400, "invalid", "ticket must be an object", "ticket")
        state = t.get("state")
        if isinstance(state, dict):  # a payload template may give the state object
            state = state.get("name")
        return Change(_id(t.get("id"), "ticket.id"), _status(state, "ticket.state"),
                      _user(t.get("owner_id"), "ticket.owner_id"))  # fmt: skip
    event = data.get("event")
    if not isinstance(event, str):
        raise ApiError(400, "invalid", "event must be a string", "event")
    if event not in _CHATWOOT_EVENTS:
        return None
    meta = data.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    assignee = meta.get("assignee")
    assignee = assignee if isinstance(assignee, dict) else {}
    return Change(_id(data.get("id"), "id"), _status(data.get("status"), "status"),
                  _user(assignee.get("id"), "meta.assignee.id"))  # fmt: skip


def _id(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise ApiError(400, "invalid", f"{name} must name the ticket", name)
    found = str(value).strip()
    if len(found) > 64:
        raise ApiError(400, "invalid", f"{name} is longer than 64 characters", name)
    return found


def _status(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 64:
        raise ApiError(400, "invalid", f"{name} must be a status name", name)
    return value.strip().lower()


def _user(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(400, "invalid", f"{name} must be a user id", name)
    return value
