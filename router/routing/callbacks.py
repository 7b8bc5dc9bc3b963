"""Phone callbacks in routing, pure: a callback waits for the customer's window and the working
hours. The dispatcher's head scan and the simulator ask the same functions (`hold_until`,
`eligible_since`), so that they can never disagree."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from frontdesk.queues.request import CALLBACK, FROM, UNTIL, Channel, Request, Scalar
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.hours import utc

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _instant(value: Scalar) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def is_callback(request: Request) -> bool:
    """A phone callback request, which waits for its window and the working hours."""
    return request.channel is Channel.PHONE and request.attributes.get(CALLBACK) is True


def callback_window(request: Request) -> tuple[datetime | None, datetime | None]:
    """The customer's preferred window [from, until) in UTC; None where open-ended."""
    return _instant(request.attributes.get(FROM)), _instant(request.attributes.get(UNTIL))


def eligible_at(request: Request, now: datetime, hours: Calendar | None = None) -> bool:
    """May `request` be routed at `now` (timezone-aware)? Anything but a callback always may;
    a callback inside its window and inside working hours (if any are configured)."""
    now = utc(now)
    if not is_callback(request):
        return True
    start, until = callback_window(request)
    if (start is not None and now < start) or (until is not None and now >= until):
        return False
    return hours is None or hours.open_at(now)


def next_eligible(
    request: Request, now: datetime, hours: Calendar | None = None
) -> datetime | None:
    """The first instant at or after `now` at which `request` is eligible (`now` itself when
    it is eligible now, in UTC); None when its window ends before it ever is."""
    now = utc(now)
    if not is_callback(request):
        return now
    start, until = callback_window(request)
    when: datetime | None = max(now, start) if start is not None else now
    if hours is not None and when is not None:
        when = hours.next_open(when)
    if when is None or (until is not None and when >= until):
        return None
    return when


def eligible_since(
    request: Request, now: datetime, hours: Calendar | None = None
) -> datetime | None:
    """Since when `request` has been eligible without a break, judging by its window and the
    working hours only (not its enqueue time): what its wait should be measured from. The
    earliest datetime for a request nothing holds back; None when it is not eligible now."""
    if not eligible_at(request, now, hours):
        return None
    if not is_callback(request):
        return _EARLIEST
    since = callback_window(request)[0] or _EARLIEST
    opened = hours.opened(now) if hours is not None else None
    return max(since, opened) if opened is not None else since


def hold_until(request: Request, now: datetime, hours: Calendar | None = None) -> datetime | None:
    """What the dispatcher asks: None when `request` may be routed now, else when to look again.
    A callback whose window passed before it was served is not held for ever: from the end of
    its window it is routed in working hours (late beats never)."""
    now = utc(now)
    when = next_eligible(request, now, hours)
    if when is None:
        until = callback_window(request)[1]
        after = max(now, until) if until is not None else now
        when = hours.next_open(after) if hours is not None else after
    return None if when is None or when <= now else when
