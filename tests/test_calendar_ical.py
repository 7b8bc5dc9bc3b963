"""A calendar's closures from an iCalendar file (router/conf/ical.py): all-day events close
days (named in `calendar show`), timed events close part of a day, recurrences are expanded
less their EXDATEs, cancelled events close nothing; the service-level clocks' published spans
leave the closures out; a file that cannot be read is a config problem with its path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgpack
import pytest

from frontdesk.router.cli import calendar as calendar_cli
from frontdesk.router.conf.calendar import add, between, is_open
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.settings import load_settings
from frontdesk.router.sla.spans import WEEK_MS, packed

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSURES = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//frontdesk tests//EN
BEGIN:VEVENT
UID:offsite@example.com
DTSTART;VALUE=DATE:20261223
DTEND;VALUE=DATE:20261226
SUMMARY:Year-end offsite
END:VEVENT
BEGIN:VEVENT
UID:training@example.com
DTSTART;TZID=Asia/Shanghai:20261203T140000
DURATION:PT2H
RRULE:FREQ=WEEKLY;COUNT=3
EXDATE;TZID=Asia/Shanghai:20261210T140000
SUMMARY:Staff training
END:VEVENT
BEGIN:VEVENT
UID:drill@example.com
DTSTART:20261204T090000
DTEND:20261204T100000
SUMMARY:Fire drill
END:VEVENT
BEGIN:VEVENT
UID:cancelled@example.com
DTSTART;VALUE=DATE:20261207
SUMMARY:Cancelled closure
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:audit@example.com
DTSTART;VALUE=DATE:20260105
RRULE:FREQ=YEARLY
SUMMARY:Annual audit
END:VEVENT
END:VCALENDAR
"""
CONFIG = """\
calendars:
  desk:
    timezone: Asia/Shanghai
    hours: {{mon-fri: "08:30-18:00"}}
    ical: {ical}
queues: {{general: {{}}}}
default_queue: general
"""


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "closures.ics").write_text(CLOSURES.replace("\n", "\r\n"), "utf-8")
    path = tmp_path / "frontdesk.yaml"
    path.write_text(CONFIG.format(ical="closures.ics"), "utf-8")  # relative to the config
    return path


def test_all_day_events_close_days_and_timed_ones_part_of_a_day(config: Path) -> None:
    desk = load_settings(config).calendars["desk"]
    assert {date(2026, 12, d) for d in (23, 24, 25)} <= desk.holidays
    assert date(2026, 12, 26) not in desk.holidays  # DTEND is exclusive
    assert desk.reasons[date(2026, 12, 24)] == "Year-end offsite"
    assert date(2026, 12, 7) not in desk.holidays  # cancelled
    year = date.today().year
    assert {date(y, 1, 5) for y in range(2026, year + 3)} <= desk.holidays  # yearly, from 2026
    assert date(2025, 1, 5) not in desk.holidays  # a recurrence starts at its DTSTART
    # training: Thursdays 14:00-16:00, three times less the EXDATE: 3 and 17 December
    assert not is_open(desk, sh(2026, 12, 3, 15)) and is_open(desk, sh(2026, 12, 3, 16))
    assert is_open(desk, sh(2026, 12, 10, 15))  # the excluded occurrence
    assert not is_open(desk, sh(2026, 12, 17, 14)) and not is_open(desk, sh(2026, 12, 24, 14))
    day = between(desk, sh(2026, 12, 3, 0), sh(2026, 12, 4, 0))
    assert day == timedelta(hours=9.5 - 2)
    # the fire drill has no TZID: a floating time, read in the calendar's timezone
    assert not is_open(desk, sh(2026, 12, 4, 9, 30)) and is_open(desk, sh(2026, 12, 4, 10))
    # 2 working hours from Thursday 13:00: 13-14, then 16-17
    assert add(desk, sh(2026, 12, 3, 13), timedelta(hours=2)) == sh(2026, 12, 3, 17)
    # from Tuesday 22 December 17:00, 2 h: 1 h that day, then Monday 28 (offsite till the 25th)
    assert add(desk, sh(2026, 12, 22, 17), timedelta(hours=2)) == sh(2026, 12, 28, 9, 30)


def test_calendar_show_names_each_closure(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["show", "--config", str(config), "--calendar", "desk", "--from", "2026-12-03"]
    assert calendar_cli.main([*argv, "--days", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2026-12-03 Thu 08:30-14:00, 16:00-18:00 (closed 14:00-16:00: Staff training)",
        "2026-12-04 Fri 08:30-09:00, 10:00-18:00 (closed 09:00-10:00: Fire drill)",
    ]
    argv[-1] = "2026-12-24"
    assert calendar_cli.main([*argv, "--days", "1"]) == 0
    assert capsys.readouterr().out.strip() == "2026-12-24 Thu closed (holiday: Year-end offsite)"


def test_the_clocks_spans_leave_the_closures_out(config: Path) -> None:
    desk = load_settings(config).calendars["desk"]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    hashed = packed({"desk": desk}, now)
    training = int(sh(2026, 12, 3, 14).timestamp() * 1000)
    week = training // WEEK_MS
    flat = msgpack.unpackb(hashed[f"desk:{week}"])
    spans = list(zip(flat[0::2], flat[1::2], strict=True))
    assert not any(a <= training < b for a, b in spans)
    assert any(b == training for a, b in spans)  # the morning ends where the training begins
    two_h = 2 * 3_600_000
    assert any(a == training + two_h for a, b in spans)


BROKEN = {
    "missing.ics": None,
    "garbage.ics": "this is not a calendar\n",
    "backwards.ics": CLOSURES.replace("DTEND:20261204T100000", "DTEND:20261204T080000"),
    "bad_rule.ics": CLOSURES.replace("RRULE:FREQ=YEARLY", "RRULE:FREQ=SOMETIMES"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_file_that_cannot_be_read_is_a_problem_with_its_path(tmp_path: Path, name: str) -> None:
    text = BROKEN[name]
    if text is not None:
        (tmp_path / name).write_text(text, "utf-8")
    path = tmp_path / "frontdesk.yaml"
    path.write_text(CONFIG.format(ical=name), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert (problem.line, ".".join(map(str, problem.path))) == (5, "calendars.desk.ical")
    assert name in problem.message
    says = {
        "missing.ics": "cannot read",
        "garbage.ics": "not an iCalendar file",
        "backwards.ics": "'Fire drill' ends before it starts",
        "bad_rule.ics": "RRULE",
    }
    assert says[name] in problem.message, problem.message


def test_a_closed_day_listed_as_a_working_day_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "closures.ics").write_text(CLOSURES, "utf-8")
    path = tmp_path / "frontdesk.yaml"
    text = CONFIG.format(ical="closures.ics").replace(
        "    ical:", "    working_days: [2026-12-24]\n    ical:"
    )
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match="closes 2026-12-24, listed under working_days"):
        load_settings(path)
