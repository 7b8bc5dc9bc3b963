"""The reports: hour buckets summed into periods, then each report's rows, one per period and
group value, and a row per group value for the whole span (period `all`). Reading costs one
HGETALL per hour of the span (pipelined), whatever the number of events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from frontdesk.queues.reports import ReportStore
from frontdesk.router.reports.figures import BOUNDS_S
from frontdesk.router.reports.query import Query

Figures = Counter[str]
Row = dict[str, Any]
TITLES = {
    "overview": "Overview",
    "volume": "Requests: volume, abandonment, transfers, escalations",
    "response": "First response, resolution and wait times",
    "sla": "Service-level attainment",
    "escalation": "Escalations",
    "fcr": "First-contact resolution",
    "satisfaction": "Customer satisfaction",
    "quality": "Quality review scores",
    "agents": "Agents: offers, handling, occupancy",
}
METRIC_NAMES = {
    "fr": "first_response",
    "frw": "first_response_working",
    "res": "resolution",
    "wait": "wait",
}


@dataclass(slots=True)
class Table:
    """A report's result: its columns in order and its rows, with what it covers."""

    query: Query
    columns: list[str]
    rows: list[Row]
    notes: list[dict[str, Any]] = field(default_factory=list)  # low-score comments
    hourly: dict[int, Figures] = field(default_factory=dict)  # the hours read, for charts
    periods: dict[str, Figures] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES[self.query.name]

    def meta(self) -> dict[str, Any]:
        q = self.query
        return {
            "report": q.name, "title": self.title, "from": q.start.isoformat(),
            "to": q.end.isoformat(), "by": q.by, "group": q.group, "timezone": q.timezone,
            "calendar": q.calendar.name if q.calendar is not None else None,
        }  # fmt: skip


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def values(figures: Figures, prefix: str) -> set[str]:
    """The group values that fields `<prefix><value>|...` or `<prefix><value>` name."""
    return {f[len(prefix) :].split("|")[0] for f in figures if f.startswith(prefix)}


def quantile(buckets: list[tuple[float, int]], q: float) -> float | None:
    """The q-quantile of a histogram (upper bound, count), linear within its bucket, as
    Prometheus's histogram_quantile; past the last finite bound: that bound."""
    total = sum(n for _, n in buckets)
    if not total:
        return None
    rank, seen, lower = q * total, 0, 0.0
    for bound, n in buckets:
        if n and seen + n >= rank:
            if bound == float("inf"):
                return lower
            return round(lower + (bound - lower) * (rank - seen) / n, 2)
        seen += n
        lower = bound if bound != float("inf") else lower
    return lower


def histogram(figures: Figures, metric: str, dim: str, v: str) -> Row:
    """count, mean_s, p50_s, p90_s of a histogram."""
    base = f"h|{metric}|{dim}|{v}|"
    buckets = [(float(b), figures[base + str(b)]) for b in BOUNDS_S]
    buckets.append((float("inf"), figures[base + "inf"]))
    n = sum(c for _, c in buckets)
    mean = round(figures[base + "sum"] / n / 1000, 2) if n else None
    return {
        "n": n,
        "mean_s": mean,
        "p50_s": quantile(buckets, 0.5),
        "p90_s": quantile(buckets, 0.9),
    }


def buckets_of(figures: Figures, metric: str, dim: str, v: str) -> list[tuple[str, int]]:
    base = f"h|{metric}|{dim}|{v}|"
    return [(str(b), figures[base + str(b)]) for b in (*BOUNDS_S, "inf")]


# -- the reports: figures of one period -> rows (without the period) ------------------------------
def _volume(f: Figures, g: str) -> list[Row]:
    rows = []
    for v in sorted(values(f, f"n|{g}|") | values(f, f"done|{g}|") | values(f, f"ab|{g}|")):
        done, ab = f[f"done|{g}|{v}"], f[f"ab|{g}|{v}"]
        rows.append({
            g: v, "requests": f[f"n|{g}|{v}"], "completed": done, "abandoned": ab,
            "abandoned_waiting": f[f"abw|{g}|{v}"], "abandonment_rate": ratio(ab, ab + done),
            "transferred": f[f"tr|{g}|{v}"], "escalated": f[f"esc|{g}|{v}"],
        })  # fmt: skip
    return rows


def _response(f: Figures, g: str) -> list[Row]:
    rows = []
    for v in sorted(set().union(*(values(f, f"h|{m}|{g}|") for m in METRIC_NAMES))):
        row: Row = {g: v}
        for metric, name in METRIC_NAMES.items():
            row |= {f"{name}_{k}": x for k, x in histogram(f, metric, g, v).items()}
        rows.append(row)
    return rows


def _sla(f: Figures, g: str) -> list[Row]:
    pairs = {tuple(k.split("|")[1:3]) for k in f if k.startswith("sla|")}
    rows = []
    for policy, target in sorted(pairs):
        base = f"sla|{policy}|{target}|"
        met, breached = f[base + "met"], f[base + "breached"]
        rows.append({
            "policy": policy, "target": target, "met": met, "met_late": f[base + "late"],
            "breached": breached, "warnings": f[base + "warning"],
            "attainment": ratio(met, met + breached),
        })  # fmt: skip
    return rows


