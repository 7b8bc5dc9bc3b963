"""What the API is built on: the `Services` the daemon hands `create_app`, and the narrow views
(Protocols) of the settings and metrics its handlers read, so that the API never holds the
daemon itself. The daemon's own `Settings` and `Metrics` satisfy them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Gauge
from redis.asyncio import Redis

from frontdesk.channels.base import ChannelRuntime
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.callback_config import CallbackSettings
from frontdesk.router.conf.escalation import EscalationSettings
from frontdesk.router.feedback.service import Surveys
from frontdesk.router.http.auth import ApiToken
from frontdesk.router.intake.front import Front
from frontdesk.router.intake.rules import Rule
from frontdesk.router.outbound.helpdesks.base import HelpdeskSettings
from frontdesk.router.outbound.notices.config import NoticeSettings
from frontdesk.router.outbound.outbox import OutboxEngine
from frontdesk.router.quality.config import QualitySettings
from frontdesk.router.routing.config import Routing
from frontdesk.router.routing.eta import Standing
from frontdesk.router.routing.fanout import Fanout
from frontdesk.router.routing.presence import PresenceWatch


class HttpTimeouts(Protocol):
    """`http`: how long a request's body may take to arrive, and an idle connection stay open."""

    @property
    def body_timeout_s(self) -> float: ...

    @property
    def idle_timeout_s(self) -> float: ...


class MetricsAccess(Protocol):
    """`metrics`: who may read /metrics."""

    @property
    def token_sha256(self) -> str | None: ...


class QueueView(Protocol):
    """One configured queue, as the API shows and escalates it."""

    @property
    def tier(self) -> int: ...

    @property
    def mode(self) -> str: ...

    @property
    def escalate_to(self) -> str | None: ...

    @property
    def routing(self) -> Routing: ...


class ApiSettings(Protocol):
    """The settings the API's handlers read, each time (a reload applies at once)."""

    @property
    def http(self) -> HttpTimeouts: ...

    @property
    def api_tokens(self) -> tuple[ApiToken, ...]: ...

    @property
    def metrics(self) -> MetricsAccess: ...

    @property
    def queues(self) -> Mapping[str, QueueView]: ...

    @property
    def skills(self) -> Collection[str]: ...

    @property
    def rules(self) -> Sequence[Rule]: ...

    @property
    def escalation(self) -> EscalationSettings: ...

    @property
    def callbacks(self) -> CallbackSettings: ...

    @property
    def callback_hours(self) -> Calendar | None: ...

    @property
    def calendars(self) -> Mapping[str, Calendar]: ...

    @property
    def quality(self) -> QualitySettings: ...

    @property
    def helpdesks(self) -> Sequence[HelpdeskSettings[Any]]: ...

    @property
    def notices(self) -> NoticeSettings | None: ...


class ApiMetrics(Protocol):
    """The metrics /readyz sets and /metrics renders."""

    @property
    def redis_up(self) -> Gauge: ...

    def render(self) -> bytes: ...


def no_site_origin(origin: str) -> bool:
    """No browser origin may read the status lookup's answers (no form sites configured)."""
    return False


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the API's handlers use, built by the daemon (or a test) and set on the app
    under one typed key each (router/api/keys.py)."""

    settings: Callable[[], ApiSettings]  # the current settings: read per request
    redis: Redis  # the shared client, for /readyz's ping
    store: QueueStore
    agents: AgentStore
    front: Front  # customers, attachments' blobs, status tokens
    standing: Standing  # a waiting request's position and estimated wait
    presence: PresenceWatch  # agents heard through the API, their sockets
    outbox: OutboxEngine
    metrics: ApiMetrics
    check_memory: Callable[[], Awaitable[object]]  # refreshes the memory gauges
    fanout: Fanout  # the events as they happen, to whom they concern (agent sockets)
    channels: Sequence[ChannelRuntime] = ()  # their routes are mounted, their paths described
    site_origin: Callable[[str], bool] = no_site_origin  # CORS of the status lookup
    surveys: Surveys | None = None  # the satisfaction survey's page (None: no surveys)
    unserved: Mapping[str, str] = field(default_factory=dict)  # path -> channels.<key> not set
