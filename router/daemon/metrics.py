"""Prometheus metrics. The core never imports prometheus: this module listens to the event
stream and reads queue sizes, and tests can give it a registry of their own."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from frontdesk.queues.events import Event, EventType
from frontdesk.router.daemon.redis_count import RedisCounts
from frontdesk.router.daemon.sla_metrics import SlaCollector
from frontdesk.skills import Agent, Presence

WAIT_BUCKETS = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400)
HANDLE_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
_EACH_DAEMON = (
    " (every daemon observes every event of the tenant: each instance's histogram is the whole"
    " tenant's since it started; read quantiles from any one, never sum rates across instances)"
)


class Metrics:
    """The daemon's metrics, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "frontdesk_events_total", "State changes seen on the event stream", ["type"], registry=r
        )
        self.waiting = Gauge(
            "frontdesk_waiting_requests", "Requests waiting in each queue", ["queue"], registry=r
        )
        self.agents = Gauge("frontdesk_agents", "Agents by presence", ["presence"], registry=r)
        self.load = Gauge(
            "frontdesk_agent_load", "Requests held by agents, per channel", ["channel"], registry=r
        )
        self.redis_up = Gauge(
            "frontdesk_redis_up", "1 when Redis answered the last check", registry=r
        )
        self.outbox_deliveries = Counter(
            "frontdesk_outbox_deliveries_total",
            "Delivery attempts to each sink by outcome: delivered, retry (failed, tried again "
            "later), dead (given up: a dead letter)",
            ["sink", "outcome"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "frontdesk_outbox_backlog",
            "Requests with events waiting for the sink (not delivered, not dead)",
            ["sink"],
            registry=r,
        )
        self.outbox_dead = Gauge(
            "frontdesk_outbox_dead_letters", "Dead letters kept for the sink", ["sink"], registry=r
        )
        self.redis_used = Gauge(
            "frontdesk_redis_used_bytes", "Redis used_memory, read at each scrape", registry=r
        )
        self.redis_maxmemory = Gauge(
            "frontdesk_redis_maxmemory_bytes",
            "Redis maxmemory (0: unset, no limit); absent when Redis does not say",
            registry=r,
        )
        self.redis_projected = Gauge(
            "frontdesk_redis_projected_bytes",
            "Redis memory the retention will need at the recent intake rate (or "
            "redis.expected_rate): rate x retention x bytes per request",
            registry=r,
        )
        self.wait = Histogram(
            "frontdesk_wait_seconds",
            "Time from intake to the first agent taking the request, by queue" + _EACH_DAEMON,
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.handle = Histogram(
            "frontdesk_handle_seconds",
            "Time from an agent taking a request to completing it, by queue" + _EACH_DAEMON,
            ["queue"],
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        self.reloads = Counter(
            "frontdesk_config_reloads_total", "Config reloads by outcome", ["outcome"], registry=r
        )
        self.redis_counts = RedisCounts()  # filled by the daemon's counting connections
        r.register(_RedisCountsCollector(self.redis_counts))
        self.sla = SlaCollector()  # the tenant's service-level counters, read with the gauges
        r.register(self.sla)

    def observe(self, event: Event) -> None:
        self.events.labels(event.type.value).inc()
        t, d = event.type, event.data
        if t in (EventType.ACCEPTED, EventType.ASSIGNED) and d.get("first") == "1":
            if (waited := d.get("wait_ms", "")).isdigit():
                self.wait.labels(event.queue).observe(int(waited) / 1000)
        elif t is EventType.COMPLETED and (handled := d.get("handle_ms", "")).isdigit():
            self.handle.labels(event.queue).observe(int(handled) / 1000)

    def set_waiting(self, counts: dict[str, int]) -> None:
        for queue, n in counts.items():
            self.waiting.labels(queue).set(n)

    def set_agents(self, agents: list[Agent]) -> None:
        for presence in Presence:
            self.agents.labels(presence.value).set(sum(a.presence is presence for a in agents))
        loads: dict[str, int] = {}
        for agent in agents:
            for channel in agent.capacity.keys() | agent.load.keys():
                loads[channel] = loads.get(channel, 0) + agent.load.get(channel, 0)
        for channel, n in loads.items():
            self.load.labels(channel).set(n)

    def delivery(self, sink: str, outcome: str) -> None:
        """One delivery attempt's outcome (the outbox engine's `on_outcome`)."""
        self.outbox_deliveries.labels(sink, outcome).inc()

    def set_outbox(self, sink: str, backlog: int, dead: int) -> None:
        self.outbox_backlog.labels(sink).set(backlog)
        self.outbox_dead.labels(sink).set(dead)

    def set_memory(self, used: int, maxmemory: int | None, projected: float) -> None:
        self.redis_used.set(used)
        if maxmemory is not None:
            self.redis_maxmemory.set(maxmemory)
        self.redis_projected.set(projected)

    def set_sla(self, stats: dict[str, int]) -> None:
        self.sla.stats = stats

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RedisCountsCollector(Collector):
    """The counting connections' dictionaries (router/daemon/redis_count.py), read at each scrape:
    counting stays a dictionary increment, the exposition is built only when asked."""

    def __init__(self, counts: RedisCounts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        trips = CounterMetricFamily(
            "frontdesk_redis_round_trips",
            "Round trips to Redis: one per command sent alone, one per pipeline",
            labels=["kind"],
        )
        for kind, n in self.counts.round_trips.items():
            trips.add_metric([kind], n)
        yield trips
        commands = CounterMetricFamily(
            "frontdesk_redis_commands",
            "Commands sent to Redis by name (those inside pipelines included)",
            labels=["command"],
        )
        for name, n in sorted(self.counts.commands.items()):
            commands.add_metric([name], n)
        yield commands
