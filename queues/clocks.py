"""A request's service-level clocks as the scripts keep them (the request hash's `sla` field,
JSON written by lua/includes/clocks.lua), decoded for the request view, the accept answer and
the customer's status page. Their meaning: router/sla/policy.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Clock:
    """One target's clock as a request keeps it (the request view, accept answer, status page).

    `state`: idle (next_response before a customer's follow-up), running, paused (the request
    waits on the customer), met, stopped (the request closed without it). Instants are ms on
    the Redis clock; `breached_ms` stays set when a breached target is met late."""

    target: str
    state: str
    within_ms: int
    calendar: str | None
    started_ms: int | None
    due_ms: int | None
    warning_ms: int | None
    paused_ms: int  # time spent paused so far (wall ms)
    left_ms: int | None  # while paused: the target's time still to run (working ms)
    warned_ms: int | None
    breached_ms: int | None
    met_ms: int | None
    cycles: int = 0  # next_response: how many customer follow-ups started it


@dataclass(frozen=True, slots=True)
class Clocks:
    """Every clock of a request, and its policy."""

    policy: str
    clocks: tuple[Clock, ...] = field(default=())

    def nearest_due_ms(self) -> int | None:
        running = [c.due_ms for c in self.clocks if c.state == "running" and c.due_ms]
        return min(running) if running else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def decode_clocks(raw: str | bytes | None) -> Clocks | None:
    """The clocks the scripts stored (the request hash's `sla` field); None when it has none."""
    if not raw:
        return None
    doc = json.loads(raw)
    clocks = []
    for t in doc.get("t", []):
        clocks.append(
            Clock(
                target=str(t["n"]),
                state=str(t.get("s", "new")),
                within_ms=int(t["d"]),
                calendar=t.get("c") or None,
                started_ms=_int(t.get("st")),
                due_ms=_int(t.get("due")),
                warning_ms=_int(t.get("wd")),
                paused_ms=_int(t.get("pt")) or 0,
                left_ms=_int(t.get("left")),
                warned_ms=_int(t.get("wa")),
                breached_ms=_int(t.get("br")),
                met_ms=_int(t.get("met")),
                cycles=_int(t.get("cy")) or 0,
            )
        )
    return Clocks(str(doc.get("p", "")), tuple(clocks))


def clock_views(clocks: Clocks | None, now_ms: int) -> dict[str, object] | None:
    """The clocks as the API shows them: each target's state, due instant, remaining time."""
    if clocks is None:
        return None
    out = []
    for c in clocks.clocks:
        view: dict[str, object] = {
            "target": c.target,
            "state": c.state,
            "within_s": c.within_ms / 1000,
            "calendar": c.calendar,
            "started_at": _seconds(c.started_ms),
            "due_at": _seconds(c.due_ms),
            "paused_s": c.paused_ms / 1000,
            "warned_at": _seconds(c.warned_ms),
            "breached": c.breached_ms is not None,
            "breached_at": _seconds(c.breached_ms),
            "met_at": _seconds(c.met_ms),
        }
        if c.state == "running" and c.due_ms is not None:
            view["remaining_s"] = (c.due_ms - now_ms) / 1000
        if c.state == "paused" and c.left_ms is not None:
            view["remaining_s"] = c.left_ms / 1000
        out.append(view)
    return {"policy": clocks.policy, "targets": out}


def _seconds(ms: int | None) -> str | None:
    """An instant in ms as ISO 8601 (UTC), as the rest of the request view gives instants."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms is not None else None


def urgency(due_ms: int | None, span_ms: int | None, now_ms: int) -> float:
    """How near a request is to its nearest breach, in [0, 1]: the share of its target's time
    (from its start to its due instant, wall ms) already gone; 1 at and after the breach, 0 for
    a request with no running clock."""
    if due_ms is None or not span_ms or span_ms <= 0:
        return 0.0
    gone = 1.0 - (due_ms - now_ms) / span_ms
    return min(max(gone, 0.0), 1.0)
