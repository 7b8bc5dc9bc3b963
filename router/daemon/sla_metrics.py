"""The service-level figures on /metrics, from the counters the scripts keep in Redis
(`sla:stats`, queues/sla.py): `frontdesk_sla_events_total{policy,target,outcome}` (warning,
breached, met, met_late) and the histogram `frontdesk_first_response_seconds{channel}`. They are
the tenant's totals, the same on every daemon (aggregate with max, not sum), read every few
seconds with the other gauges."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

BUCKETS = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)
# the first-response histogram's upper bounds in seconds, as queues/lua/includes/clocks.lua has


class SlaCollector(Collector):
    def __init__(self) -> None:
        self.stats: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "frontdesk_sla_events",
            "Service-level warnings, breaches and targets met, by policy and target",
            labels=["policy", "target", "outcome"],
        )
        first: dict[str, dict[str, int]] = {}
        for field, n in sorted(self.stats.items()):
            parts = field.split("|")
            if parts[0] == "fr" and len(parts) == 3:
                first.setdefault(parts[1], {})[parts[2]] = n
            elif len(parts) == 3:
                events.add_metric(parts, n)
        yield events
        histogram = HistogramMetricFamily(
            "frontdesk_first_response_seconds",
            "Time from intake to the first response, by channel",
            labels=["channel"],
        )
        for channel, counts in sorted(first.items()):
            running, buckets = 0, []
            for bound in BUCKETS:
                running += counts.get(str(bound), 0)
                buckets.append((str(float(bound)), running))
            running += counts.get("+Inf", 0)
            buckets.append(("+Inf", running))
            total = counts.get("sum_ms", 0) / 1000
            histogram.add_metric([channel], buckets, total)
        yield histogram
