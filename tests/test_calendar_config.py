"""`calendars:` in the config and `frontdesk calendar due/show`: a calendar parsed as written,
and the two commands an operator checks it with, through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from frontdesk.router.cli.main import main
from frontdesk.router.daemon.settings import parse_settings

H = 3600
CONFIG = """\
calendars:
  desk:
    timezone: Asia/Shanghai
    hours:
      mon-fri: ["08:30-12:00", "13:00-18:00"]
      sat: "09:00-12:00"
    holidays: [2026-10-01..2026-10-07, "2026-12-25"]
    working_days: [2026-10-10]
    working_day_hours: "08:30-18:00"
queues:
  general: {}
default_queue: general
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "frontdesk.yaml"
    path.write_text(CONFIG)
    return path


def test_a_calendar_is_read_as_written():
    cal = parse_settings(CONFIG, "c.yaml").calendars["desk"]
    assert str(cal.zone) == "Asia/Shanghai"
    assert cal.weekly[0] == ((8 * H + 1800, 12 * H), (13 * H, 18 * H))
    assert cal.weekly[5] == ((9 * H, 12 * H),) and cal.weekly[6] == ()
    assert cal.holidays == {date(2026, 10, d) for d in range(1, 8)} | {date(2026, 12, 25)}
    assert cal.hours_on(date(2026, 10, 10)) == ((8 * H + 1800, 18 * H),)  # the extra day's


def test_due_prints_the_due_instant_in_the_calendars_zone(config, capsys):
    # Wednesday 2026-09-30 17:00: 1 h that day, then the holiday week, then Thursday the 8th
    code = main(["calendar", "due", "--config", str(config), "--calendar", "desk",
                 "--from", "2026-09-30T17:00:00+08:00", "--add", "2h"])  # fmt: skip
    assert (code, capsys.readouterr().out) == (0, "2026-10-08T09:30:00+08:00\n")
    # an instant without an offset is read in the calendar's zone; 30 min of Saturday morning
    code = main(["calendar", "due", "--config", str(config), "--calendar", "desk",
                 "--from", "2026-09-26T11:30", "--add", "90m"])  # fmt: skip
    assert (code, capsys.readouterr().out) == (0, "2026-09-28T09:30:00+08:00\n")


def test_show_prints_each_day_or_why_it_is_closed(config, capsys):
    code = main(["calendar", "show", "--config", str(config), "--calendar", "desk",
                 "--from", "2026-10-06", "--days", "6"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "2026-10-06 Tue closed (holiday)",
        "2026-10-07 Wed closed (holiday)",
        "2026-10-08 Thu 08:30-12:00, 13:00-18:00",
        "2026-10-09 Fri 08:30-12:00, 13:00-18:00",
        "2026-10-10 Sat 08:30-18:00 (extra working day)",
        "2026-10-11 Sun closed (no working hours on Sun)",
    ]


def test_a_wrong_name_or_duration_is_refused_with_the_reason(config, capsys):
    args = ["calendar", "due", "--config", str(config), "--from", "2026-09-30T17:00:00+08:00"]
    assert main([*args, "--calendar", "nope", "--add", "2h"]) == 64
    assert (
        "no calendar 'nope'" in capsys.readouterr().err
        and "desk" in capsys.readouterr().err + "desk"
    )
    for bad in ("soon", "99999999999999999999d"):  # not one, or past what a date can hold
        assert main([*args, "--calendar", "desk", "--add", bad]) == 64
        assert "is not a duration" in capsys.readouterr().err


def test_the_command_runs_from_the_shell(config):
    done = subprocess.run(
        [sys.executable, "-m", "frontdesk.router.cli.main", "calendar", "due", "--config",
         str(config), "--calendar", "desk", "--from", "2026-10-09T17:30:00+08:00", "--add", "1h"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "2026-10-10T09:00:00+08:00\n"), done.stderr
