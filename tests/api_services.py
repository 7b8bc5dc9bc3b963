"""The HTTP API without a daemon: the `Services` `create_app` takes, built from the test Redis's
stores (tests/conftest.py), for aiohttp's own `aiohttp_client` (pytest-aiohttp). No dispatcher,
no event follower: tests of handlers that need those run a whole daemon."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from frontdesk.channels.base import ChannelRuntime
from frontdesk.channels.form_config import form_site_origin
from frontdesk.channels.registry import MODULES
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.api.app import create_app
from frontdesk.router.api.services import Services
from frontdesk.router.daemon.context import DaemonContext
from frontdesk.router.daemon.metrics import Metrics
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.intake.front import Front
from frontdesk.router.outbound.outbox import OutboxEngine
from frontdesk.router.outbound.sinks import DeliveryContext
from frontdesk.router.routing.eta import Standing, Throughput
from frontdesk.router.routing.fanout import Fanout
from frontdesk.router.routing.presence import PresenceWatch


async def services(
    settings: Settings | Callable[[], Settings],
    redis: Redis,
    store: QueueStore,
    agents: AgentStore,
    *,
    front: Front | None = None,
    outbox: OutboxEngine | None = None,
    channels: Sequence[ChannelRuntime] | None = (),
    metrics: Metrics | None = None,
) -> Services:
    """The API's services on these stores, with `settings` (a callable: read per request, as
    the daemon's after a reload). The settings' agents are not stored: a test upserts its own.
    `channels=None`: the configured channels, made as the daemon makes them (their HTTP routes
    only: nothing is started)."""
    current = settings if callable(settings) else (lambda: settings)
    if front is None:
        front = Front(store, CustomerStore(store), current)
        await front.start()
    metrics = metrics or Metrics()

    def groups(queue: str) -> tuple[str, ...]:
        found = current().queues.get(queue)
        return found.routing.groups if found is not None else ()

    standing = Standing(store, agents, Throughput(), groups)
    fanout = Fanout()
    if channels is None:
        context = DaemonContext(front, standing, lambda: current().agents, fanout)
        channels = [MODULES[n].create(c, context) for n, c in current().channels.items()]

    async def check_memory() -> Any:
        return None

    return Services(
        settings=current,
        redis=redis,
        store=store,
        agents=agents,
        front=front,
        standing=standing,
        presence=PresenceWatch(current, metrics.registry),
        outbox=outbox or OutboxEngine(redis, store.keys, [], DeliveryContext(store, agents)),
        metrics=metrics,
        check_memory=check_memory,
        fanout=fanout,
        channels=channels,
        site_origin=lambda origin: form_site_origin(current().channels, origin),
    )


async def api_app(
    settings: Settings | Callable[[], Settings], *args: Any, **kw: Any
) -> web.Application:
    """`create_app` on `services(...)`."""
    return create_app(await services(settings, *args, **kw))
