"""Working hours, parsed once for the whole daemon: days (`mon`, `monday`, `mon-fri`), time
windows (`08:30-18:00`, `22:00-06:00` crossing midnight), an IANA timezone. Inline working
hours become a `Calendar` (router/conf/calendar.py), the one answer to "open now? open next
when? open since when?": the phone channel's `working_hours`, its callback windows, the rules'
`time` condition and the service levels all ask a calendar."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frontdesk.router.conf.calendar import Calendar, union
from frontdesk.router.conf.yaml import Checker, Path, items, strings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS = {name: i for names in (DAYS, _FULL_DAYS) for i, name in enumerate(names)}
_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
DAY_S = 86400
CALENDAR_NAME = r"^[a-z][a-z0-9_-]{0,63}$"
WEEKDAYS = frozenset(range(5))


def working_hours(
    zone: ZoneInfo,
    days: frozenset[int] = WEEKDAYS,
    hours: tuple[tuple[int, int], ...] = ((8 * 3600 + 30 * 60, 18 * 3600),),
    name: str = "working_hours",
) -> Calendar:
    """Inline working hours as a calendar: on `days` (0 = Monday), in `hours` (seconds of the
    day, end exclusive, up to 86400), local to `zone`. A window whose end is before its start
    crosses midnight and belongs to the day it opens on (`fri 22:00-06:00` includes Saturday
    02:00): its hours after midnight are the next day's, touching the evening's, so the stretch
    reads as one."""
    week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for day in days:
        for start, end in hours:
            if end > start:
                week[day].append((start, end))
            else:
                week[day].append((start, DAY_S))
                if end:
                    week[(day + 1) % 7].append((0, end))
    return Calendar(name, zone, tuple(union(w) for w in week))


def utc(when: datetime) -> datetime:
    """`when` in UTC; a naive datetime is refused (ValueError)."""
    if when.utcoffset() is None:
        raise ValueError("needs a timezone-aware datetime")
    return when.astimezone(UTC)


def _day(text: str) -> int | None:
    return _DAY_NUMBERS.get(text.strip().casefold())


def _day_range(check: Checker, path: Path, value: object) -> list[int]:
    """`mon`, `monday`, or a range such as `mon-fri` (`fri-mon` wraps the week)."""
    text = check.string(path, value)
    if text is None:
        return []
    first, _, last = text.partition("-")
    start, end = _day(first), _day(last) if last else None
    if start is None or (last and end is None):
        check.error(path, f"{text!r} is not a day ({', '.join(DAYS)}) or a range such as mon-fri")
        return []
    if end is None:
        return [start]
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]


def window(text: str) -> tuple[int, int] | str:
    """Seconds of the day (start, end) of `HH:MM-HH:MM`, or what is wrong with it."""
    m = _WINDOW.fullmatch(text)
    hint = f"{text!r} is not a time window such as 08:30-18:00 or 22:00-06:00"
    if not m:
        return hint
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        return hint
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if start == end:
        return f"{text!r} is empty: its start and end are the same time"
    return start, end


def parse_days(check: Checker, path: Path, value: object) -> frozenset[int]:
    """One day or range, or a list of them (0 = Monday)."""
    return frozenset(d for p, v in items(check, path, value) for d in _day_range(check, p, v))


def parse_windows(check: Checker, path: Path, value: object) -> tuple[tuple[int, int], ...]:
    """One `HH:MM-HH:MM` or a list of them, as seconds of the day (start, end)."""
    found = []
    for where, text in strings(check, path, value):
        span = window(text)
        if isinstance(span, str):
            check.error(where, span)
        else:
            found.append(span)
    return tuple(found)


def parse_zone(check: Checker, path: Path, value: object) -> ZoneInfo | None:
    """An IANA timezone name."""
    name = check.string(path, value)
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = "use an IANA name such as Asia/Shanghai or UTC"
        check.error(path, f"unknown timezone {name!r}; {hint}")
        return None


def parse_working_hours(check: Checker, path: Path, value: object) -> Calendar | str | None:
    """`{timezone: Asia/Shanghai, days: mon-fri, hours: "08:30-18:00"}` (days and hours may be
    lists; days default to mon-fri, hours to 08:30-18:00), or the name of a calendar in
    `calendars:`, returned as the name for the caller to look up (`resolve_calendar`)."""
    if isinstance(value, str):
        return check.string(path, value, CALENDAR_NAME)
    w = check.mapping(path, value, ["timezone", "days", "hours"])
    if value is not None and not isinstance(value, dict):
        return None
    zone = parse_zone(check, (*path, "timezone"), w.get("timezone"))
    days = parse_days(check, (*path, "days"), w.get("days", "mon-fri"))
    spans = parse_windows(check, (*path, "hours"), w.get("hours", "08:30-18:00"))
    if zone is None or not days or not spans:
        return None
    return working_hours(zone, days, spans)


def resolve_calendar(
    check: Checker, path: Path, name: str, calendars: dict[str, Calendar]
) -> Calendar | None:
    """The calendar `name` names, or a problem at `path` saying which there are."""
    if name in calendars:
        return calendars[name]
    known = ", ".join(sorted(calendars)) or "none defined"
    check.error(path, f"names no calendar under calendars: {name!r} (there: {known})")
    return None
