"""Public holidays from the libraries (router/conf/public_holidays.py) in the example config's
`desk` calendar: the issue's seed cases written out by hand, China's Spring Festival 2026 with
its adjusted working Saturdays, a request on a public holiday, and the operator's own dates
winning over the library's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from frontdesk.router.cli.calendar import day_line
from frontdesk.router.conf.calendar import add, next_opening
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.settings import load_settings, parse_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def desk(repo_root: Path):
    return load_settings(repo_root / "config" / "frontdesk.example.yaml").calendars["desk"]


def test_an_email_on_friday_at_1730_with_two_working_hours_is_due_monday_at_ten(desk) -> None:
    assert add(desk, sh(2026, 12, 4, 17, 30), timedelta(hours=2)) == sh(2026, 12, 7, 10)


def test_spring_festival_2026_and_its_adjusted_working_saturdays(desk) -> None:
    assert date(2026, 2, 14) in desk.working_days  # Saturday, worked before the festival
    assert date(2026, 2, 28) in desk.working_days  # Saturday, worked after it
    assert all(date(2026, 2, d) in desk.holidays for d in range(15, 24))
    # Friday the 13th, 17:00 + 2 h: one hour Friday, one on the worked Saturday
    assert add(desk, sh(2026, 2, 13, 17), timedelta(hours=2)) == sh(2026, 2, 14, 9, 30)
    # Saturday the 14th, 17:00 + 2 h: the festival closes the 15th to the 23rd
    assert add(desk, sh(2026, 2, 14, 17), timedelta(hours=2)) == sh(2026, 2, 24, 9, 30)
    assert day_line(desk, date(2026, 2, 16)) == "2026-02-16 Mon closed (holiday: Spring Festival)"
    assert day_line(desk, date(2026, 2, 14)).endswith("08:30-18:00 (extra working day)")


def test_a_request_on_a_public_holiday_starts_when_the_desk_opens_again(desk) -> None:
    # National Day 2026: the 1st to the 7th of October are closed
    assert next_opening(desk, sh(2026, 10, 1, 10)) == sh(2026, 10, 8, 8, 30)
    assert add(desk, sh(2026, 10, 1, 10), timedelta(hours=2)) == sh(2026, 10, 8, 10, 30)
    # created at night, outside the calendar (the GLPI case): due counted from the opening
    assert add(desk, sh(2026, 12, 8, 23), timedelta(hours=1)) == sh(2026, 12, 9, 9, 30)


def test_the_operators_dates_win_and_the_library_says_how_far_it_knows(desk) -> None:
    text = """\
queues: {general: {}}
default_queue: general
calendars:
  desk:
    timezone: Asia/Shanghai
    hours: {mon-fri: "08:30-18:00"}
    public_holidays: CN
    working_days: [2026-02-16]
    holidays: [2026-02-14]
  berlin:
    timezone: Europe/Berlin
    hours: {mon-fri: "09:00-17:00"}
    public_holidays: DE
"""
    cals = parse_settings(text, "own.yaml").calendars
    assert date(2026, 2, 16) not in cals["desk"].holidays  # opened on a festival day
    assert date(2026, 2, 16) in cals["desk"].working_days
    assert date(2026, 2, 14) in cals["desk"].holidays  # closed on the adjusted Saturday
    assert date(2026, 2, 14) not in cals["desk"].working_days
    assert cals["desk"].known_until is not None and cals["desk"].known_until.year >= 2026
    assert date(2026, 12, 25) in cals["berlin"].holidays  # from python-holidays
    assert cals["berlin"].reasons[date(2026, 12, 25)]
    later = date(cals["desk"].known_until.year + 1, 3, 2)
    assert "public holidays known only up to" in day_line(cals["desk"], later)


def test_an_unknown_country_is_a_config_error_with_its_line() -> None:
    text = """\
queues: {general: {}}
default_queue: general
calendars:
  desk:
    timezone: Asia/Shanghai
    hours: {mon-fri: "08:30-18:00"}
    public_holidays: XX
"""
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "bad.yaml")
    [problem] = caught.value.problems
    assert problem.line == 7 and "XX" in problem.message
