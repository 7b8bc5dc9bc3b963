"""`calendars:` in the config: named business calendars (router/conf/calendar.py), each problem
reported with its YAML path and line.

    calendars:
      desk:
        timezone: Asia/Shanghai
        hours:                               # weekday or range -> one window or a list
          mon-fri: ["08:30-12:00", "13:00-18:00"]
          sat: "09:00-12:00"
        holidays: [2026-10-01..2026-10-07, 2026-12-25]
        working_days: [2026-10-10]           # worked whatever the weekday (调休)
        working_day_hours: "08:30-18:00"     # their hours; default: Monday's
        public_holidays: CN                  # a country's, from a library (public_holidays.py)
        ical: closures.ics                   # the desk's closures, from an iCalendar file (ical.py)

A date the operator lists wins over the library: a holiday listed is closed, a working day
listed is worked. The iCalendar file's all-day events are holidays the operator listed (one
that falls on a listed working day is reported); its timed events close part of a day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from frontdesk.router.conf.calendar import Calendar, Interval, union
from frontdesk.router.conf.hours import parse_days, parse_windows, parse_zone
from frontdesk.router.conf.ical import read_closures
from frontdesk.router.conf.public_holidays import known_country, public_days
from frontdesk.router.conf.yaml import Checker, Path, items

_KEYS = [
    *("timezone", "hours", "holidays", "working_days", "working_day_hours", "public_holidays"),
    "ical",
]
YEARS_BACK, YEARS_AHEAD = 1, 2  # the public holidays of the years around this one
_NAME = r"^[a-z][a-z0-9_-]{0,63}$"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_RANGE_DAYS = 366


def parse_calendars(check: Checker, value: object) -> dict[str, Calendar]:
    found: dict[str, Calendar] = {}
    for name, raw in check.mapping(("calendars",), value).items():
        path = ("calendars", name)
        if check.string(path, name, _NAME) is None:
            continue
        calendar = parse_calendar(check, path, str(name), raw)
        if calendar is not None:
            found[str(name)] = calendar
    return found


def parse_calendar(check: Checker, path: Path, name: str, value: object) -> Calendar | None:
    c = check.mapping(path, value, _KEYS)
    if not isinstance(value, dict):
        check.error(path, "a calendar is a mapping with timezone, hours, holidays, working_days")
        return None
    zone = parse_zone(check, (*path, "timezone"), c.get("timezone"))
    weekly: list[tuple[Interval, ...]] = [() for _ in range(7)]
    hours = check.mapping((*path, "hours"), c.get("hours"))
    if not hours:
        check.error((*path, "hours"), "names no working hours: e.g. {mon-fri: 08:30-18:00}")
    for days, windows in hours.items():
        where = (*path, "hours", days)
        spans = _windows(check, where, windows)
        for day in sorted(parse_days(check, where, days)):
            if weekly[day]:
                check.error(where, f"gives hours again for a day given before ({days!r})")
            weekly[day] = spans
    extra_raw = c.get("working_day_hours")
    if extra_raw is None:
        extra = weekly[0]
    else:
        extra = _windows(check, (*path, "working_day_hours"), extra_raw)
    holidays = _dates(check, (*path, "holidays"), c.get("holidays"))
    working = _dates(check, (*path, "working_days"), c.get("working_days"))
    for both in sorted(holidays & working):
        check.error((*path, "working_days"), f"{both} is a holiday too")
    reasons: dict[date, str] = {}
    known_until = None
    if "public_holidays" in c:
        where = (*path, "public_holidays")
        code = check.string(where, c["public_holidays"], r"^[A-Z]{2}$")
        if code is not None and not known_country(code):
            check.error(where, f"no public holidays known for {code!r} (an ISO 3166 code: CN, DE)")
        elif code is not None:
            year = date.today().year
            public = public_days(code, year - YEARS_BACK, year + YEARS_AHEAD)
            reasons = {d: n for d, n in public.holidays.items() if d not in working}
            holidays = holidays | frozenset(reasons)
            working = working | frozenset(d for d in public.working_days if d not in holidays)
            known_until = public.covered_until
    closures: tuple[tuple[datetime, datetime], ...] = ()
    named: tuple[tuple[datetime, datetime, str], ...] = ()
    if "ical" in c and zone is not None:
        year = date.today().year
        first, last = date(year - YEARS_BACK, 1, 1), date(year + YEARS_AHEAD, 12, 31)
        found = read_closures(check, (*path, "ical"), c["ical"], zone, first, last)
        if found is not None:
            listed = _dates(check, (*path, "working_days"), c.get("working_days"))
            for both in sorted(listed & found.days.keys()):
                check.error((*path, "ical"), f"closes {both}, listed under working_days")
            reasons |= found.days
            holidays = holidays | frozenset(found.days)
            working = working - frozenset(found.days)
            named = tuple(found.spans)
            closures = union((a, b) for a, b, _ in found.spans)
    if c.get("working_days") is not None and not extra:
        check.error((*path, "working_day_hours"), "the extra working days need hours")
    if zone is None:
        return None
    try:
        return Calendar(
            name, zone, tuple(weekly), holidays, working, extra, reasons, known_until,
            closures, named,
        )  # fmt: skip
    except ValueError as exc:
        check.error((*path, "hours"), str(exc))
        return None


def _windows(check: Checker, path: Path, value: object) -> tuple[Interval, ...]:
    spans = sorted(parse_windows(check, path, value))
    out: list[Interval] = []
    for start, end in spans:
        if end < start:
            check.error(path, "a calendar's window ends by midnight: split one that crosses it")
            continue
        if out and start < out[-1][1]:
            check.error(path, "windows overlap")
            continue
        out.append((start, end))
    return tuple(out)


def _dates(check: Checker, path: Path, value: object) -> frozenset[date]:
    if value is None:
        return frozenset()
    found: set[date] = set()
    for where, item in items(check, path, value):
        if isinstance(item, date):  # YAML reads 2026-10-01 as a date
            found.add(item)
            continue
        text = check.string(where, item)
        if text is None:
            continue
        first, _, last = text.partition("..")
        start, end = _date(first), _date(last) if last else None
        if start is None or (last and end is None):
            hint = "a date (2026-10-01) or a range (2026-10-01..2026-10-07)"
            check.error(where, f"{text!r} is not {hint}")
            continue
        end = end or start
        days = (end - start).days
        if not 0 <= days < MAX_RANGE_DAYS:
            check.error(where, f"{text!r}: a range runs forward, a year at most")
            continue
        found.update(start + timedelta(days=n) for n in range(days + 1))
    return frozenset(found)


def _date(text: str) -> date | None:
    text = text.strip()
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
