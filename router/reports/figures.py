"""What each event adds to the report figures: a pure function from one event (and the calendar
that working time is counted by) to its increments, per UTC hour. The live follower
(router/reports/sink.py) and the rebuild from an export (router/reports/rebuild.py) both call it,
so they write the same figures.

A figure's field in its hour's hash is `<figure>|<dimension>|<value>[|<part>]`:

    n|<dim>|<v>                 requests enqueued (dim: all, channel, queue, category, priority)
    done|<dim>|<v>              completed (all, channel, queue, category, agent)
    fcr|<dim>|<v>               of those, resolved at first contact (a reopen takes its
                                completion's back, in the completion's hour)
    ro|<dim>|<v>                reopened (all, channel, queue, category, agent: the last one)
    ab|<dim>|<v>, abw|<dim>|<v> abandoned; abandoned before any agent took it
    tr|<dim>|<v>                transferred (queue: the one it left)
    esc|<dim>|<v>               escalated (also tier: the tier reached, reason)
    h|<metric>|<dim>|<v>|<le>   a histogram: how many took at most `le` seconds (`inf`: more),
    h|<metric>|<dim>|<v>|sum    and the sum of their ms; metric fr (first response), frw (first
                                response in the calendar's working time), res (resolution),
                                wait (to the first agent), handle (taken to completed)
    sla|<policy>|<target>|<o>   o: met, late (met after its breach), breached, warning
    cs|<dim>|<v>|<score>        survey answers by score (all, channel, queue, category, agent)
    qa|<agent>|<dimension>|sum  quality review scores (sum, n), agent `all` for everyone
    ag|<agent>|<what>           offered, rejected, missed, handled, handle_ms, available_ms,
                                away_ms

An empty value (a request with no category) is kept as `-`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.reports import HOUR_MS, Add
from frontdesk.router.conf.calendar import Calendar, between

# a histogram's upper bounds in seconds (those of the first-response histogram on /metrics)
BOUNDS_S: tuple[int, ...] = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800)
BOUNDS_S += (86400, 172800, 604800)
METRICS = ("fr", "frw", "res", "wait", "handle")
LOW_SCORE = 2  # a survey score at or below this is a low one (its comment is kept)
MAX_SPAN_MS = 31 * 86_400_000  # a presence span longer than this counts its last 31 days only
MAX_VALUE = 64
WANTED = frozenset(
    {
        EventType.ENQUEUED, EventType.ACCEPTED, EventType.ASSIGNED, EventType.MESSAGE,
        EventType.COMPLETED, EventType.ABANDONED, EventType.TRANSFERRED, EventType.ESCALATED,
        EventType.SLA_MET, EventType.SLA_BREACHED, EventType.SLA_WARNING, EventType.FEEDBACK,
        EventType.REVIEW_SUBMITTED, EventType.OFFERED, EventType.REJECTED, EventType.EXPIRED,
        EventType.PRESENCE, EventType.REOPENED,
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Basis:
    """What the figures are counted by: the calendar of working time (None: wall time) and
    the highest low survey score."""

    calendar: Calendar | None = None
    low_score: int = LOW_SCORE


def value(raw: str) -> str:
    """A dimension's value as a field part: no `|`, at most 64 characters, `-` for none."""
    cleaned = raw.replace("|", "/").strip()[:MAX_VALUE]
    return cleaned or "-"


def reason_of(note: str) -> str:
    """An escalation's reason: the note's part before a colon (`too_complex: the VPN...`), or
    the note, lower-cased, on one line, at most 40 characters; `-` for none."""
    head = note.partition(":")[0] if ":" in note else note
    return value(" ".join(head.lower().split())[:40])


def bucket(ms: int) -> str:
    """The histogram bucket of a duration: its upper bound in seconds, or `inf`."""
    seconds = ms / 1000
    return next((str(b) for b in BOUNDS_S if seconds <= b), "inf")


def _ms(raw: str | None) -> int | None:
    if raw is None or not raw.lstrip("-").isdigit():
        return None
    return max(int(raw), 0)


class _Adds:
    def __init__(self, hour: int) -> None:
        self.hour = hour
        self.out: list[Add] = []

    def count(
        self, figure: str, dims: dict[str, str], by: int = 1, hour: int | None = None
    ) -> None:
        for dim, v in dims.items():
            self.out.append(
                Add("h", self.hour if hour is None else hour, f"{figure}|{dim}|{v}", by)
            )

    def histogram(self, metric: str, dims: dict[str, str], ms: int) -> None:
        le = bucket(ms)
        for dim, v in dims.items():
            self.out.append(Add("h", self.hour, f"h|{metric}|{dim}|{v}|{le}", 1))
            self.out.append(Add("h", self.hour, f"h|{metric}|{dim}|{v}|sum", ms))


