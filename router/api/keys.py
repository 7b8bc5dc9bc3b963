"""Typed keys of the aiohttp application's state: one per service the API's handlers use, set
by `create_app` from the `Services` it is given (router/api/services.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from redis.asyncio import Redis

from frontdesk.channels.base import ChannelRuntime
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.api.services import ApiMetrics, ApiSettings
from frontdesk.router.feedback.service import Surveys
from frontdesk.router.intake.front import Front
from frontdesk.router.outbound.outbox import OutboxEngine
from frontdesk.router.routing.eta import Standing
from frontdesk.router.routing.fanout import Fanout
from frontdesk.router.routing.presence import PresenceWatch

SETTINGS: web.AppKey[Callable[[], ApiSettings]] = web.AppKey("settings")
REDIS: web.AppKey[Redis] = web.AppKey("redis")
STORE: web.AppKey[QueueStore] = web.AppKey("store")
AGENTS: web.AppKey[AgentStore] = web.AppKey("agents")
FRONT: web.AppKey[Front] = web.AppKey("front")
STANDING: web.AppKey[Standing] = web.AppKey("standing")
PRESENCE: web.AppKey[PresenceWatch] = web.AppKey("presence")
OUTBOX: web.AppKey[OutboxEngine] = web.AppKey("outbox", OutboxEngine)
METRICS: web.AppKey[ApiMetrics] = web.AppKey("metrics")
CHECK_MEMORY: web.AppKey[Callable[[], Awaitable[object]]] = web.AppKey("check_memory")
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout", Fanout)
CHANNELS: web.AppKey[Sequence[ChannelRuntime]] = web.AppKey("channels")
SITE_ORIGIN: web.AppKey[Callable[[str], bool]] = web.AppKey("site_origin")
SURVEYS: web.AppKey[Surveys | None] = web.AppKey("surveys")
UNSERVED: web.AppKey[Mapping[str, str]] = web.AppKey("unserved")
