"""Business calendars, pure: when a desk works, and how much working time lies between two
instants. A `Calendar` has an IANA timezone, working intervals for each day of the week (several
a day: `08:30-12:00` and `13:00-18:00`), holidays (closed whatever the weekday) and extra working
days (China's 调休: a Saturday worked around a public holiday, with the hours of `extra_hours`)
and closures (timed spans cut out of the working time: an iCalendar file's events, ical.py).

Three questions, no I/O, every instant timezone-aware (returned in UTC):
- `between(calendar, start, end)`: the working time in [start, end);
- `add(calendar, start, duration)`: the instant by which `duration` of working time has passed
  from `start` (a due time: `between(start, add(start, d)) == d`);
- `next_opening(calendar, when)`: `when` itself while open, else the next interval's start.

Local wall times become instants through the zone (`fold=0`), so a day's intervals last what the
clock says they last, and a day of a DST change is an hour shorter or longer where an interval
spans the change. An interval end of `24:00` is the next local midnight.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import TypeVar
from zoneinfo import ZoneInfo

DAY_S = 86400
T = TypeVar("T", int, datetime)
Interval = tuple[int, int]  # seconds of the local day [start, end), 0 <= start < end <= 86400
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 3660  # a calendar with no working time in ten years is treated as never open


@dataclass(frozen=True, slots=True)
class Calendar:
    """When a desk works. `weekly[0]` is Monday's intervals, `weekly[6]` Sunday's."""

    name: str
    zone: ZoneInfo
    weekly: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()  # worked with `extra_hours`, whatever the weekday
    extra_hours: tuple[Interval, ...] = ()
    reasons: dict[date, str] = field(default_factory=dict, compare=False)  # why a day is closed
    known_until: date | None = None  # public holidays are known up to this day (None: no limit)
    closures: tuple[tuple[datetime, datetime], ...] = ()  # closed spans (UTC), ordered, apart
    closure_names: tuple[tuple[datetime, datetime, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("a calendar has intervals for each of 7 weekdays")
        for intervals in (*self.weekly, self.extra_hours):
            last = 0
            for start, end in intervals:
                if not 0 <= start < end <= DAY_S or start < last:
                    raise ValueError(f"intervals must be ordered and apart: {intervals}")
                last = end

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The working intervals of one local day (none on a holiday)."""
        if day in self.holidays:
            return ()
        if day in self.working_days:
            return self.extra_hours
        return self.weekly[day.weekday()]

    def spans(self, first: date) -> Iterator[tuple[datetime, datetime]]:
        """The working spans (UTC, ordered, apart) from local day `first` on, for at most
        HORIZON_DAYS days."""
        last_end: datetime | None = None
        for n in range(HORIZON_DAYS):
            try:  # the ends of time (datetime.min and .max) have no days beyond them
                day = first + timedelta(days=n)
                midnight = datetime.combine(day, clock())
                ends = [
                    (self._utc(midnight + timedelta(seconds=start)),
                     self._utc(midnight + timedelta(seconds=end)))
                    for start, end in self.hours_on(day)
                ]  # fmt: skip
            except OverflowError:
                return
            for opens, closes in ends:
                if last_end is not None and opens < last_end:  # a wall time DST skipped
                    opens = last_end
                if closes <= opens:
                    continue
                last_end = closes
                if self.closures:
                    yield from self._open_parts(opens, closes)
                else:
                    yield opens, closes

    def _open_parts(self, opens: datetime, closes: datetime) -> Iterator[tuple[datetime, datetime]]:
        """[opens, closes) less the closures (an iCalendar file's timed events)."""
        i = bisect.bisect_right(self.closures, opens, key=lambda c: c[1])
        at = opens
        while i < len(self.closures) and self.closures[i][0] < closes:
            start, end = self.closures[i]
            if start > at:
                yield at, start
            at = max(at, end)
            i += 1
        if at < closes:
            yield at, closes

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    # what a phone callback and a rule's `time` condition ask (callbacks.py, rules.py)
    def open_at(self, when: datetime) -> bool:
        try:
            return is_open(self, when)
        except OverflowError:  # an instant at the ends of time is in no working day
            return False

    def next_open(self, when: datetime) -> datetime | None:
        return next_opening(self, when)

    def meets(self, start: datetime, until: datetime | None, now: datetime) -> bool:
        """Is any of [start, until) still ahead of `now` inside working time (`until` None:
        open-ended)?"""
        opens = next_opening(self, max(_aware(now), _aware(start)))
        return opens is not None and (until is None or opens < _aware(until))

    def opened(self, when: datetime) -> datetime | None:
        """When the open stretch containing `when` began (touching spans joined, as a window
        across midnight is, looking back at most a week); None when closed at `when`."""
        when = _aware(when)
        start = last = None
        for opens, closes in self.spans(_days_before(when.astimezone(self.zone).date(), 8)):
            if opens > when:
                break
            start = start if last is not None and opens == last else opens
            last = closes
        return start if last is not None and when < last else None

    def describe(self) -> str:
        """One line: the calendar's name, weekly hours and zone (`mon-fri 08:30-18:00`)."""
        week = enumerate(self.weekly)
        days = [f"{DAY_NAMES[d]} " + ",".join(map(_hhmm, ivs)) for d, ivs in week if ivs]
        zone = getattr(self.zone, "key", self.zone)
        return f"{self.name}: {'; '.join(days) or 'never open'} ({zone})"

    def _from(self, when: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Spans from the local day before `when` on (a span may open the day before)."""
        return self.spans(_days_before(when.astimezone(self.zone).date(), 1))


def union(spans: Iterable[tuple[T, T]]) -> tuple[tuple[T, T], ...]:
    """Overlapping or touching spans joined, in order: working windows of one day (seconds),
    an iCalendar file's closures (instants)."""
    out: list[tuple[T, T]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def _days_before(day: date, n: int) -> date:
    return day - timedelta(days=min(n, (day - date.min).days))


def _hhmm(interval: Interval) -> str:
    return "-".join(f"{t // 3600:02d}:{t % 3600 // 60:02d}" for t in interval)


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return when.astimezone(UTC)


def between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """The working time in [start, end); zero when end is not after start."""
    start, end = _aware(start), _aware(end)
    total = timedelta()
    if end <= start:
        return total
    for opens, closes in calendar._from(start):
        if opens >= end:
            break
        if closes > start:
            total += min(closes, end) - max(opens, start)
    return total


def add(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The first instant by which `duration` of working time has passed since `start`
    (`start` itself for no duration). Raises ValueError when the calendar never opens again."""
    start = _aware(start)
    if duration < timedelta():
        raise ValueError("a duration to add is not negative")
    if not duration:
        return start
    left = duration
    for opens, closes in calendar._from(start):
        if closes <= start:
            continue
        begin = max(opens, start)
        if closes - begin >= left:
            return begin + left
        left -= closes - begin
    raise ValueError(f"calendar {calendar.name} has no working time left within its horizon")


def next_opening(calendar: Calendar, when: datetime) -> datetime | None:
    """`when` while the calendar is open, else the start of its next working span (None if it
    never opens again within its horizon)."""
    when = _aware(when)
    for opens, closes in calendar._from(when):
        if closes > when:
            return max(opens, when)
    return None


def is_open(calendar: Calendar, when: datetime) -> bool:
    return next_opening(calendar, when) == _aware(when)
