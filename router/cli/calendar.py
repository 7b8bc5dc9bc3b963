"""`frontdesk calendar`: check a business calendar before trusting it.

    frontdesk calendar due --config PATH --calendar NAME --from ISO8601 --add DURATION
    frontdesk calendar show --config PATH --calendar NAME --from DATE --days N

`due` prints the instant by which DURATION (`2h`, `90m`, `24h`, `3d` of working time) has passed
from --from (an ISO 8601 instant; without an offset, in the calendar's timezone), as ISO 8601 in
the calendar's timezone, on one line. `show` prints each local day's working intervals, or
"closed" and why (a weekend, a holiday), and marks the extra working days.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta

from frontdesk.router.conf.calendar import Calendar, add
from frontdesk.router.conf.yaml import ConfigError, parse_duration
from frontdesk.router.daemon.settings import load_settings

EXIT_USAGE = 64
EXIT_CONFIG = 2
MAX_DAYS = 366
MAX_ADD_S = 366 * 86400  # working time to add, at most (timedelta overflows far beyond)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk calendar", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    due = verbs.add_parser("due", help="the due instant after a working duration")
    show = verbs.add_parser("show", help="each day's working intervals")
    for p in (due, show):
        p.add_argument("--config", required=True, help="the config file")
        p.add_argument("--calendar", required=True, help="a name under calendars:")
    due.add_argument("--from", dest="start", required=True, help="ISO 8601 instant")
    due.add_argument("--add", required=True, help="working time: 2h, 90m, 24h, 3d")
    show.add_argument("--from", dest="start", required=True, help="a date: 2026-10-01")
    show.add_argument("--days", type=int, default=14, help=f"how many days (1-{MAX_DAYS})")
    return parser


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def day_line(calendar: Calendar, day: date) -> str:
    """One local day: its intervals, or closed and why."""
    name = day.strftime("%a")
    hours = calendar.hours_on(day)
    unknown = ""
    if calendar.known_until is not None and day > calendar.known_until:
        unknown = f" (public holidays known only up to {calendar.known_until})"
    if day in calendar.holidays:
        why = calendar.reasons.get(day)
        return f"{day} {name} closed (holiday{': ' + why if why else ''})"
    if not hours:
        return f"{day} {name} closed (no working hours on {name}){unknown}"
    spans = ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in hours)
    extra = " (extra working day)" if day in calendar.working_days else ""
    if calendar.closures:
        return _with_closures(calendar, day, name, extra, unknown)
    return f"{day} {name} {spans}{extra}{unknown}"


def _hm(calendar: Calendar, when: datetime, day: date) -> str:
    """`when` as HH:MM on local `day` (its end, the next midnight, is 24:00)."""
    local = when.astimezone(calendar.zone)
    return "24:00" if local.date() > day else f"{local:%H:%M}"


def _with_closures(calendar: Calendar, day: date, name: str, extra: str, unknown: str) -> str:
    """A day with timed closures (an iCalendar file's events): what is left open, and why."""
    zone = calendar.zone
    left = [(a, b) for a, b in calendar.spans(day) if a.astimezone(zone).date() == day]
    begin = datetime.combine(day, time(), zone)
    end = begin + timedelta(days=1)
    notes = [
        f"closed {_hm(calendar, max(a, begin), day)}-{_hm(calendar, min(b, end), day)}: {why}"
        for a, b, why in calendar.closure_names
        if a < end and b > begin
    ]
    open_text = ", ".join(f"{_hm(calendar, a, day)}-{_hm(calendar, b, day)}" for a, b in left)
    note = f" ({'; '.join(notes)})" if notes else ""
    return f"{day} {name} {open_text or 'closed'}{note}{extra}{unknown}"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    calendar = settings.calendars.get(args.calendar)
    if calendar is None:
        known = ", ".join(sorted(settings.calendars)) or "none"
        print(f"no calendar {args.calendar!r} in {args.config} (calendars: {known})",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if args.verb == "show":
        try:
            first = date.fromisoformat(args.start)
        except ValueError:
            print(f"--from: {args.start!r} is not a date such as 2026-10-01", file=sys.stderr)
            return EXIT_USAGE
        if not 1 <= args.days <= MAX_DAYS:
            print(f"--days: from 1 to {MAX_DAYS}", file=sys.stderr)
            return EXIT_USAGE
        for n in range(args.days):
            print(day_line(calendar, first + timedelta(days=n)))
        return 0
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError:
        print(f"--from: {args.start!r} is not an ISO 8601 instant", file=sys.stderr)
        return EXIT_USAGE
    if start.tzinfo is None:
        start = start.replace(tzinfo=calendar.zone)
    seconds = parse_duration(args.add)
    if seconds is None or not 0 <= seconds <= MAX_ADD_S:
        print(f"--add: {args.add!r} is not a duration such as 2h, 90m or 3d (a year at most)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    try:
        due = add(calendar, start, timedelta(seconds=seconds))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    print(due.astimezone(calendar.zone).isoformat())
    return 0
