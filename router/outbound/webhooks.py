"""Signed webhooks out: each event as a CloudEvents 1.0 JSON document (structured content mode)
POSTed to the configured endpoints, signed with the endpoint's secret:

    Content-Type: application/cloudevents+json
    X-Frontdesk-Timestamp: <unix seconds>
    X-Frontdesk-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

A receiver checks both with `verify_signature` and deduplicates on the CloudEvent `id` (the
event's stream entry id: the same on every retry). 2xx is delivered; 408, 429, 5xx, timeouts and
connection errors are retried (Retry-After honoured); any other status is not: the event goes to
the dead letters at once.
"""

from __future__ import annotations

import email.utils
import fnmatch
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.store import RequestRecord
from frontdesk.router import __version__
from frontdesk.router.conf.yaml import Checker, Path, render
from frontdesk.router.http.views import describe
from frontdesk.router.outbound.outbox import Policy, Target
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable

CONTENT_TYPE = "application/cloudevents+json"
TIMESTAMP_HEADER = "X-Frontdesk-Timestamp"
SIGNATURE_HEADER = "X-Frontdesk-Signature"
TYPE_PREFIX = "io.frontdesk."
MIN_SECRET_LENGTH = 16
MAX_TIMEOUT_S = 60.0
LEASE_MARGIN_S = 30.0  # a delivery's lease outlasts its timeout by this much
DEFAULT_TOLERANCE_S = 300.0
NAME = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"  # as router.config.NAME
_ERROR_SNIPPET = 200

_NOT_REQUEST = {
    EventType.AGENT_CREATED: "agent.created",
    EventType.AGENT_UPDATED: "agent.updated",
    EventType.PRESENCE: "agent.presence",
    EventType.CUSTOMER_CREATED: "customer.created",
    EventType.CUSTOMER_UPDATED: "customer.updated",
    EventType.CUSTOMER_LINKED: "customer.linked",
    EventType.CUSTOMER_MERGED: "customer.merged",
    EventType.SLA_WARNING: "sla.warning",
    EventType.SLA_BREACHED: "sla.breached",
    EventType.SLA_MET: "sla.met",
    EventType.CUSTOMER_LISTED: "customer.listed",
    EventType.CUSTOMER_UNLISTED: "customer.unlisted",
    EventType.FEEDBACK: "request.feedback",
    EventType.FOLLOW_UP: "request.follow_up",
    EventType.AUTO_REPLY_DROPPED: "mail.auto_reply_dropped",
    EventType.QUALITY_SAMPLED: "quality.sampled",
    EventType.REVIEW_SUBMITTED: "review.submitted",
}
_AGENT_EVENTS = frozenset({EventType.AGENT_CREATED, EventType.AGENT_UPDATED, EventType.PRESENCE})
_JSON_FIELDS = frozenset({"why", "scores"})
_INT_FIELDS = frozenset({"deadline", "tier", "size", "closed"})


def cloudevent_type(event_type: EventType) -> str:
    """`io.frontdesk.request.enqueued`, `io.frontdesk.agent.presence`, ..."""
    return TYPE_PREFIX + _NOT_REQUEST.get(event_type, f"request.{event_type.value}")


CLOUDEVENT_TYPES = tuple(cloudevent_type(t) for t in EventType)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """One configured receiver (`events.webhooks[]`)."""

    name: str
    url: str
    secret: str = field(repr=False)
    types: tuple[str, ...] = ()  # globs over CloudEvent types; empty: every event
    timeout_s: float = 5.0
    max_attempts: int = 12

    def wants_type(self, ce_type: str) -> bool:
        return not self.types or any(fnmatch.fnmatchcase(ce_type, g) for g in self.types)


