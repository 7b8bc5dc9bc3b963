"""Working hours, parsed once for the whole daemon: days (`mon`, `monday`, `mon-fri`), time
windows (`08:30-18:00`, `22:00-06:00` crossing midnight), an IANA timezone, and `WorkingHours`,
the pure answer to "open now? open next when? open since when?". The phone channel's
`working_hours` and the rules' `time` condition both read theirs here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frontdesk.router.conf.yaml import Checker, Path, items, strings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS = {name: i for names in (DAYS, _FULL_DAYS) for i, name in enumerate(names)}
_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
DAY_S = 86400
_LOOKAHEAD_DAYS = 9  # every weekday comes round within this many days of any date
WEEKDAYS = frozenset(range(5))


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When callbacks are made: on `days` (0 = Monday), in `hours` (seconds of the day, end
    exclusive, up to 86400), local to `zone`. A span whose end is before its start crosses
    midnight and belongs to the day it opens on (`fri 22:00-06:00` includes Saturday 02:00)."""

    zone: ZoneInfo
    days: frozenset[int] = WEEKDAYS
    hours: tuple[tuple[int, int], ...] = ((8 * 3600 + 30 * 60, 18 * 3600),)

    def spans(self, first: date, count: int) -> Iterator[tuple[datetime, datetime]]:
        """The open spans (UTC) opening on `count` local days from `first`, in order of day."""
        for n in range(count):
            day = first + timedelta(days=n)
            if day.weekday() not in self.days:
                continue
            midnight = datetime.combine(day, clock())
            for start, end in sorted(self.hours):
                end = end if end > start else end + DAY_S
                yield (
                    self._utc(midnight + timedelta(seconds=start)),
                    self._utc(midnight + timedelta(seconds=end)),
                )

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def _near(self, when: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Spans from the local day before `when` on, for a bounded number of days."""
        yesterday = when.astimezone(self.zone).date() - timedelta(days=1)
        return self.spans(yesterday, _LOOKAHEAD_DAYS)

    def open_at(self, when: datetime) -> bool:
        when = utc(when)
        return any(o <= when < c for o, c in self._near(when))

    def next_open(self, when: datetime) -> datetime | None:
        """The first instant at or after `when` inside working hours; None when there is none
        (no working days)."""
        when = utc(when)
        starts = [max(o, when) for o, c in self._near(when) if c > when]
        return min(starts) if starts else None

    def meets(self, start: datetime, until: datetime | None, now: datetime) -> bool:
        """Is any of [start, until) still ahead of `now` inside working hours (`until` None:
        open-ended)?"""
        opens = self.next_open(max(utc(now), utc(start)))
        return opens is not None and (until is None or opens < utc(until))

    def opened(self, when: datetime) -> datetime | None:
        """When the open stretch containing `when` began (adjacent spans joined, looking back at
        most a week); None when closed at `when`."""
        when = utc(when)
        first = when.astimezone(self.zone).date() - timedelta(days=8)
        spans = sorted(self.spans(first, 10))
        containing = [o for o, c in spans if o <= when < c]
        if not containing:
            return None
        start = min(containing)
        for o, c in reversed(spans):
            if o < start <= c:
                start = o
        return start

    def describe(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days))
        spans = ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in self.hours)
        return f"{days} {spans} {self.zone.key}"


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


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


def parse_working_hours(check: Checker, path: Path, value: object) -> WorkingHours | None:
    """`{timezone: Asia/Shanghai, days: mon-fri, hours: "08:30-18:00"}`; days and hours may be
    lists; days default to mon-fri, hours to 08:30-18:00."""
    w = check.mapping(path, value, ["timezone", "days", "hours"])
    if value is not None and not isinstance(value, dict):
        return None
    zone = parse_zone(check, (*path, "timezone"), w.get("timezone"))
    days = parse_days(check, (*path, "days"), w.get("days", "mon-fri"))
    spans = parse_windows(check, (*path, "hours"), w.get("hours", "08:30-18:00"))
    if zone is None or not days or not spans:
        return None
    return WorkingHours(zone, days, spans)
