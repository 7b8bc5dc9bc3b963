"""One calendar for the whole daemon: a calendar named in `calendars:` is what the phone's
callbacks wait for and what a rule's `time` condition asks, holidays and China's adjusted
working days (调休) included; inline working hours are a calendar too."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.queues.request import CALLBACK, FROM, UNTIL, Channel, Request
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.hours import working_hours
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.intake.rules import CustomerFlags, classify
from frontdesk.router.routing.callbacks import eligible_at, eligible_since, hold_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = """\
calendars:
  desk:
    timezone: Asia/Shanghai
    hours: {mon-fri: ["08:30-12:00", "13:00-18:00"]}
    working_day_hours: "08:30-18:00"
    public_holidays: CN
queues:
  general: {}
  after-hours: {}
  desk-hours: {}
default_queue: general
channels:
  phone:
    secret: a-phone-secret-of-length
    working_hours: desk
rules:
  - name: closed
    when: {time: {calendar: desk, open: false}}
    then: {queue: after-hours}
  - name: open
    when: {time: {calendar: desk}}
    then: {queue: desk-hours}
"""
SETTINGS = parse_settings(CONFIG, "calendar-uses.yaml")


def sh(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def queue_at(now: datetime) -> str:
    request = Request("FD-1", Channel.EMAIL, "intake", subject="hello")
    return classify(request, SETTINGS.rules, CustomerFlags(), now, "general").queue


def test_the_phone_waits_for_the_calendar_it_names() -> None:
    desk = SETTINGS.calendars["desk"]
    assert SETTINGS.callback_hours is desk
    callback = Request("FD-2", Channel.PHONE, "phone-callback", attributes={CALLBACK: True})
    assert eligible_at(callback, sh(9, 30, 10), desk)
    assert not eligible_at(callback, sh(9, 30, 12, 30), desk)  # the lunch break
    assert eligible_since(callback, sh(9, 30, 15), desk) == sh(9, 30, 13)
    # National Day: closed from Thursday 1 October to Wednesday 7 October
    assert not eligible_at(callback, sh(10, 1, 10), desk)
    assert hold_until(callback, sh(9, 30, 18), desk) == sh(10, 8, 8, 30)
    # Saturday 10 October is worked (调休), with its own hours, no lunch break
    assert hold_until(callback, sh(10, 9, 18), desk) == sh(10, 10, 8, 30)
    assert eligible_at(callback, sh(10, 10, 12, 30), desk)
    # a window wholly inside the holiday never meets the working hours
    window = (sh(10, 2, 9), sh(10, 2, 17))
    assert not desk.meets(*window, sh(9, 30, 10))
    assert desk.meets(sh(10, 7, 17), sh(10, 8, 9), sh(9, 30, 10))
    held = Request(
        "FD-3", Channel.PHONE, "phone-callback",
        attributes={CALLBACK: True, FROM: int(window[0].timestamp()),
                    UNTIL: int(window[1].timestamp())},
    )  # fmt: skip
    assert hold_until(held, sh(10, 2, 10), desk) == sh(10, 8, 8, 30)  # late beats never


def test_a_rule_asks_the_calendar_holidays_and_adjusted_days_included() -> None:
    assert queue_at(sh(9, 29, 10)) == "desk-hours"  # a Tuesday morning
    assert queue_at(sh(9, 29, 12, 30)) == "after-hours"  # lunch
    assert queue_at(sh(9, 29, 19)) == "after-hours"
    assert queue_at(sh(10, 1, 10)) == "after-hours"  # National Day, a Thursday
    assert queue_at(sh(10, 10, 10)) == "desk-hours"  # the adjusted working Saturday
    assert queue_at(sh(10, 17, 10)) == "after-hours"  # an ordinary Saturday


def test_inline_hours_are_a_calendar_and_a_night_reads_as_one_stretch() -> None:
    nights = working_hours(SHANGHAI, frozenset({4, 5}), ((22 * 3600, 6 * 3600),))
    assert isinstance(nights, Calendar)
    assert nights.weekly[4] == ((22 * 3600, 86400),)
    assert nights.weekly[5] == ((0, 6 * 3600), (22 * 3600, 86400))
    assert nights.weekly[6] == ((0, 6 * 3600),)
    friday, saturday = sh(11, 27, 23), sh(11, 28, 3)
    assert nights.open_at(friday) and nights.open_at(saturday)
    assert nights.opened(saturday) == sh(11, 27, 22)
    assert nights.opened(sh(11, 29, 5)) == sh(11, 28, 22)
    assert not nights.open_at(sh(11, 28, 12)) and nights.opened(sh(11, 28, 12)) is None
    assert nights.next_open(sh(11, 29, 7)) == sh(12, 4, 22)
    overlapping = working_hours(
        SHANGHAI, frozenset({0}), ((8 * 3600, 12 * 3600), (10 * 3600, 14 * 3600))
    )
    assert overlapping.weekly[0] == ((8 * 3600, 14 * 3600),)
    assert "mon 08:00-14:00" in overlapping.describe()
    assert nights.next_open(sh(12, 5, 7)) == sh(12, 5, 22)  # Saturday night opens too
