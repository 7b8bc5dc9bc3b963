"""The Prometheus histograms observed from the events' new durations, and the Grafana dashboard
(deploy/grafana/frontdesk.json): every metric its queries name is one a real registry exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from frontdesk.queues.events import Event, EventType
from frontdesk.router.daemon.metrics import Metrics
from frontdesk.skills import Agent, Presence

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "frontdesk.json"


def event(etype: EventType, queue: str, **data: str) -> Event:
    return Event("1-0", etype, "FD-1", "ann", queue, 1, data)


def samples(metrics: Metrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def busy_registry() -> Metrics:
    m = Metrics()
    m.observe(event(EventType.ACCEPTED, "general", wait_ms="12000", first="1"))
    m.observe(event(EventType.ACCEPTED, "general", wait_ms="999000", first="0"))  # not a wait
    m.observe(event(EventType.ASSIGNED, "email", wait_ms="700000", first="1"))
    m.observe(event(EventType.COMPLETED, "general", handle_ms="250000"))
    m.observe(event(EventType.COMPLETED, "general"))  # before the field existed: not observed
    m.set_waiting({"general": 3})
    m.set_agents([Agent(id="ann", name="Ann", presence=Presence.AVAILABLE)])
    m.set_outbox("reports", 2, 0)
    m.set_sla({"chat|first_response|met": 4, "chat|first_response|breached": 1,
               "fr|chat|30": 4, "fr|chat|sum_ms": 50000})  # fmt: skip
    return m


def test_wait_and_handle_are_observed_from_the_events() -> None:
    found = samples(busy_registry())
    counts = {s[0]["queue"]: s[1] for s in found["frontdesk_wait_seconds_count"]}
    assert counts == {"general": 1.0, "email": 1.0}  # the first take only
    buckets = {s[0]["le"]: s[1] for s in found["frontdesk_wait_seconds_bucket"]
               if s[0]["queue"] == "general"}  # fmt: skip
    assert (buckets["10.0"], buckets["20.0"], buckets["+Inf"]) == (0.0, 1.0, 1.0)
    assert found["frontdesk_handle_seconds_sum"] == [({"queue": "general"}, 250.0)]


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = {name for e in exprs for name in re.findall(r"\b(frontdesk_[a-z_]+)", e)}
    exported = set(samples(busy_registry()))
    assert used and used - exported == set(), f"not exported: {sorted(used - exported)}"
    # the panels the issue names are there
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for wanted in ("wait", "first response", "handle", "waiting", "presence", "service level",
                   "outbox"):  # fmt: skip
        assert wanted in titles
    assert not any("sum(rate" in e or "sum by" in e for e in exprs)  # max across daemons
