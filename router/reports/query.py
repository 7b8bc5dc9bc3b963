"""What a report is asked for, checked the same way from the command line and the API: its
name, the local dates it covers (both included), how they are grouped into periods (day, week
from Monday, month) and by which dimension, in a calendar's timezone. Every refusal names the
parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.queues.errors import FrontdeskError
from frontdesk.queues.reports import HOUR_MS
from frontdesk.router.conf.calendar import Calendar

BY = ("day", "week", "month")
FORMATS = ("table", "csv", "json", "html")
MAX_DAYS = 3 * 366  # the longest span a report covers
DEFAULT_DAYS = 7
# each report: the groups it takes, its default first (None: no grouping)
GROUPS: dict[str, tuple[str | None, ...]] = {
    "overview": (None,),
    "volume": ("channel", "queue", "category", "priority"),
    "response": ("channel", "queue", "category"),
    "sla": ("policy",),
    "escalation": ("tier", "reason", "channel", "queue", "category"),
    "fcr": ("channel", "queue", "category", "agent"),
    "satisfaction": ("channel", "queue", "category", "agent", "all"),
    "quality": ("agent",),
    "agents": ("agent",),
}
NAMES = tuple(GROUPS)


class ReportError(FrontdeskError):
    """A report asked for wrongly; `field` names the parameter (from, to, by, group, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    start: date  # the first local day
    end: date  # the last local day, included
    by: str = "day"
    group: str | None = None
    calendar: Calendar | None = None  # whose timezone (None: UTC)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @property
    def timezone(self) -> str:
        return self.zone.key

    def hours(self) -> tuple[int, int]:
        """The UTC hours [first, end) that the local days cover (an hour belongs to the day it
        starts in; in a zone whose offset is not whole hours, the edge hour goes to the day
        it starts in)."""
        first = datetime.combine(self.start, time(), self.zone).astimezone(UTC)
        last = datetime.combine(self.end + timedelta(days=1), time(), self.zone).astimezone(UTC)
        return int(first.timestamp() * 1000) // HOUR_MS, -(-int(last.timestamp() * 1000) // HOUR_MS)

    def period(self, hour: int) -> str:
        """The period (`2026-03-02`, the week's Monday `2026-03-02`, `2026-03`) of an hour."""
        day = datetime.fromtimestamp(hour * 3600, self.zone).date()
        if self.by == "week":
            return (day - timedelta(days=day.weekday())).isoformat()
        if self.by == "month":
            return f"{day.year:04d}-{day.month:02d}"
        return day.isoformat()


def pick_calendar(calendars: Mapping[str, Calendar], name: str | None) -> Calendar | None:
    """The calendar named, else `desk`, else the first configured, else None (UTC)."""
    if name:
        if name not in calendars:
            known = ", ".join(sorted(calendars)) or "none configured"
            raise ReportError("calendar", f"no calendar {name!r} (calendars: {known})")
        return calendars[name]
    if "desk" in calendars:
        return calendars["desk"]
    return next(iter(calendars.values()), None)


def _date(name: str, raw: str) -> date:
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ReportError(name, f"must be a date such as 2026-03-02, got {raw!r}") from None


def parse_query(
    name: str,
    params: Mapping[str, str | None],
    calendars: Mapping[str, Calendar],
    today: date | None = None,
) -> Query:
    """A Query from string parameters (from, to, by, group, calendar); every refusal is a
    ReportError naming its parameter. Without `to`: today (in the calendar's zone); without
    `from`: the 7 days up to `to`."""
    if name not in GROUPS:
        raise ReportError("name", f"no report {name!r} (reports: {', '.join(NAMES)})")
    calendar = pick_calendar(calendars, params.get("calendar"))
    zone = calendar.zone if calendar is not None else ZoneInfo("UTC")
    raw_to, raw_from = params.get("to"), params.get("from")
    end = _date("to", raw_to) if raw_to else (today or datetime.now(zone).date())
    start = _date("from", raw_from) if raw_from else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ReportError("from", f"{start} is after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportError("to", f"a report covers at most {MAX_DAYS} days")
    by = params.get("by") or "day"
    if by not in BY:
        raise ReportError("by", f"must be one of {', '.join(BY)}, got {by!r}")
    allowed = GROUPS[name]
    group = params.get("group") or allowed[0]
    if group not in allowed:
        takes = ", ".join(g for g in allowed if g) or "no group"
        raise ReportError("group", f"the {name} report takes {takes}, got {group!r}")
    return Query(name, start, end, by, group, calendar, zone)
