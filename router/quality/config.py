"""`quality:` in the config: the daily sample for review, each problem with its YAML path and line.

quality:
  sample: 5%              # of each day's closed (completed or abandoned) requests; 0%: none
  calendar: desk          # whose timezone the day is (a name under calendars:); none: UTC
  at: "00:30"             # local time, the day after, at which a day's sample is taken
  dimensions:             # what a reviewer scores, 1-5 each (seed 003's seven by default)
    - response_time
    - identity_verification
    - ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.hours import resolve_calendar
from frontdesk.router.conf.yaml import Checker

QUALITY_KEYS = ["sample", "calendar", "at", "dimensions"]
DIMENSIONS = (
    "response_time",
    "identity_verification",
    "understanding",
    "effectiveness",
    "attitude",
    "record_completeness",
    "satisfaction",
)
MIN_SCORE, MAX_SCORE = 1, 5
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DIMENSION = r"[a-z][a-z0-9_]{0,63}"


@dataclass(frozen=True, slots=True)
class QualitySettings:
    """The daily sample: its share, whose day, when it is taken, and what a review scores."""

    share: float = 0.05
    calendar: str | None = None  # the calendar whose timezone the day is in (None: UTC)
    zone: tzinfo = UTC
    at_minutes: int = 30  # minutes after the local midnight that ends the day
    dimensions: tuple[str, ...] = DIMENSIONS

    def day_of(self, ms: int) -> date:
        """The local day of an instant (ms since the epoch)."""
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(self.zone).date()

    def bounds(self, day: date) -> tuple[int, int]:
        """The day's first instant and the next day's, in ms (a DST day lasts 23 or 25 hours)."""
        return _ms(self._midnight(day)), _ms(self._midnight(day + timedelta(days=1)))

    def due_ms(self, day: date) -> int:
        """When the day's sample is taken: `at` on the local day after it."""
        after = self._midnight(day + timedelta(days=1)).replace(tzinfo=None)
        return _ms((after + timedelta(minutes=self.at_minutes)).replace(tzinfo=self.zone))

    def last_due(self, now_ms: int) -> date:
        """The latest day whose sample is due at `now_ms`."""
        day = self.day_of(now_ms) - timedelta(days=1)
        return day if self.due_ms(day) <= now_ms else day - timedelta(days=1)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)


def _ms(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp() * 1000)


def parse_quality(
    check: Checker, value: object, calendars: dict[str, Calendar]
) -> QualitySettings | None:
    q = check.mapping(("quality",), value, QUALITY_KEYS)
    before = len(check.problems)
    share = _share(check, q.get("sample", "5%"))
    name = q.get("calendar")
    zone: tzinfo = UTC
    if name is not None and check.string(("quality", "calendar"), name) is not None:
        assert isinstance(name, str)
        calendar = resolve_calendar(check, ("quality", "calendar"), name, calendars)
        zone = calendar.zone if calendar is not None else UTC
    at = q.get("at", "00:30")
    match = _AT.match(at) if isinstance(at, str) else None
    if match is None:
        check.error(("quality", "at"), f'must be a local time such as "00:30", got {at!r}')
    dimensions: list[str] = []
    raw = check.sequence(("quality", "dimensions"), q.get("dimensions", list(DIMENSIONS)))
    for i, item in enumerate(raw):
        found = check.string(("quality", "dimensions", i), item, _DIMENSION)
        if found is not None and found in dimensions:
            check.error(("quality", "dimensions", i), f"{found!r} is listed twice")
        elif found is not None:
            dimensions.append(found)
    if not raw and "dimensions" in q:
        check.error(("quality", "dimensions"), "a review scores at least one dimension")
    if len(check.problems) > before or share is None or match is None:
        return None
    minutes = int(match[1]) * 60 + int(match[2])
    return QualitySettings(share, name, zone, minutes, tuple(dimensions))


def _share(check: Checker, value: object) -> float | None:
    """`5%` or `0.05`, from 0 (no sample) to 100%."""
    number: float | None = None
    if isinstance(value, str) and (m := _PERCENT.match(value)):
        number = float(m[1]) / 100
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    if number is None or not 0 <= number <= 1:
        check.error(
            ("quality", "sample"), f"must be a share such as 5% (0% to 100%), got {value!r}"
        )
        return None
    return number
