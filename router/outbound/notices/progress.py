"""Progress notices: the customer hears that their request was escalated, transferred, or is
still waiting after a long time (`notices.progress`), at most once per `at_most_every` for one
request, whichever of the three asks first.

A long wait is found without scanning any queue: each request that enters a queue gets one
entry in a due set (`queues.notices.ProgressTimer`, a sorted set by due instant, as the SLA's
due set is); the daemon's notice tick pops the entries that fell due (a bounded batch per tick,
cheapest first), and for each one still waiting appends a `progress` event (`why: long_wait`)
through one script, which the notice sink then delivers like any other. Work per tick grows
with the entries due, never with the length of a queue or the number of agents.
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.router.conf.yaml import Checker, Path

ON = ("escalated", "transferred", "long_wait")
_KEYS = ("on", "long_wait_after", "at_most_every")


@dataclass(frozen=True, slots=True)
class ProgressSettings:
    """`notices.progress`: which progress the customer hears, and how often at most."""

    on: frozenset[str]
    long_wait_after_s: float = 600.0
    at_most_every_s: float = 1800.0


def parse_progress(check: Checker, raw: object, path: Path) -> ProgressSettings | None:
    """The `progress` section under notices (None when there is none: no progress notices)."""
    if raw is None:
        return None
    before = len(check.problems)
    body = check.mapping(path, raw, _KEYS)
    if not isinstance(raw, dict):
        return None
    on = body.get("on", list(ON))
    found: set[str] = set()
    if not isinstance(on, list):
        check.error((*path, "on"), f"must be a list of some of {', '.join(ON)}")
    else:
        for i, item in enumerate(on):
            if (name := check.choice((*path, "on", i), item, ON)) is not None:
                found.add(name)
    after = check.duration((*path, "long_wait_after"), body.get("long_wait_after", "10m"))
    every = check.duration((*path, "at_most_every"), body.get("at_most_every", "30m"))
    for name, value in (("long_wait_after", after), ("at_most_every", every)):
        if value is not None and value <= 0:
            check.error((*path, name), "must be above 0")
    if len(check.problems) > before or after is None or every is None:
        return None
    return ProgressSettings(frozenset(found), after, every)
