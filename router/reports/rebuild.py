"""`frontdesk report rebuild --from-export FILE`: the figures made again from an export of the
event stream (`frontdesk events export`, JSON lines). Every hour the export's events add to is
emptied first (figures, notes, seen ids), then the events are added by the same function and
the same script as the live follower, so the figures equal what the follower would have
written. Hours the export does not reach keep what they have. Run it with the reports sink idle
for those hours (past ones), or the follower's additions in between are lost."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from frontdesk.queues.events import Event
from frontdesk.queues.reports import EventAdds, ReportStore, hour_of
from frontdesk.router.reports.figures import Basis, adds

BATCH = 200  # events per script call
_BASE = ("id", "type", "req", "agent", "queue", "ts")


class ExportError(ValueError):
    """A line of the export that is not an event; `line` is its number (from 1)."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}")
        self.line = line


def _text(v: Any) -> str | None:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, str | int | float):
        return str(v)
    return None  # the export's routing extras (skills as a mapping): no figure reads them


def read_export(lines: Iterable[str]) -> Iterator[Event]:
    """The events of an export's lines (blank lines skipped); ExportError names a bad one."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not an object")
            entry = {k: t for k, v in row.items() if k != "id" and (t := _text(v)) is not None}
            yield Event.from_entry(str(row["id"]), {"req": "", "agent": "", "queue": ""} | entry)
        except (ValueError, KeyError) as exc:
            raise ExportError(n, f"not an exported event ({exc})") from None


@dataclass(frozen=True, slots=True)
class Rebuilt:
    events: int  # read from the export
    added: int  # that add to some figure
    hours: int  # emptied and filled again


async def rebuild(store: ReportStore, source: TextIO, basis: Basis) -> Rebuilt:
    """Empty the hours `source`'s events add to, then add them all."""
    events = list(read_export(source))
    batch = [EventAdds(e.id, found) for e in events if (found := adds(e, basis))]
    hours = {hour_of(e.id) for e in batch} | {a.hour for e in batch for a in e.adds}
    await store.clear(hours)
    for start in range(0, len(batch), BATCH):
        await store.apply(batch[start : start + BATCH], live=False)
    return Rebuilt(len(events), len(batch), len(hours))
