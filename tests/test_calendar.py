"""Business calendars (router/conf/calendar.py), pure: the laws of working time, checked by
hypothesis across DST changes (Europe/Berlin) and a whole year, and known answers for a desk in
Shanghai with a holiday and an adjusted working Saturday."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.router.conf.calendar import (
    DAY_S,
    Calendar,
    add,
    between,
    is_open,
    next_opening,
)

H = 3600
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = ((8 * H + 30 * 60, 18 * H),)  # 08:30-18:00


def desk() -> Calendar:
    """Mon-Fri 08:30-18:00 in Shanghai; 2026-10-01..07 closed (National Day), Saturday
    2026-10-10 worked (调休)."""
    holidays = frozenset(date(2026, 10, d) for d in range(1, 8))
    return Calendar(
        "desk", SHANGHAI, (OFFICE,) * 5 + ((), ()), holidays,
        frozenset({date(2026, 10, 10)}), OFFICE,
    )  # fmt: skip


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_a_due_time_skips_the_evening_the_weekend_and_the_holiday():
    cal = desk()
    # Friday 2026-09-25 17:00 + 2 working hours: 1 h on Friday, 1 h on Monday from 08:30
    assert add(cal, sh(2026, 9, 25, 17), timedelta(hours=2)) == sh(2026, 9, 28, 9, 30)
    # Wednesday 2026-09-30 17:00 + 2 h: the 1st-7th are closed, the 8th is Thursday
    assert add(cal, sh(2026, 9, 30, 17), timedelta(hours=2)) == sh(2026, 10, 8, 9, 30)
    # Friday 2026-10-09 17:30 + 1 h: Saturday the 10th is worked
    assert add(cal, sh(2026, 10, 9, 17, 30), timedelta(hours=1)) == sh(2026, 10, 10, 9)


def test_a_request_made_at_night_starts_at_the_next_opening():
    cal = desk()
    assert next_opening(cal, sh(2026, 9, 28, 3)) == sh(2026, 9, 28, 8, 30)
    assert next_opening(cal, sh(2026, 9, 28, 10)) == sh(2026, 9, 28, 10)  # open: now
    assert next_opening(cal, sh(2026, 10, 3, 10)) == sh(2026, 10, 8, 8, 30)
    assert is_open(cal, sh(2026, 10, 10, 9)) and not is_open(cal, sh(2026, 10, 11, 9))


def test_working_time_between_counts_only_the_open_intervals():
    cal = desk()
    week = between(cal, sh(2026, 9, 21), sh(2026, 9, 28))  # Monday to Monday
    assert week == timedelta(hours=5 * 9.5)
    assert between(cal, sh(2026, 10, 1), sh(2026, 10, 8)) == timedelta()  # the holiday
    assert between(cal, sh(2026, 9, 28, 12), sh(2026, 9, 28, 11)) == timedelta()


def test_a_day_of_a_dst_change_lasts_what_the_clock_says():
    nights = Calendar("nights", BERLIN, (((0, DAY_S),),) * 7)

    def day(month: int, d: int) -> timedelta:
        start = datetime(2026, month, d, tzinfo=BERLIN)
        return between(nights, start, datetime(2026, month, d + 1, tzinfo=BERLIN))

    # 2026-03-29: clocks go 02:00 -> 03:00 (23 h); 2026-10-25: 03:00 -> 02:00 (25 h)
    spring, autumn = day(3, 29), day(10, 25)
    assert day(3, 28) == timedelta(hours=24)
    assert (spring, autumn) == (timedelta(hours=23), timedelta(hours=25))
    early = Calendar("early", BERLIN, (((1 * H, 2 * H + 1800), (2 * H + 1800, 4 * H)),) * 7)
    day = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert between(early, day, day + timedelta(days=1)) == timedelta(hours=2)  # 02:00-03:00 skipped


def test_a_calendar_is_checked_and_naive_instants_refused():
    with pytest.raises(ValueError, match="ordered"):
        Calendar("bad", BERLIN, (((10 * H, 9 * H),),) * 7)
    with pytest.raises(ValueError, match="7 weekdays"):
        Calendar("bad", BERLIN, (OFFICE,) * 5)
    with pytest.raises(ValueError, match="timezone-aware"):
        add(desk(), datetime(2026, 9, 28, 9), timedelta(hours=1))
    closed = Calendar("closed", BERLIN, ((),) * 7)
    with pytest.raises(ValueError, match="no working time"):
        add(closed, datetime(2026, 1, 1, tzinfo=UTC), timedelta(seconds=1))
    assert next_opening(closed, datetime(2026, 1, 1, tzinfo=UTC)) is None


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    def day() -> tuple[tuple[int, int], ...]:
        cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))  # quarter hours
        pairs = list(zip(cuts[0::2], cuts[1::2], strict=False))
        return tuple((a * 900, b * 900) for a, b in pairs if a < b)

    weekly = tuple(day() for _ in range(7))
    if not any(weekly):
        weekly = (OFFICE, *weekly[1:])
    dates = st.dates(date(2026, 1, 1), date(2027, 12, 31))
    holidays = frozenset(draw(st.lists(dates, max_size=20)))
    extra = frozenset(draw(st.lists(dates, max_size=5))) - holidays
    zone = draw(st.sampled_from([BERLIN, SHANGHAI, ZoneInfo("America/New_York")]))
    # closures (an iCalendar file's timed events): spans of up to three days, merged
    begins = draw(st.lists(st.integers(0, 365 * DAY_S // 900), max_size=8))
    cuts = sorted((t * 900, t * 900 + draw(st.integers(1, 3 * DAY_S // 900)) * 900) for t in begins)
    merged: list[list[int]] = []
    for a, b in cuts:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    year = datetime(2026, 1, 1, tzinfo=UTC)
    closures = tuple((year + timedelta(seconds=a), year + timedelta(seconds=b)) for a, b in merged)
    return Calendar("drawn", zone, weekly, holidays, extra, OFFICE, closures=closures)


instants = st.integers(0, 365 * DAY_S).map(
    lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s)
)
durations = st.integers(0, 400 * H).map(lambda s: timedelta(seconds=s))


@settings(max_examples=300, deadline=None)
@given(calendars(), instants, durations)
def test_the_working_time_until_a_due_time_is_the_duration_added(cal, t, d):
    due = add(cal, t, d)
    assert due >= t
    assert between(cal, t, due) == d
    if d:  # the first instant: a second earlier, less has passed
        assert between(cal, t, due - timedelta(seconds=1)) < d


@settings(max_examples=300, deadline=None)
@given(calendars(), instants, durations, durations)
def test_working_time_and_due_times_are_monotonic(cal, t, d1, d2):
    small, large = sorted((d1, d2))
    assert add(cal, t, small) <= add(cal, t, large)
    later = t + small
    assert add(cal, t, large) <= add(cal, later, large)  # a later start is never due sooner
    end = t + large
    assert between(cal, t, t + small) <= between(cal, t, end)  # grows with the end
    assert between(cal, later, end) <= between(cal, t, end)  # shrinks as the start moves on


@settings(max_examples=200, deadline=None)
@given(calendars(), instants)
def test_the_next_opening_is_open_and_nothing_opens_before_it(cal, t):
    opening = next_opening(cal, t)
    assert opening is not None and opening >= t
    assert is_open(cal, opening)
    assert between(cal, t, opening) == timedelta()
