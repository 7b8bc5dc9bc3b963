"""Config of agent liveness: `presence.grace` (how long an agent may go unheard before it is set
away and its offers are taken back) and, per queue, `orphaned_after` and `orphaned` (what
happens to work assigned to an agent gone that long)."""

from __future__ import annotations

from typing import Any

from frontdesk.router.conf.yaml import Checker, Path

PRESENCE_KEYS = ["grace"]
ORPHANED_KEYS = ["orphaned_after", "orphaned"]
ORPHANED_ACTIONS = ["requeue", "flag"]


def parse_presence(check: Checker, value: object) -> float | None:
    """`presence.grace`, in seconds (0: never)."""
    body = check.mapping(("presence",), value, PRESENCE_KEYS)
    return _nonnegative(check, ("presence", "grace"), body.get("grace"))


def parse_orphaned(check: Checker, path: Path, q: dict[str, Any]) -> tuple[float, str] | None:
    """A queue's `orphaned_after` (seconds, 0: never) and `orphaned` (requeue or flag), already
    merged with queue_defaults."""
    after = _nonnegative(check, (*path, "orphaned_after"), q.get("orphaned_after", 0))
    action = check.choice((*path, "orphaned"), q.get("orphaned", "requeue"), ORPHANED_ACTIONS)
    if after is None or action is None:
        return None
    return after, action


def _nonnegative(check: Checker, path: Path, value: object) -> float | None:
    seconds = check.duration(path, value)
    if seconds is not None and seconds < 0:
        check.error(path, "must not be negative")
        return None
    return seconds
