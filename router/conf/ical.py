"""A calendar's closures from an iCalendar file (RFC 5545), as Zammad's calendars take an iCal
feed: every event of the file is a time the desk is closed.

- an all-day event (`DTSTART;VALUE=DATE`) closes its days, `DTEND` exclusive (one day without
  it), and its `SUMMARY` is the reason `calendar show` prints;
- a timed event closes its span (`DTEND` or `DURATION`); a floating time (no `TZID`, no `Z`) is
  read in the calendar's timezone;
- `RRULE` recurrences are expanded (python-dateutil) and `EXDATE`s left out, within the years
  the calendar loads (the public holidays' window); `STATUS:CANCELLED` events close nothing.

The file is read once, when the config is loaded (and again on SIGHUP); a path is relative to
the config file. Every problem is reported with the calendar's YAML path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from dateutil.rrule import rrulestr

from frontdesk.router.conf.files import beside_config
from frontdesk.router.conf.yaml import Checker, Path

MAX_BYTES = 4 * 1024 * 1024
MAX_OCCURRENCES = 20_000  # closures a file may expand to within the window


@dataclass(slots=True)
class Closures:
    """What a file closes: whole local days (with their names) and timed spans (UTC)."""

    days: dict[date, str] = field(default_factory=dict)
    spans: list[tuple[datetime, datetime, str]] = field(default_factory=list)

    def count(self) -> int:
        return len(self.days) + len(self.spans)


def read_closures(
    check: Checker, path: Path, value: object, zone: ZoneInfo, first: date, last: date
) -> Closures | None:
    """The closures of the file named at `path`, between local days `first` and `last`."""
    name = check.string(path, value)
    if name is None:
        return None
    target = beside_config(check.lines.source, name)
    try:
        with target.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        check.error(path, f"cannot read {str(target)!r}: {exc.strerror or exc}")
        return None
    if len(raw) > MAX_BYTES:
        check.error(path, f"{str(target)!r} is larger than {MAX_BYTES // 1024 // 1024} MB")
        return None
    try:
        parsed = icalendar.Calendar.from_ical(raw)
        return _closures(parsed, zone, first, last)
    except ClosureError as exc:
        check.error(path, f"{str(target)!r}: {exc}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        check.error(path, f"{str(target)!r} is not an iCalendar file: {exc}")
    return None


class ClosureError(ValueError):
    """An event the file has that cannot be read as a closure."""


def _closures(parsed: Any, zone: ZoneInfo, first: date, last: date) -> Closures:
    found = Closures()
    lo = datetime.combine(first, time(), zone)
    hi = datetime.combine(last + timedelta(days=1), time(), zone)
    for event in parsed.walk("VEVENT"):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        summary = str(event.get("SUMMARY", "")).strip() or "closed (iCalendar)"
        try:
            start, end = event.start, event.end
        except Exception as exc:  # icalendar raises its own errors for a missing DTSTART
            raise ClosureError(f"event {summary!r} has no start: {exc}") from None
        whole_day = not isinstance(start, datetime)
        if not whole_day:
            start, end = _aware(start, zone), _aware(end, zone)
        if end <= start and not whole_day:
            raise ClosureError(f"event {summary!r} ends before it starts")
        length = (end - start) if end > start else timedelta(days=1)
        for begin in _occurrences(event, start, lo, hi, zone):
            if not isinstance(begin, datetime):  # an all-day event's day
                for n in range(max(1, length.days)):
                    if first <= begin + timedelta(days=n) <= last:
                        found.days[begin + timedelta(days=n)] = summary
            else:
                close = begin + length
                if close > lo and begin < hi:
                    found.spans.append((begin.astimezone(UTC), close.astimezone(UTC), summary))
            if found.count() > MAX_OCCURRENCES:
                raise ClosureError(f"more than {MAX_OCCURRENCES} closures within the years loaded")
    found.spans.sort()
    return found


def _aware(when: datetime, zone: ZoneInfo) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def _occurrences(
    event: Any, start: date | datetime, lo: datetime, hi: datetime, zone: ZoneInfo
) -> list[date | datetime]:
    """The event's starts within [lo, hi): the one start, or its recurrences less EXDATEs."""
    rules = event.rrules
    if not rules:
        return [start]
    whole_day = not isinstance(start, datetime)
    anchor = datetime.combine(start, time()) if whole_day else start
    skip = {_aware(x, zone) if isinstance(x, datetime) else x for x in event.exdates}
    out: list[date | datetime] = []
    for rule in rules:
        text = rule.to_ical().decode()
        try:
            recur = rrulestr(text, dtstart=anchor)
        except (ValueError, TypeError) as exc:
            raise ClosureError(f"RRULE {text!r}: {exc}") from None
        window = (lo.replace(tzinfo=None), hi.replace(tzinfo=None)) if whole_day else (lo, hi)
        for n, begin in enumerate(recur.xafter(window[0] - timedelta(days=366), inc=True)):
            if begin >= window[1] or n > MAX_OCCURRENCES:
                break
            found: date | datetime = begin.date() if whole_day else begin
            if found not in skip:
                out.append(found)
    return out
