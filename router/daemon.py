"""`frontdesk serve`: wires Redis (embedded or configured), the stores, the HTTP listener and the
background tasks; stops cleanly on SIGTERM/SIGINT and reloads its config on SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from frontdesk.channels.base import ChannelRuntime
from frontdesk.channels.registry import MODULES
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import AgentRefused
from frontdesk.queues.events import Event, EventLog
from frontdesk.queues.keys import Keys
from frontdesk.queues.liveness import Liveness
from frontdesk.queues.store import QueueStore

from .app import create_app
from .config import Settings, load_settings
from .dispatcher import Dispatcher
from .front import Front
from .helpdesk import create_sink
from .metrics import Metrics
from .notices import notice_target
from .outbox import EngineOptions, OutboxEngine, Target
from .presence_watch import PresenceWatch
from .redis_server import EmbeddedRedis, RedisServerError
from .sinks import DeliveryContext
from .webhooks_out import webhook_targets
from .yamlconf import ConfigError

log = logging.getLogger("frontdesk")

CONNECT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SHARED_CONNECTIONS = 100  # intake, sockets, API, outbox
DISPATCHER_CONNECTIONS = 4  # the dispatcher runs one round at a time
RECENT_EVENTS = 100_000
GAUGE_INTERVAL_S = 5.0
_RESTART_ONLY = ("tenant", "redis", "http")


class Daemon:
    """One frontdesk process."""

    def __init__(
        self,
        settings: Settings,
        config_path: str | Path,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.connect_timeout_s = connect_timeout_s
        self.config_path = Path(config_path)
        self.metrics = Metrics()
        self.presence = PresenceWatch(lambda: self.settings, self.metrics.registry)
        self.embedded: EmbeddedRedis | None = None
        self.redis: Redis = None  # type: ignore[assignment]  # set in start()
        self._clients: list[Redis] = []  # every client start() made, each with its own pool
        self.store: QueueStore = None  # type: ignore[assignment]
        self.agents: AgentStore = None  # type: ignore[assignment]
        self.events: EventLog = None  # type: ignore[assignment]
        self.dispatcher: Dispatcher = None  # type: ignore[assignment]
        self.front: Front = None  # type: ignore[assignment]
        self.outbox: OutboxEngine = None  # type: ignore[assignment]
        self.channels: list[ChannelRuntime] = []
        self.listeners: set[Callable[[Event], None]] = set()  # e.g. agent sockets
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.address: tuple[str, int] | None = None

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        url = s.redis.url
        if url is None:
            self.embedded = EmbeddedRedis(s.redis.data_dir, s.redis.appendfsync, s.redis.binary)
            await asyncio.to_thread(self.embedded.start)
            url = self.embedded.url
            log.info("embedded redis-server pid %s on %s", self.embedded.pid, url)
        self.redis = self._client(url, SHARED_CONNECTIONS)
        await self._wait_for_redis(url)
        keys = Keys(s.tenant)
        self.store = QueueStore(self.redis, keys, s.store)
        self.agents = AgentStore(self.redis, keys, s.store.stream_maxlen)
        self.events = EventLog(self.redis, keys)
        # The dispatcher has connections of its own: under load hundreds of sockets and intakes
        # queue for the shared pool, and routing must not wait its turn behind their updates.
        routing = self._client(url, DISPATCHER_CONNECTIONS)
        self.dispatcher = Dispatcher(
            QueueStore(routing, keys, s.store),
            AgentStore(routing, keys, s.store.stream_maxlen),
            lambda: self.settings,
        )
        self.front = Front(self.store, CustomerStore(self.store), lambda: self.settings)
        await self.front.start()
        self.outbox = OutboxEngine(
            self.redis,
            keys,
            self._outbox_targets(s),
            DeliveryContext(self.store, self.agents),
            options=EngineOptions(dead_letters_kept_s=s.store.dead_letter_ttl_s),
            on_outcome=self.metrics.delivery,
        )
        await self.outbox.prepare()  # before intake: from now on every event is kept for each sink
        self.channels = [MODULES[n].create(c, self.front) for n, c in s.channels.items()]
        await self._sync_agents(s)
        await self._learn_recent_throughput()
        self._runner = web.AppRunner(create_app(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.http.host, s.http.port)
        await site.start()
        for channel in self.channels:
            await channel.start()
        host, port = self._runner.addresses[0][:2]
        self.address = (host, port)
        self._tasks = [
            asyncio.create_task(self._forever(self._follow_events), name="events"),
            asyncio.create_task(self._forever(self._refresh_gauges), name="metrics-gauges"),
            asyncio.create_task(self.dispatcher.run(self._stopping), name="dispatcher"),
            asyncio.create_task(self.outbox.run(self._stopping), name="outbox"),
            asyncio.create_task(
                self._forever(
                    self.presence.runner(
                        Liveness(self.redis, keys, s.store.stream_maxlen), self._stopping
                    )
                ),
                name="presence",
            ),
        ]
        log.info("frontdesk listening on http://%s:%d (tenant %s)", host, port, s.tenant)

    def _client(self, url: str, connections: int) -> Redis:
        """A client whose pool waits for a free connection under load instead of refusing."""
        pool = BlockingConnectionPool.from_url(
            url, socket_connect_timeout=5, max_connections=connections, timeout=10
        )
        client = Redis(connection_pool=pool)
        self._clients.append(client)
        return client

    async def _wait_for_redis(self, url: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        while True:
            try:
                await self.redis.ping()
                return
            except (RedisError, OSError) as exc:
                if loop.time() > deadline:
                    raise RedisServerError(f"cannot reach Redis at {url}: {exc}") from exc
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            for task in pending:
                log.warning("background task %s did not stop in time", task.get_name())
        log.debug("background tasks stopped")
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)
        if self._runner is not None:
            await self._runner.cleanup()
        log.debug("http stopped")
        for client in self._clients:
            await client.aclose()
            await client.connection_pool.disconnect()  # a pool we made: ours to close
        self._clients.clear()
        log.debug("redis client closed")
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
        log.info("frontdesk stopped")

    def _outbox_targets(self, settings: Settings) -> list[Target]:
        """Where events go out: signed webhooks, helpdesk connectors, customer notices."""
        targets = webhook_targets(settings.webhooks, settings.tenant)
        targets += [Target(create_sink(h)) for h in settings.helpdesks]
        if settings.notices is not None:  # read at each delivery: SIGHUP applies new templates
            targets.append(notice_target(lambda: self.settings.notices, self.front.status_token))
        return targets

    # -- config ----------------------------------------------------------------------------------
    async def _sync_agents(self, settings: Settings) -> None:
        for agent in settings.agents:
            try:
                await self.agents.upsert(agent)
            except AgentRefused as exc:
                log.error("agent %s kept as it was: %s", agent.id, exc)
        known = set(await self.agents.ids())
        for gone in sorted(known - {a.id for a in settings.agents}):
            log.warning("agent %s is in Redis but not in the config; left as it is", gone)

    async def reload(self) -> bool:
        """Read the config again; a bad one is refused whole and the running one kept."""
        try:
            new = await asyncio.to_thread(load_settings, self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            self.metrics.reloads.labels("refused").inc()
            return False
        for name in (*_RESTART_ONLY, "channels", "webhooks", "helpdesks"):
            if getattr(new, name) != getattr(self.settings, name):
                log.warning("config %s changed: takes effect at the next restart", name)
                new = _keep(new, self.settings, name)
        await self._sync_agents(new)
        self.settings = new
        self.metrics.reloads.labels("applied").inc()
        log.info("config reloaded from %s", self.config_path)
        return True

    # -- background tasks ------------------------------------------------------------------------
    async def _forever(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` until cancelled; while Redis is down, log once and retry with backoff."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await step()
                delay = 0.5
            except (RedisError, OSError) as exc:
                if delay == 0.5:
                    log.warning("Redis unavailable (%s); retrying", exc)
                self.metrics.redis_up.set(0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _follow_events(self) -> None:
        """Every event, as it happens, to the metrics and the dispatcher. Read from an explicit id
        (not "$" again and again, which would skip what arrived between two reads)."""
        last = f"{await self.store.now_ms()}-0"
        while not self._stopping.is_set():
            for event in await self.events.follow(last, count=500, block_ms=1000):
                self.metrics.observe(event)
                self.dispatcher.notify(event)
                for listen in list(self.listeners):
                    listen(event)
                last = event.id

    async def _learn_recent_throughput(self) -> None:
        """Read the recent events once, so that wait estimates work right after a restart."""
        since = await self.store.now_ms() - int(self.dispatcher.throughput.horizon_ms)
        for event in await self.events.range(f"{max(0, since)}-0", "+", count=RECENT_EVENTS):
            self.dispatcher.throughput.observe(event)

    async def _refresh_gauges(self) -> None:
        while not self._stopping.is_set():
            names = set(self.settings.queues) | await self.store.queue_names()
            self.metrics.set_waiting({q: await self.store.waiting_count(q) for q in names})
            self.metrics.set_agents(await self.agents.all())
            for sink in self.outbox.sink_names:
                box = self.outbox.outbox
                self.metrics.set_outbox(sink, await box.backlog(sink), await box.dead_count(sink))
            self.metrics.redis_up.set(1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), GAUGE_INTERVAL_S)


def _keep(new: Settings, old: Settings, name: str) -> Settings:
    return replace(new, **{name: getattr(old, name)})


async def serve(settings: Settings, config_path: str | Path) -> None:
    """Run the daemon until SIGTERM or SIGINT; SIGHUP reloads the config."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    daemon = Daemon(settings, config_path)
    reloads: set[asyncio.Task[bool]] = set()

    def on_hup() -> None:
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await daemon.start()
        await stopping.wait()
        log.info("stopping")
    finally:
        await daemon.stop()
