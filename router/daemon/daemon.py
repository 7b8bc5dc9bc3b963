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
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from frontdesk.channels.base import ChannelRuntime, RoutesOnly
from frontdesk.channels.form_config import form_site_origin
from frontdesk.channels.registry import MODULES, unserved
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import AgentRefused
from frontdesk.queues.events import EventLog, id_order
from frontdesk.queues.keys import Keys
from frontdesk.queues.liveness import Liveness
from frontdesk.queues.store import QueueStore
from frontdesk.router.api.app import create_app, runner_options
from frontdesk.router.api.services import Services
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon import memory, reports
from frontdesk.router.daemon.collector import keep_pauses_short
from frontdesk.router.daemon.config_diff import changed_keys, top_key
from frontdesk.router.daemon.context import DaemonContext
from frontdesk.router.daemon.listeners import channel_address, listening
from frontdesk.router.daemon.metrics import Metrics
from frontdesk.router.daemon.quality_task import quality_task
from frontdesk.router.daemon.redis_connect import close, describe
from frontdesk.router.daemon.redis_count import count_round_trips
from frontdesk.router.daemon.redis_retry import daemon_client, wait_for_redis
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import Settings, load_settings
from frontdesk.router.daemon.startup import log_startup
from frontdesk.router.feedback.followups import FollowUpSink
from frontdesk.router.feedback.service import Surveys
from frontdesk.router.intake.care import LiveCare
from frontdesk.router.intake.front import Front
from frontdesk.router.outbound.helpdesks.config import create_sink
from frontdesk.router.outbound.notices.sink import notice_target
from frontdesk.router.outbound.outbox import EngineOptions, OutboxEngine, Target
from frontdesk.router.outbound.sinks import DeliveryContext
from frontdesk.router.outbound.webhooks import webhook_targets
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.router.routing.eta import Standing
from frontdesk.router.routing.fanout import Fanout
from frontdesk.router.routing.presence import PresenceWatch
from frontdesk.router.sla.timer import SlaTimer, timer_settings

log = logging.getLogger("frontdesk")

