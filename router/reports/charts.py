"""Charts as inline SVG, drawn by matplotlib (its SVG backend, no GUI, no pyplot state): volume
per hour by channel, the first-response distribution, service-level attainment and the
satisfaction trend for the reports, and the line charts of `frontdesk bench load`. The SVG goes
straight into the page, so a report works without JavaScript and a saved file is whole."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, cast

import matplotlib
from matplotlib import dates as mdates
from matplotlib.figure import Figure  # a figure of its own, no pyplot: no GUI backend, no state

from frontdesk.router.reports.figures import BOUNDS_S
from frontdesk.router.reports.tables import Table, buckets_of, ratio, summed

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable
    "svg.hashsalt": "frontdesk",  # the same figures draw the same file
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "axes.prop_cycle": cast(Any, matplotlib).cycler(color=COLOURS),
}
_PROLOG = re.compile(r"\A.*?(?=<svg)", re.DOTALL)


def _style() -> AbstractContextManager[None]:
    """matplotlib's settings for these charts, for the time of one drawing."""
    return cast(AbstractContextManager[None], matplotlib.rc_context(cast(Any, STYLE)))


def _figure(width: float = 7.5, height: float = 2.8) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: Figure, title: str) -> str:
    """The figure as an inline <svg> element (no XML prolog), titled for screen readers."""
    out = io.StringIO()
    with _style():
        fig.savefig(out, format="svg", metadata={"Title": title, "Date": None})
    return _PROLOG.sub("", out.getvalue(), count=1)


def line_chart(title: str, series: Mapping[str, Sequence[float | None]], unit: str) -> str:
    """Per-second series as lines (`frontdesk bench load`): x in seconds, y in `unit`."""
    with _style():
        fig = _figure(8, 2.8)
        ax = fig.add_subplot()
        for name, values in series.items():
            points = [(i, v) for i, v in enumerate(values) if v is not None]
            ax.plot([x for x, _ in points], [y for _, y in points], label=name, linewidth=1.4)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_xlabel(f"seconds; {unit}")
        ax.set_ylim(bottom=0)
        if series:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return to_svg(fig, title)


def volume_per_hour(table: Table) -> str:
    """Requests enqueued per hour, stacked by channel, in the report's timezone."""
    title = "Requests per hour by channel"
    zone = table.query.zone
    first, end = table.query.hours()
    hours = list(range(first, end))
    channels = sorted({k.split("|")[2] for f in table.hourly.values() for k in f
                       if k.startswith("n|channel|")})  # fmt: skip
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        x = [datetime.fromtimestamp(h * 3600, zone) for h in hours]
        bottom = [0] * len(hours)
        for channel in channels:
            counts = [table.hourly.get(h, Counter())[f"n|channel|{channel}"] for h in hours]
            ax.bar(cast(Any, x), counts, width=1 / 24, bottom=bottom, align="edge", label=channel)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_ylabel("requests")
        dates = cast(Any, mdates)  # untyped
        locator = dates.AutoDateLocator(tz=zone)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=zone))
        if channels:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return to_svg(fig, title)


def _bound(label: str) -> str:
    if label == "inf":
        return f">{_short(BOUNDS_S[-1])}"
    return f"≤{_short(int(label))}"


def _short(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def response_distribution(table: Table, metric: str = "fr") -> str:
    """How many first responses fell in each bucket, per channel (grouped bars)."""
    title = "First response time by channel" if metric == "fr" else "Resolution time by channel"
    figures = summed(table.hourly.values())
    channels = sorted({k.split("|")[3] for k in figures if k.startswith(f"h|{metric}|channel|")})
    per = {c: buckets_of(figures, metric, "channel", c) for c in channels}
    last = max((i for c in per.values() for i, (_, n) in enumerate(c) if n), default=0)
    labels = [_bound(b) for b, _ in (next(iter(per.values()), [])[: last + 1])]
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        width = 0.8 / max(len(channels), 1)
        for j, channel in enumerate(channels):
            counts = [n for _, n in per[channel][: last + 1]]
            ax.bar([i + j * width for i in range(len(counts))], counts, width, label=channel)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_ylabel("requests")
        if channels:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return to_svg(fig, title)


def sla_attainment(table: Table) -> str:
    """Each policy's targets: the share met on time (met / (met + breached))."""
    title = "Service-level attainment (met on time)"
    figures = summed(table.hourly.values())
    pairs = sorted({tuple(k.split("|")[1:3]) for k in figures if k.startswith("sla|")})
    names, shares = [], []
    for policy, target in pairs:
        met, breached = (
            figures[f"sla|{policy}|{target}|met"],
            figures[f"sla|{policy}|{target}|breached"],
        )
        share = ratio(met, met + breached)
        names.append(f"{policy}: {target}")
        shares.append(100 * share if share is not None else 0)
    with _style():
        fig = _figure(7.5, 0.6 + 0.35 * max(len(names), 2))
        ax = fig.add_subplot()
        bars = ax.barh(names, shares, color=[COLOURS[2] if s >= 80 else COLOURS[3] for s in shares])
        ax.bar_label(bars, fmt="%.0f%%", padding=3)
        ax.set_xlim(0, 105)
        ax.invert_yaxis()
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_xlabel("% of targets met on time")
    return to_svg(fig, title)


def satisfaction_trend(table: Table) -> str:
    """The average survey score per period (line) and the answers (bars)."""
    title = "Satisfaction by " + table.query.by
    periods = list(table.periods)
    averages: list[float | None] = []
    answers: list[int] = []
    for period in periods:
        f = table.periods[period]
        scores = {s: f[f"cs|all|-|{s}"] for s in range(1, 6)}
        n = sum(scores.values())
        answers.append(n)
        averages.append(sum(s * c for s, c in scores.items()) / n if n else None)
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        ax.bar(periods, answers, color="#c6dbef", label="answers")
        ax.set_ylabel("answers")
        avg = ax.twinx()
        points = [(p, a) for p, a in zip(periods, averages, strict=True) if a is not None]
        avg.plot([p for p, _ in points], [a for _, a in points], color=COLOURS[1], marker="o",
                 label="average score")  # fmt: skip
        avg.set_ylim(1, 5)
        avg.set_ylabel("average score (1-5)")
        avg.grid(False)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.tick_params(axis="x", labelrotation=30 if len(periods) > 8 else 0)
    return to_svg(fig, title)


CHARTS = {
    "overview": (volume_per_hour, response_distribution, sla_attainment, satisfaction_trend),
    "volume": (volume_per_hour,),
    "response": (response_distribution,),
    "sla": (sla_attainment,),
    "satisfaction": (satisfaction_trend,),
}


def charts(table: Table) -> list[str]:
    """The charts of a report (none for a report that has no picture)."""
    return [draw(table) for draw in CHARTS.get(table.query.name, ())]