def _escalation(f: Figures, g: str) -> list[Row]:
    rows = []
    for v in sorted(values(f, f"esc|{g}|")):
        escalated = f[f"esc|{g}|{v}"]
        requests = f[f"n|{g}|{v}"] if g in ("channel", "queue", "category") else f["n|all|-"]
        rows.append({g: v, "escalated": escalated, "requests": requests,
                     "ratio": ratio(escalated, requests)})  # fmt: skip
    return rows


def _fcr(f: Figures, g: str) -> list[Row]:
    rows = []
    for v in sorted(values(f, f"done|{g}|")):
        done, first = f[f"done|{g}|{v}"], f[f"fcr|{g}|{v}"]
        rows.append({g: v, "completed": done, "first_contact": first,
                     "fcr_rate": ratio(first, done), "reopened": f[f"ro|{g}|{v}"]})  # fmt: skip
    return rows


def _satisfaction(f: Figures, g: str) -> list[Row]:
    rows = []
    for v in sorted(values(f, f"cs|{g}|")):
        scores = {s: f[f"cs|{g}|{v}|{s}"] for s in range(1, 6)}
        n = sum(scores.values())
        row: Row = {g: v, "answers": n}
        row["average"] = round(sum(s * c for s, c in scores.items()) / n, 2) if n else None
        row |= {f"score_{s}": c for s, c in scores.items()}
        rows.append(row)
    return rows


def _quality(f: Figures, g: str) -> list[Row]:
    agents = values(f, "qa|")
    dims = sorted({k.split("|")[2] for k in f if k.startswith("qa|")} - {"reviews"})
    rows = []
    for agent in sorted(agents - {"all"}) + (["all"] if "all" in agents else []):
        base = f"qa|{agent}|"
        row: Row = {"agent": agent, "reviews": f[base + "reviews|n"]}
        for d in dims:
            n = f[f"{base}{d}|n"]
            row[d] = round(f[f"{base}{d}|sum"] / n, 2) if n else None
        rows.append(row)
    return rows


def _agents(f: Figures, g: str) -> list[Row]:
    rows = []
    for agent in sorted(values(f, "ag|")):
        base = f"ag|{agent}|"
        handled, handle_ms = f[base + "handled"], f[base + "handle_ms"]
        available, away = f[base + "available_ms"], f[base + "away_ms"]
        rows.append({
            "agent": agent, "offered": f[base + "offered"], "rejected": f[base + "rejected"],
            "missed": f[base + "missed"], "handled": handled,
            "handle_mean_s": round(handle_ms / handled / 1000, 1) if handled else None,
            "available_h": round(available / 3_600_000, 2), "away_h": round(away / 3_600_000, 2),
            "occupancy": ratio(handle_ms, available),
        })  # fmt: skip
    return rows


def _overview(f: Figures, g: str) -> list[Row]:
    done, ab = f["done|all|-"], f["ab|all|-"]
    fr, res = histogram(f, "fr", "all", "-"), histogram(f, "res", "all", "-")
    met = sum(n for k, n in f.items() if k.startswith("sla|") and k.endswith("|met"))
    breached = sum(n for k, n in f.items() if k.startswith("sla|") and k.endswith("|breached"))
    csat = _satisfaction(f, "all")
    return [{
        "requests": f["n|all|-"], "completed": done, "abandonment_rate": ratio(ab, ab + done),
        "first_response_p50_s": fr["p50_s"], "first_response_p90_s": fr["p90_s"],
        "resolution_p50_s": res["p50_s"], "sla_attainment": ratio(met, met + breached),
        "satisfaction": csat[0]["average"] if csat else None,
        "fcr_rate": ratio(f["fcr|all|-"], done), "escalated": f["esc|all|-"],
        "reopened": f["ro|all|-"],
    }]  # fmt: skip


REPORTS: dict[str, Callable[[Figures, str], list[Row]]] = {
    "overview": _overview, "volume": _volume, "response": _response, "sla": _sla,
    "escalation": _escalation, "fcr": _fcr, "satisfaction": _satisfaction,
    "quality": _quality, "agents": _agents,
}  # fmt: skip


def summed(hours: Iterable[Figures]) -> Figures:
    total: Figures = Counter()
    for figures in hours:
        total.update(figures)
    return total


def build(query: Query, hourly: dict[int, Figures], notes: list[str]) -> Table:
    """The report of `query` from the hours' figures (and the hours' notes)."""
    periods: dict[str, Figures] = {}
    for hour in sorted(hourly):
        periods.setdefault(query.period(hour), Counter()).update(hourly[hour])
    report, group = REPORTS[query.name], query.group or ""
    rows: list[Row] = []
    for period, figures in periods.items():
        rows += [{"period": period} | row for row in report(figures, group)]
    rows += [{"period": "all"} | row for row in report(summed(periods.values()), group)]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    if not rows:
        columns = ["period", *([group] if group else [])]
    kept = [json.loads(n) for n in notes] if query.name in ("satisfaction", "overview") else []
    return Table(query, columns, rows, kept, hourly, periods)


async def run(store: ReportStore, query: Query) -> Table:
    """Read the hours the query covers and build its report."""
    first, end = query.hours()
    hourly = {h: Counter(f) for h, f in (await store.hours(first, end)).items()}
    notes = await store.notes(first, end) if query.name in ("satisfaction", "overview") else []
    return build(query, hourly, notes)