def adds(event: Event, basis: Basis) -> tuple[Add, ...]:
    """What `event` adds to the figures (nothing for an event no figure reads)."""
    if event.type not in WANTED:
        return ()
    d = event.data
    a = _Adds(event.ts_ms // HOUR_MS)
    request = {
        "all": "-",
        "channel": value(d.get("channel", "")),
        "queue": value(event.queue),
        "category": value(d.get("category", "")),
    }
    agent = value(event.agent)
    t = event.type
    if t is EventType.ENQUEUED:
        a.count("n", request | {"priority": value(d.get("priority", ""))})
    elif t in (EventType.ACCEPTED, EventType.ASSIGNED):
        waited = _ms(d.get("wait_ms"))
        if d.get("first") == "1" and waited is not None:
            a.histogram("wait", request, waited)
        _first_response(a, event, request, basis)
    elif t is EventType.MESSAGE:
        _first_response(a, event, request, basis)
    elif t is EventType.COMPLETED:
        a.count("done", request | {"agent": agent})
        if d.get("fcr") == "1":
            a.count("fcr", request | {"agent": agent})
        if (resolved := _ms(d.get("resolution_ms"))) is not None:
            a.histogram("res", request, resolved)
        if (handled := _ms(d.get("handle_ms"))) is not None:
            a.histogram("handle", request | {"agent": agent}, handled)
            a.count("ag", {agent: "handle_ms"}, handled)
        a.count("ag", {agent: "handled"})
    elif t is EventType.REOPENED:
        a.count("ro", request | {"agent": agent})
        closed = _ms(d.get("closed_ms"))
        if d.get("fcr") == "1" and closed is not None:  # it was not resolved at first contact
            dims = request | {"queue": value(d.get("from", "")), "agent": agent}
            a.count("fcr", dims, -1, closed // HOUR_MS)
    elif t is EventType.ABANDONED:
        a.count("ab", request)
        if d.get("taken") == "0":
            a.count("abw", request)
    elif t is EventType.TRANSFERRED:
        a.count("tr", request | {"queue": value(d.get("from", "")), "agent": agent})
    elif t is EventType.ESCALATED:
        dims = request | {"queue": value(d.get("from", "")), "tier": value(d.get("tier", ""))}
        a.count("esc", dims | {"reason": reason_of(d.get("note", ""))})
    elif t in (EventType.SLA_MET, EventType.SLA_BREACHED, EventType.SLA_WARNING):
        outcome = {EventType.SLA_BREACHED: "breached", EventType.SLA_WARNING: "warning"}.get(t)
        if outcome is None:
            outcome = "late" if d.get("breached") == "1" else "met"
        a.count("sla", {value(d.get("policy", "")): f"{value(d.get('target', ''))}|{outcome}"})
    elif t is EventType.FEEDBACK:
        _feedback(a, event, request | {"agent": agent}, basis)
    elif t is EventType.REVIEW_SUBMITTED:
        _review(a, event, agent)
    elif t is EventType.OFFERED:
        a.count("ag", {agent: "offered"})
    elif t is EventType.REJECTED:
        a.count("ag", {agent: "rejected"})
    elif t is EventType.EXPIRED:
        a.count("ag", {agent: "missed"})
    elif t is EventType.PRESENCE:
        _presence(a, event, agent)
    return tuple(a.out)


def _first_response(a: _Adds, event: Event, dims: dict[str, str], basis: Basis) -> None:
    took = _ms(event.data.get("first_response_ms"))
    if took is None:
        return
    a.histogram("fr", dims, took)
    if basis.calendar is not None:
        end = datetime.fromtimestamp(event.ts_ms / 1000, UTC)
        start = datetime.fromtimestamp((event.ts_ms - took) / 1000, UTC)
        took = int(between(basis.calendar, start, end).total_seconds() * 1000)
    a.histogram("frw", dims, took)


def _feedback(a: _Adds, event: Event, dims: dict[str, str], basis: Basis) -> None:
    raw = event.data.get("score", "")
    if not raw.isdigit():
        return
    score = int(raw)
    a.out += [Add("h", a.hour, f"cs|{dim}|{v}|{score}", 1) for dim, v in dims.items()]
    if score <= basis.low_score:
        note = {
            "request": event.request, "at": event.ts_ms, "score": score,
            "comment": event.data.get("comment", ""), "channel": event.data.get("channel", ""),
            "category": event.data.get("category", ""), "agent": event.agent,
        }  # fmt: skip
        a.out.append(Add("n", a.hour, "", json.dumps(note, ensure_ascii=False)))


def _review(a: _Adds, event: Event, agent: str) -> None:
    try:
        scores = json.loads(event.data.get("scores", "{}"))
    except ValueError:
        return
    if not isinstance(scores, dict):
        return
    for who in (agent, "all"):
        a.count("qa", {who: "reviews|n"})
        for dimension, score in sorted(scores.items()):
            if isinstance(score, int) and not isinstance(score, bool):
                part = value(str(dimension))
                a.count("qa", {who: f"{part}|sum"}, score)
                a.count("qa", {who: f"{part}|n"})


def _presence(a: _Adds, event: Event, agent: str) -> None:
    previous, lasted = event.data.get("previous"), _ms(event.data.get("previous_ms"))
    if previous not in ("available", "away") or not lasted:
        return
    for hour, ms in split(event.ts_ms - min(lasted, MAX_SPAN_MS), event.ts_ms):
        a.count("ag", {agent: f"{previous}_ms"}, ms, hour)


def split(start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
    """The span [start, end) as (hour, ms in that hour), hour by hour."""
    at = start_ms
    while at < end_ms:
        hour = at // HOUR_MS
        upto = min((hour + 1) * HOUR_MS, end_ms)
        yield hour, upto - at
        at = upto