# -- signatures --------------------------------------------------------------------------------
def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The X-Frontdesk-Signature value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(_key(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | None,
    body: bytes,
    header: str | None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `header` (X-Frontdesk-Signature) signs `body` with `secret` at `timestamp`
    (X-Frontdesk-Timestamp), and that timestamp is within `tolerance_s` of now (a replayed old
    delivery is refused). Compared in constant time. For receivers."""
    if (
        not timestamp
        or not header
        or not (timestamp.isascii() and timestamp.isdigit())
        or len(timestamp) > 12
    ):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), header.strip().encode())


# -- the CloudEvent ----------------------------------------------------------------------------
def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    when = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


def _field(name: str, value: str) -> Any:
    if name in _JSON_FIELDS and value:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_FIELDS and value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    return value


_SUMMARY = ("id", "state", "queue", "channel", "priority", "tier", "category", "agent",
            "subject", "enqueued_at", "resolution")  # fmt: skip


def request_summary(record: RequestRecord) -> dict[str, Any]:
    """The request as it stands when the event is delivered: the API's view, compact."""
    view = describe(record)
    customer = record.request.customer
    return {k: view[k] for k in _SUMMARY} | {"customer": {"id": customer.id, "name": customer.name}}


async def summarize(event: Event, context: DeliveryContext) -> dict[str, Any] | None:
    """A compact summary of the event's request (or agent), read when it is delivered."""
    if event.request:
        record = await context.store.get(event.request)
        return request_summary(record) if record is not None else None
    if event.agent and event.type in _AGENT_EVENTS:
        agent = await context.agents.get(event.agent)
        if agent is None:
            return None
        return {
            "id": agent.id,
            "name": agent.name,
            "tier": agent.tier,
            "groups": list(agent.groups),
            "presence": agent.presence.value,
        }
    return None


def cloudevent(event: Event, tenant: str, summary: dict[str, Any] | None) -> dict[str, Any]:
    """The CloudEvents 1.0 document for `event` (JSON event format)."""
    ce_type = cloudevent_type(event.type)
    if event.request:
        subject = event.request
    elif ".customer." in ce_type:
        subject = event.data.get("customer", "")
    elif event.type is EventType.QUALITY_SAMPLED:
        subject = event.data.get("day", "")
    else:
        subject = event.agent
    data: dict[str, Any] = {
        "request": event.request or None,
        "agent": event.agent or None,
        "queue": event.queue or None,
        **{name: _field(name, value) for name, value in event.data.items()},
        "summary": summary,
    }
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": f"frontdesk/{tenant}",
        "type": ce_type,
        "subject": subject,
        "time": _iso(event.ts_ms),
        "datacontenttype": "application/json",
        "data": data,
    }


def retry_after_s(value: str | None, now: float) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


# -- the sink ----------------------------------------------------------------------------------
class WebhookSink:
    """POSTs events to one endpoint; a Sink for the outbox engine."""

    def __init__(
        self, endpoint: WebhookEndpoint, tenant: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.tenant = tenant
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def wants(self, event: Event) -> bool:
        return self.endpoint.wants_type(cloudevent_type(event.type))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": f"frontdesk/{__version__}"}
            )
        return self._session

    async def deliver(self, event: Event, context: DeliveryContext) -> None:
        document = cloudevent(event, self.tenant, await summarize(event, context))
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": CONTENT_TYPE,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.endpoint.secret, timestamp, body),
        }
        url = self.endpoint.url
        timeout = aiohttp.ClientTimeout(total=self.endpoint.timeout_s)
        try:
            async with self._http().post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return
                snippet = (await response.content.read(_ERROR_SNIPPET)).decode(errors="replace")
                after = retry_after_s(response.headers.get("Retry-After"), self._clock())
                location = response.headers.get("Location", "")
        except TimeoutError as exc:
            raise RetryLater(f"no answer from {url} within {self.endpoint.timeout_s}s") from exc
        except aiohttp.ClientError as exc:
            raise RetryLater(f"{url}: {exc!r}") from exc
        reason = f"HTTP {status} from {url}" + (f": {snippet.strip()}" if snippet.strip() else "")
        if status in (408, 429) or status >= 500:
            raise RetryLater(reason, after)
        if 300 <= status < 400:
            raise Undeliverable(f"{reason} (redirect to {location!r} not followed)")
        raise Undeliverable(reason)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def webhook_targets(endpoints: Sequence[WebhookEndpoint], tenant: str) -> list[Target]:
    """The outbox targets for the configured endpoints."""
    return [
        Target(
            WebhookSink(e, tenant),
            Policy(max_attempts=e.max_attempts, lease_s=e.timeout_s + LEASE_MARGIN_S),
        )
        for e in endpoints
    ]


# -- config ------------------------------------------------------------------------------------
_KEYS = ["name", "url", "secret", "secret_file", "types", "timeout", "max_attempts"]


def parse_webhooks(check: Checker, raw: object, path: Path) -> tuple[WebhookEndpoint, ...]:
    """`events.webhooks`: a list of endpoints; every problem reported with its path."""
    endpoints = []
    seen: dict[str, int] = {}
    for i, body in enumerate(check.sequence(path, raw)):
        where: Path = (*path, i)
        e = check.mapping(where, body, _KEYS)
        if not e and body is not None and not isinstance(body, dict):
            continue
        name = check.string((*where, "name"), e.get("name"), NAME)
        if name in seen:
            check.error((*where, "name"), f"{name!r} is already {render(path)}[{seen[name]}]")
            name = None
        elif name:
            seen[name] = i
        url = _url(check, (*where, "url"), e.get("url"))
        secret = _secret(check, where, e)
        types = _types(check, (*where, "types"), e.get("types"))
        timeout = check.duration((*where, "timeout"), e.get("timeout", "5s"))
        if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:
            check.error((*where, "timeout"), f"must be more than 0s and at most {MAX_TIMEOUT_S:g}s")
            timeout = None
        attempts = check.integer((*where, "max_attempts"), e.get("max_attempts", 12), 1, 100)
        if name and url and secret and types is not None and timeout and attempts:
            endpoints.append(WebhookEndpoint(name, url, secret, types, timeout, attempts))
    return tuple(endpoints)


def _url(check: Checker, path: Path, value: object) -> str | None:
    url = check.string(path, value)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        check.error(path, f"must be an http:// or https:// URL with a host, got {url!r}")
        return None
    return url


def _secret(check: Checker, where: Path, e: dict[str, Any]) -> str | None:
    given = [k for k in ("secret", "secret_file") if e.get(k) is not None]
    if len(given) != 1:
        message = "set secret or secret_file" + (", not both" if given else "")
        check.error(where, message)
        return None
    (key,) = given
    value = check.string((*where, key), e[key])
    if value is None:
        return None
    if key == "secret_file":
        try:
            value = FilePath(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            check.error((*where, key), f"cannot read {value!r}: {exc.strerror}")
            return None
    if len(value) < MIN_SECRET_LENGTH:
        check.error(
            (*where, key),
            f"a webhook secret must be at least {MIN_SECRET_LENGTH} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')",
        )
        return None
    return value


def _types(check: Checker, path: Path, value: object) -> tuple[str, ...] | None:
    globs = []
    ok = True
    for j, glob in enumerate(check.sequence(path, value)):
        g = check.string((*path, j), glob)
        if g is None:
            ok = False
        elif not any(fnmatch.fnmatchcase(t, g) for t in CLOUDEVENT_TYPES):
            check.error(
                (*path, j),
                f"{g!r} matches no event type; types look like io.frontdesk.request.enqueued, "
                "io.frontdesk.agent.presence, io.frontdesk.customer.created",
            )
            ok = False
        else:
            globs.append(g)
    if value is not None and not isinstance(value, list):
        ok = False
    return tuple(globs) if ok else None
