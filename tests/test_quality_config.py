"""`quality:` in the config, and the calendar day it samples."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.quality.config import DIMENSIONS, QualitySettings

BASE = "queues: {general: {}}\ndefault_queue: general\n"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_defaults_take_no_sample_until_asked_and_score_the_seeds_dimensions() -> None:
    quality = parse_settings(BASE, "q.yaml").quality
    assert quality.share == 0.0 and quality.zone is UTC and quality.at_minutes == 30
    assert quality.dimensions == DIMENSIONS and len(DIMENSIONS) == 7
    asked = parse_settings(BASE + "quality: {sample: 5%}\n", "q.yaml").quality
    assert asked.share == 0.05


def test_a_calendar_gives_the_day_its_timezone() -> None:
    text = BASE + (
        "calendars: {desk: {timezone: Asia/Shanghai, hours: {mon-fri: '08:30-18:00'}}}\n"
        "quality: {sample: 2.5%, calendar: desk, at: '01:15', dimensions: [attitude]}\n"
    )
    quality = parse_settings(text, "q.yaml").quality
    assert quality.share == 0.025 and quality.dimensions == ("attitude",)
    day = date(2026, 3, 2)
    assert quality.bounds(day) == (ms("2026-03-02T00:00+08:00"), ms("2026-03-03T00:00+08:00"))
    assert quality.due_ms(day) == ms("2026-03-03T01:15+08:00")
    assert quality.day_of(ms("2026-03-02T23:59+08:00")) == day
    assert quality.day_of(ms("2026-03-02T16:00+00:00")) == date(2026, 3, 3)
    assert quality.last_due(ms("2026-03-03T01:14+08:00")) == date(2026, 3, 1)
    assert quality.last_due(ms("2026-03-03T01:15+08:00")) == day


def test_a_daylight_saving_day_lasts_what_it_lasts() -> None:
    berlin = QualitySettings(zone=ZoneInfo("Europe/Berlin"))
    start, end = berlin.bounds(date(2026, 3, 29))
    assert end - start == 23 * 3600 * 1000
    assert berlin.due_ms(date(2026, 3, 28)) == ms("2026-03-29T00:30+01:00")
