"""Arrivals replayed from an exported event log (JSON lines of the event stream): each request's
arrival, its handle time and, if it hung up, its patience, read from its events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from frontdesk.queues.request import Channel, Priority, SkillRequirement
from frontdesk.router.conf.yaml import ConfigError, Problem
from frontdesk.router.sim.model import CHANNELS, Replayed, ReplayLog
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL, TIERS


@dataclass(slots=True)
class _Seen:
    t_ms: int
    source: int
    answered_ms: int | None = None
    completed_ms: int | None = None
    abandoned_ms: int | None = None


def read_event_log(text: str, source: str, wrap_up_s: float = 0.0) -> ReplayLog:
    """Arrivals from an exported event stream, one JSON object a line (``type``, ``req``,
    ``queue``, ``ts`` in ms, ``agent``, and for ``enqueued`` the ``channel``; optionally
    ``priority``, ``skills`` ({name: level}), ``tier``, ``category``).

    Each ``enqueued`` event is an arrival at its time (relative to the first). The handle time
    of a request is its ``completed`` time minus its ``accepted`` (or ``assigned``) time; the
    patience of a request that the log shows ``abandoned`` before an answer is the time it
    waited. Other event types are read past. Bad lines are reported with their line number."""
    problems: list[Problem] = []
    seen: dict[str, _Seen] = {}
    classes: dict[tuple[Any, ...], int] = {}
    sources: list[Replayed] = []
    first: int | None = None

    def bad(n: int, message: str) -> None:
        problems.append(Problem(source, n, (), message))

    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            bad(n, f"not JSON: {exc.msg}")
            continue
        if not isinstance(event, dict):
            bad(n, "each line must be a JSON object")
            continue
        kind, req = event.get("type"), event.get("req")
        try:
            ts = int(event.get("ts"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            bad(n, f"ts must be milliseconds since the epoch, got {event.get('ts')!r}")
            continue
        if kind != "enqueued":
            found = seen.get(str(req))
            if found is None:
                continue
            if kind in ("accepted", "assigned") and found.answered_ms is None:
                found.answered_ms = ts
            elif kind == "completed" and found.answered_ms is not None:
                found.completed_ms = ts
            elif kind == "abandoned" and found.answered_ms is None:
                found.abandoned_ms = ts
            continue
        key = _replayed(event, n, bad, wrap_up_s)
        if key is None or not isinstance(req, str) or not req:
            if key is not None:
                bad(n, "an enqueued event needs `req`, the request id")
            continue
        if req in seen:
            continue  # enqueued again (a retry): the first one counts
        if key not in classes:
            classes[key] = len(sources)
            sources.append(Replayed(*key))
        first = ts if first is None else min(first, ts)
        seen[req] = _Seen(ts, classes[key])
    if problems:
        raise ConfigError(problems)
    if not seen:
        raise ConfigError([Problem(source, None, (), "no `enqueued` events to replay")])
    assert first is not None
    rows = sorted(seen.values(), key=lambda s: s.t_ms)
    nan = float("nan")
    return ReplayLog(
        path=source,
        sources=tuple(sources),
        t_s=tuple((s.t_ms - first) / 1000 for s in rows),
        source=tuple(s.source for s in rows),
        handle_s=tuple(
            (s.completed_ms - s.answered_ms) / 1000
            if s.completed_ms is not None and s.answered_ms is not None
            else nan
            for s in rows
        ),
        patience_s=tuple(
            (s.abandoned_ms - s.t_ms) / 1000 if s.abandoned_ms is not None else nan for s in rows
        ),
    )


def _replayed(event: dict[str, Any], n: int, bad: Any, wrap_up_s: float) -> tuple[Any, ...] | None:
    queue, channel = event.get("queue"), event.get("channel")
    if not isinstance(queue, str) or not queue:
        bad(n, "an enqueued event needs `queue`")
        return None
    if channel not in CHANNELS:
        bad(n, f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        return None
    priority = event.get("priority", "medium")
    if priority not in [p.value for p in Priority]:
        bad(n, f"priority must be high, medium or low, got {priority!r}")
        return None
    raw_skills = event.get("skills") or {}
    if isinstance(raw_skills, str):  # the stream keeps every field as text
        try:
            raw_skills = json.loads(raw_skills)
        except json.JSONDecodeError:
            raw_skills = None
    if not isinstance(raw_skills, dict) or not all(
        isinstance(v, int) and MIN_LEVEL <= v <= MAX_LEVEL for v in raw_skills.values()
    ):
        bad(n, "skills must be a mapping of skill to a level from 1 to 5")
        return None
    try:
        tier = int(event.get("tier", 1))
    except (TypeError, ValueError):
        tier = 0
    if tier not in TIERS:
        bad(n, f"tier must be 1, 2 or 3, got {event.get('tier')!r}")
        return None
    category = event.get("category")
    skills = tuple(SkillRequirement(str(k), int(v)) for k, v in sorted(raw_skills.items()))
    return (
        f"replay:{queue}",
        Channel(channel),
        queue,
        Priority(priority),
        skills,
        tier,
        category if isinstance(category, str) else None,
        wrap_up_s,
    )