CONNECT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SHARED_CONNECTIONS = 100  # intake, sockets, API, outbox
DISPATCHER_CONNECTIONS = 4  # the dispatcher runs one round at a time
RECENT_EVENTS = 100_000
GAUGE_INTERVAL_S = 5.0
_RESTART_ONLY = ("tenant", "redis", "http", "store", "webhooks", "helpdesks")
_LIVE_CHANNELS = frozenset({"form", "phone"})  # their handlers read channel.settings per request
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 2.0  # tasks while Redis is down: 0.5 s, 1 s, 2 s, 2 s...


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
        self.standing: Standing = None  # type: ignore[assignment]
        self.outbox: OutboxEngine = None  # type: ignore[assignment]
        self.sla_timer: SlaTimer = None  # type: ignore[assignment]
        self.channels: list[ChannelRuntime] = []
        self.fanout = Fanout()  # each event to the sockets it concerns (router/routing/fanout.py)
        self.listeners = self.fanout.everyone  # the few listeners of every event
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._events_after: str | None = None  # the id of the last event the follower handed over
        self.address: tuple[str, int] | None = None

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        url = s.redis.url
        if s.redis.embedded:
            r = s.redis
            self.embedded = EmbeddedRedis(r.data_dir, r.appendfsync, r.binary, r.maxmemory)
            await asyncio.to_thread(self.embedded.start)
            url = self.embedded.url
            log.info("embedded redis-server pid %s on %s", self.embedded.pid, url)
        self.redis = self._client(url, SHARED_CONNECTIONS)
        await wait_for_redis(self.redis, describe(s.redis, url), self.connect_timeout_s)
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
        self.care = LiveCare(self.store.care)  # the care lists intake reads, live from Redis
        self.settings = s = replace(s, customers=await self.care.seed(s.customers))
        self.front = Front(self.store, CustomerStore(self.store), lambda: self.settings)
        self.surveys = Surveys(
            self.store,
            lambda: self.front.secret,
            lambda: self.settings.surveys,
            lambda: self.settings.customers,
        )
        self.front.answers = self.surveys.reply  # a bare score answers a survey
        self.sla_timer = SlaTimer(self.store.sla, self.store, lambda: timer_settings(self.settings))
        await self.sla_timer.publish(force=True)  # before intake: clocks count working time
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
        self.standing = Standing(self.store, self.agents, self.dispatcher.throughput, self._groups)
        self.fanout.subscribe(self.standing.heard)  # which queues' boards are out of date
        self.fanout.subscribe(self.care.heard)  # care lists changed by any daemon
        notices = lambda: self.settings.notices  # noqa: E731
        context = DaemonContext(self.front, self.standing, lambda: self.settings.agents,
                                self.fanout, self.surveys, notices)  # fmt: skip
        self.channels = [MODULES[n].create(c, context) for n, c in s.channels.items()]
        await self._sync_agents(s)
        await self._learn_recent_throughput()
        await self.check_memory(warn=True)
        self._runner = web.AppRunner(create_app(self.api_services()), **runner_options(s.http))
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.http.host, s.http.port)
        await listening(site.start, f"{s.http.host}:{s.http.port}", "http.host, http.port")
        for channel in self.channels:
            await listening(channel.start, *channel_address(channel))
        host, port = self._runner.addresses[0][:2]
        self.address = (host, port)
        self._tasks = [
            asyncio.create_task(self._forever(self._follow_events), name="events"),
            asyncio.create_task(self._forever(self._refresh_gauges), name="metrics-gauges"),
            asyncio.create_task(self.dispatcher.run(self._stopping), name="dispatcher"),
            asyncio.create_task(self.outbox.run(self._stopping), name="outbox"),
            asyncio.create_task(
                self._forever(quality_task(self, keys, self._stopping)), name="quality"
            ),
            asyncio.create_task(
                self._forever(lambda: self.sla_timer.run(self._stopping)), name="sla-timer"
            ),
            asyncio.create_task(
                self._forever(
                    self.presence.runner(
                        Liveness(self.redis, keys, s.store.stream_maxlen), self._stopping
                    )
                ),
                name="presence",
            ),
        ]
        log_startup(s, host, port)

    def api_services(self) -> Services:
        """What the HTTP API is built on (started stores; the settings read as they are now)."""
        return Services(
            settings=lambda: self.settings,
            redis=self.redis,
            store=self.store,
            agents=self.agents,
            front=self.front,
            standing=self.standing,
            presence=self.presence,
            outbox=self.outbox,
            metrics=self.metrics,
            check_memory=self.check_memory,
            fanout=self.fanout,
            channels=self.channels,
            site_origin=lambda origin: form_site_origin(self.settings.channels, origin),
            surveys=self.surveys,
            unserved=unserved(set(self.settings.channels)),
        )

    def _client(self, url: str | None, connections: int) -> Redis:
        """A client of ours (router/daemon/redis_retry.py: waits under load, retries when safe),
        its round trips counted; closed at stop."""
        client = daemon_client(self.settings.redis, url, connections)
        self._clients.append(count_round_trips(client, self.metrics.redis_counts))
        return client

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            for task in pending:
                log.warning("background task %s did not stop in time", task.get_name())
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)
        if self._runner is not None:
            await self._runner.cleanup()
        for client in self._clients:
            await close(client)  # and the pool we made: ours to close
        self._clients.clear()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
        log.info("frontdesk stopped")

    def _outbox_targets(self, settings: Settings) -> list[Target]:
        """Where events go out: signed webhooks, helpdesk connectors, customer notices, reports."""
        targets = webhook_targets(settings.webhooks, settings.tenant)
        targets += [Target(create_sink(h)) for h in settings.helpdesks]
        if settings.notices is not None:  # read at each delivery: SIGHUP applies new templates
            notices = notice_target(
                lambda: self.settings.notices, self.front.status_token, self.surveys
            )
            targets.append(notices)
        if settings.follow_ups.policies:  # follow-up calls after completion or a low score
            made = FollowUpSink(lambda: self.settings.follow_ups, lambda: self.settings.customers,
                                self.front.create)  # fmt: skip
            targets.append(Target(made))
        return [*targets, reports.report_target(self.redis, lambda: self.settings)]

    def _groups(self, queue: str) -> tuple[str, ...]:
        """The agent groups a queue routes to, as the config has them now."""
        found = self.settings.queues.get(queue)
        return found.routing.groups if found is not None else ()

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
        """Read the config again; a bad one is refused whole and the running one kept. Agents,
        queues, rules, customers, limits, API tokens, notices, metrics and the form and phone
        channels' settings apply at once; every other change (retention, events, offers among
        them: the stores were made with them) is logged by its key as waiting for a restart."""
        try:
            new = await asyncio.to_thread(load_settings, self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            self.metrics.reloads.labels("refused").inc()
            return False
        waiting: list[str] = []
        for name in _RESTART_ONLY:
            keys = changed_keys(top_key(name), getattr(self.settings, name), getattr(new, name))
            if keys:
                waiting += keys
                new = _keep(new, self.settings, name)
        channels, later = self._reload_channels(new.channels)
        new = replace(new, channels=channels)
        for key in waiting + later:
            log.warning("config %s changed: takes effect at the next restart", key)
        await self._sync_agents(new)
        self.settings = replace(new, customers=await self.care.seed(new.customers))
        self.metrics.reloads.labels("applied").inc()
        pending = len(waiting) + len(later)
        after = f"; {pending} change(s) wait for the next restart" if pending else ""
        log.info("config reloaded from %s%s", self.config_path, after)
        return True

    def _reload_channels(self, new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The channel settings to run with after a reload, and the keys that wait for a restart.
        The form and phone channels read their settings at each request: theirs apply at once.
        A channel added or removed, or one with a listener or pollers of its own, waits."""
        old = self.settings.channels
        running = {c.name: c for c in self.channels}
        kept: dict[str, Any] = {}
        later: list[str] = []
        for name in sorted(old.keys() | new.keys()):
            before, after = old.get(name), new.get(name)
            keys = changed_keys(f"channels.{name}", before, after)
            runtime = running.get(name)
            if keys and name in _LIVE_CHANNELS and isinstance(runtime, RoutesOnly) and after:
                runtime.settings = after
                log.info("config %s changed: applied", ", ".join(keys))
            elif keys:
                later += [f"channels.{name}"] if before is None or after is None else keys
                after = before
            if after is not None:
                kept[name] = after
        return kept, later

    # -- background tasks ------------------------------------------------------------------------
    async def _forever(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` until cancelled; while Redis is down, log once per outage and retry with
        backoff (a step that had run a while before failing starts a new outage)."""
        loop = asyncio.get_running_loop()
        delay = BACKOFF_FIRST_S
        while not self._stopping.is_set():
            began = loop.time()
            try:
                await step()
                delay = BACKOFF_FIRST_S
            except (RedisError, OSError) as exc:
                if loop.time() - began > BACKOFF_MAX_S:
                    delay = BACKOFF_FIRST_S
                if delay == BACKOFF_FIRST_S:
                    log.warning("Redis unavailable (%s); retrying", exc)
                self.metrics.redis_up.set(0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    async def _follow_events(self) -> None:
        """Every event, as it happens, to the metrics, the dispatcher and the sockets. Read from
        an explicit id (not "$" again and again, which would skip what arrived between two
        reads); after a back-off, from the last id handed over, so that nothing made meanwhile
        (an offer to a socket of ours) is skipped. "Now" only at the very first start: the
        stream's last id then, a real one, so that a quiet stream is not taken for a lost one."""
        if self._events_after is None:
            self._events_after = (await self.events.bounds()).last_generated
        else:
            self._events_after = await self._resume_from(self._events_after)
        while not self._stopping.is_set():
            events = await self.events.follow(self._events_after, count=500, block_ms=1000)
            if not events:  # quiet, or a Redis that came back empty behind a retried command
                self._events_after = await self._resume_from(self._events_after, quiet=True)
            for event in events:
                self.metrics.observe(event)
                self.dispatcher.notify(event)
                self.store.facts.follow(event)  # where requests are: the verbs read nothing first
                self.fanout.publish(event)
                self._events_after = event.id

    async def _resume_from(self, last: str, quiet: bool = False) -> str:
        """Where to read on after `last`, checked against the stream as Redis has it now
        (`quiet`: a check while nothing arrives, logged only when something is wrong)."""
        bounds = await self.events.bounds()
        if id_order(bounds.last_generated) < id_order(last):
            # Redis came back without our history (no persistence, or a replica behind): every
            # entry there now is news to us, and ids from `last` on may lie in the future.
            log.warning("event stream is behind the last event read (%s < %s): Redis lost its "
                        "data; reading the %d events it has from the start",
                        bounds.last_generated, last, bounds.length)  # fmt: skip
            return "0-0"
        if bounds.first is not None and id_order(bounds.first) > id_order(last):
            log.warning("events after %s were trimmed from the stream before they were read "
                        "(events.max_length); reading on from %s", last, bounds.first)  # fmt: skip
        elif not quiet:
            log.info("event follower resumes after %s", last)
        return last

    async def check_memory(self, warn: bool = False) -> memory.Memory | None:
        """Redis memory against the projection for the retention, on the gauges; at start-up
        (`warn`) a WARNING when maxmemory is unset or below the projection. The rate is
        `redis.expected_rate`, else what was served in the recent horizon."""
        s = self.settings
        rate = s.redis.expected_rate
        try:
            if rate is None:
                now_ms = await self.store.now_ms()
                names = set(s.queues) | await self.store.queue_names()
                per_s = sum(self.dispatcher.throughput.rate(q, now_ms) for q in names)
                rate = per_s * memory.DAY_S
            if warn:
                found = await memory.check(self.redis, rate, s.store, self.embedded is not None)
            else:
                found = await memory.read(self.redis, rate, s.store)
        except RedisError as exc:
            log.debug("Redis memory not read: %s", exc)
            return None
        if found is not None:
            self.metrics.set_memory(found.used, found.maxmemory, found.projected)
        return found

    async def _learn_recent_throughput(self) -> None:  # wait estimates right after a restart
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
            self.metrics.set_sla(await self.store.sla.stats())
            await self.care.refresh_if_due()
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
        await keep_pauses_short(stopping)  # until SIGTERM: the collector's pauses kept short
        log.info("stopping")
    finally:
        await daemon.stop()
