"""The reports' follower, built for the daemon: the outbox target that adds each event to the
figures (router/reports/sink.py) on the daemon's shared client, counted by the settings as they
are at each delivery (a reload's calendar applies to the events after it)."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from frontdesk.queues.keys import Keys
from frontdesk.queues.reports import ReportStore
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.outbound.outbox import Target
from frontdesk.router.reports.figures import Basis
from frontdesk.router.reports.query import pick_calendar
from frontdesk.router.reports.sink import ReportSink


def basis_of(settings: Settings) -> Basis:
    """Working time by the reports' calendar (`desk`, else the first; none: wall time), and
    the surveys' low score (`surveys.low_score.at_most`, 2 by default)."""
    return Basis(pick_calendar(settings.calendars, None), settings.surveys.low_at_most or 2)


def report_target(redis: Redis, settings: Callable[[], Settings]) -> Target:
    """The follower of the figures, as one of the outbox's targets."""
    store = ReportStore(redis, Keys(settings().tenant))
    return Target(ReportSink(store, lambda: basis_of(settings())))
