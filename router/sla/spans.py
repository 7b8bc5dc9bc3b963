"""The calendars as the scripts count working time in them: each calendar's working spans
(router/conf/calendar.py, holidays and adjusted working days applied) cut into weeks of the
epoch (`floor(ms / WEEK_MS)`), each week one msgpack list `[open, close, open, close, ...]` in
ms, under `<calendar>:<week>`. Every week from shortly before now to the horizon is present,
empty when closed all week: a week that is absent lies past the horizon."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import msgpack

from frontdesk.router.conf.calendar import Calendar

WEEK_MS = 604_800_000  # as in queues/lua/includes/clocks.lua
BEFORE_DAYS = 14  # a clock paused a while ago counts working time from then
HORIZON_DAYS = 400  # a target of a year of working time, started today, still finds its end


def week_spans(
    calendar: Calendar, now: datetime, before_days: int = BEFORE_DAYS, horizon: int = HORIZON_DAYS
) -> dict[int, list[int]]:
    """Week number -> the flat spans (ms) inside it, for every week from `before_days` before
    `now` to `horizon` days after it."""
    first = now - timedelta(days=before_days)
    last = now + timedelta(days=horizon)
    lo, hi = _ms(first) // WEEK_MS, _ms(last) // WEEK_MS
    weeks: dict[int, list[int]] = {w: [] for w in range(lo, hi + 1)}
    local_first = first.astimezone(calendar.zone).date() - timedelta(days=1)
    for opens, closes in calendar.spans(local_first):
        start, end = _ms(opens), _ms(closes)
        if start // WEEK_MS > hi:
            break
        while start < end:  # cut at week boundaries
            week = start // WEEK_MS
            cut = min(end, (week + 1) * WEEK_MS)
            if lo <= week <= hi:
                weeks[week] += [start, cut]
            start = cut
    return weeks


def packed(
    calendars: Mapping[str, Calendar], now: datetime | None = None
) -> dict[str | bytes, bytes]:
    """Every calendar's weeks as the hash `calendars` keeps them."""
    when = now or datetime.now(UTC)
    out: dict[str | bytes, bytes] = {}
    for name, calendar in calendars.items():
        for week, spans in week_spans(calendar, when).items():
            out[f"{name}:{week}"] = msgpack.packb(spans)
    return out


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
