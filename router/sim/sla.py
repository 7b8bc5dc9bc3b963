"""Service-level attainment in a simulation run: the config's own `sla:` policies (the same
`SlaSettings.choose` the daemon's intake asks) applied to what each simulated request lived.

The simulator has no messages, so of a policy's targets it measures two:

- `first_response`: met when an agent takes the request (accepts the offer, or is assigned it):
  for a chat the agent's first words follow within seconds, for a callback taking it is the call;
- `resolution`: met when the agent completes it.

`next_response` and the milestones (a complaint's stages) need follow-ups and marks the simulator
does not model: they are left out, and the report says which targets it measured. Working-time
targets count the calendar's working time (`calendar.between`, the daemon's calendar) from the
arrival, on the workload's wall clock (`start`); a clock never pauses (no `pending_customer`).

Each counted request is, per target, `met` (reached within the target), `breached` (reached
late, or still unreached when the target ran out: abandoned after its due instant, or still open
at the end of the run past it) or `unmeasured` (the customer left, or the run ended, before the
target ran out: neither kept nor broken). Attainment is met / (met + breached).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from frontdesk.router.conf.calendar import Calendar, between
from frontdesk.router.sim.state import DONE, Job, Kind
from frontdesk.router.sla.policy import FIRST_RESPONSE, RESOLUTION, Policy, Target

if TYPE_CHECKING:
    from frontdesk.router.daemon.settings import Settings

SIMULATED = (FIRST_RESPONSE, RESOLUTION)


@dataclass(slots=True)
class Tally:
    """One policy's one target over a run."""

    within_s: float
    calendar: str | None
    met: int = 0
    breached: int = 0
    unmeasured: int = 0

    def as_dict(self) -> dict[str, Any]:
        judged = self.met + self.breached
        return {
            "within_s": self.within_s,
            "calendar": self.calendar,
            "requests": judged + self.unmeasured,
            "met": self.met,
            "breached": self.breached,
            "unmeasured": self.unmeasured,
            "attainment": self.met / judged if judged else None,
        }


class Attainment:
    """Counts met, breached and unmeasured per policy and target, one request at a time."""

    def __init__(self, settings: Settings, start: datetime, run_end_ms: int) -> None:
        self.settings, self.start, self.run_end_ms = settings, start, run_end_ms
        self.tallies: dict[str, dict[str, Tally]] = {}
        self._policies: dict[int, Policy | None] = {}
        self.skipped: set[str] = set()  # targets of the chosen policies the run cannot measure

    def policy(self, kind: Kind) -> Policy | None:
        if kind.index not in self._policies:
            flags = self.settings.customers.lookup(kind.request.customer)
            self._policies[kind.index] = self.settings.sla.choose(kind.request, flags)
        return self._policies[kind.index]

    def add(self, job: Job) -> None:
        policy = self.policy(job.kind)
        if policy is None:
            return
        for target in policy.targets:
            if target.name not in SIMULATED:
                self.skipped.add(f"{policy.name}.{target.name}")
                continue
            reached = job.answered if target.name == FIRST_RESPONSE else (
                job.ended if job.state == DONE else -1
            )  # fmt: skip
            tally = self._tally(policy, target)
            if reached >= 0:
                if self._elapsed_s(target, job.t, reached) <= target.within_s + 1e-9:
                    tally.met += 1
                else:
                    tally.breached += 1
                continue
            gone = job.ended if job.ended >= 0 else self.run_end_ms  # left, or still open
            if self._elapsed_s(target, job.t, gone) > target.within_s + 1e-9:
                tally.breached += 1
            else:
                tally.unmeasured += 1

    def _tally(self, policy: Policy, target: Target) -> Tally:
        targets = self.tallies.setdefault(policy.name, {})
        if target.name not in targets:
            targets[target.name] = Tally(target.within_s, target.calendar)
        return targets[target.name]

    def _elapsed_s(self, target: Target, t0_ms: int, t1_ms: int) -> float:
        if target.calendar is None:
            return (t1_ms - t0_ms) / 1000
        calendar: Calendar = self.settings.calendars[target.calendar]
        begin = self.start + timedelta(milliseconds=t0_ms)
        end = begin + timedelta(milliseconds=t1_ms - t0_ms)
        return between(calendar, begin, end).total_seconds()

    def report(self) -> dict[str, Any]:
        return {
            "policies": {
                p: {t: tally.as_dict() for t, tally in targets.items()}
                for p, targets in self.tallies.items()
            },
            "not_simulated": sorted(self.skipped),
        }


def attainment(
    settings: Settings, start: datetime, jobs: Iterable[Job], run_end_ms: int
) -> dict[str, Any]:
    """The attainment report of `jobs` (the counted requests of a run)."""
    tally = Attainment(settings, start, run_end_ms)
    for job in jobs:
        tally.add(job)
    return tally.report()


def goal_met(report: dict[str, Any], goals: Sequence[tuple[str, str, float]]) -> bool:
    """Every (policy, target, share) reached in an attainment report."""
    for policy, target, share in goals:
        found = report["policies"].get(policy, {}).get(target)
        if found is None or found["attainment"] is None or found["attainment"] < share:
            return False
    return True
