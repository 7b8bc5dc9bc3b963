"""The simulated world's objects: a request in the run (`Job`) and its classification (`Kind`),
an agent on the floor (`SimAgent`), a queue in the daemon's order (`QueueState`), and the hard
constraints a hand-over is checked against (`eligible`), by code of their own."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from frontdesk.queues.errors import FrontdeskError
from frontdesk.queues.request import Request
from frontdesk.queues.store import RequestRecord
from frontdesk.router.routing.config import QueueSettings, RelaxStep, Routing
from frontdesk.router.routing.window import CHANNELS
from frontdesk.skills import TIERS, Agent

# Request states in the engine.
WAITING, OFFERED, ACTIVE, DONE, ABANDONED = range(5)


class SimulationError(FrontdeskError):
    """A run broke one of its own rules (a hard constraint, capacity, the event budget)."""


@dataclass(frozen=True, slots=True, eq=False)
class Kind:
    """One classification of requests: what the rules made of a source's request."""

    index: int
    source: str
    request: Request  # as classified: queue, priority, skills, tier, preferred agent
    record: RequestRecord  # the same, as the daemon's window builder reads it
    queue: int  # queue index at arrival
    channel: int  # channel index (window.CHANNELS)
    band: int
    callback: bool  # a phone callback that waits for its window and the working hours


class Job:
    """One request in the run."""

    __slots__ = (
        *("i", "t", "kind", "handle", "patience", "wrap", "state", "queue", "band", "seq"),
        *("token", "agent", "answered", "ended", "wait_from", "excluded", "steps", "margin"),
        *("met", "first_queue", "overflows", "offer"),
    )

    def __init__(self, i: int, t: int, kind: Kind, handle: int, patience: int, wrap: int) -> None:
        self.i, self.t, self.kind = i, t, kind
        self.handle, self.patience, self.wrap = handle, patience, wrap
        self.state = WAITING
        self.queue = self.first_queue = kind.queue
        self.band, self.seq, self.token = kind.band, i, 0
        self.agent = -1
        self.answered = self.ended = -1
        self.wait_from = t  # its wait counts from here (later for a held callback)
        self.excluded: set[int] | None = None  # agents who rejected or missed it
        self.steps = 0  # relaxation steps in force when it was handed over
        self.margin = math.nan  # mean proficiency above the requirement, at hand-over
        self.met = True  # every required skill at or above its level (before relaxation)
        self.overflows = 0
        self.offer = 0  # counts offers, so that a stale answer is recognized


class SimAgent:
    """An agent on the simulated floor, with the accounting of its time."""

    __slots__ = (
        *("i", "id", "profile", "_view", "cap", "spare", "present", "wrapping", "avail"),
        *("idle_since", "handled", "load", "busy_ms", "staffed_ms", "last_ms"),
    )

    def __init__(self, i: int, profile: Agent) -> None:
        self.i, self.id, self.profile = i, profile.id, profile
        self._view = profile
        self.cap = [profile.capacity.get(c, 0) for c in CHANNELS]
        self.spare = list(self.cap)
        self.present = self.wrapping = self.avail = False
        self.idle_since = 0
        self.handled = self.load = 0
        self.busy_ms = self.staffed_ms = self.last_ms = 0

    @property
    def view(self) -> Agent:
        """The profile with the idle clock, as the window builder reads it."""
        if self._view.idle_since_ms != self.idle_since:
            self._view = replace(self.profile, idle_since_ms=self.idle_since)
        return self._view

    def spare_by_channel(self) -> dict[str, int]:
        return {c: self.spare[k] for k, c in enumerate(CHANNELS) if self.cap[k]}


class QueueState:
    """One queue's waiting requests in the daemon's order: band, then age (arrival order).

    Per band a list of (seq, token, job) sorted by seq, with lazy deletion: an entry is live
    while its job waits and its token is the job's current one."""

    __slots__ = (
        *("i", "name", "settings", "routing", "bands", "heads", "live", "entries"),
        *("relax_ms", "preferred_ms", "timers", "offer", "timeout_ms"),
    )

    def __init__(self, i: int, settings: QueueSettings) -> None:
        self.i, self.name, self.settings = i, settings.name, settings
        self.routing: Routing = settings.routing
        self.bands: list[list[tuple[int, int, Job]]] = [[], [], []]
        self.heads = [0, 0, 0]
        self.live = self.entries = 0
        self.relax_ms = [round(s.after_s * 1000) for s in self.routing.relax]
        self.preferred_ms = round(self.routing.preferred_agent_for_s * 1000)
        self.timers = bool(self.relax_ms or self.preferred_ms)
        self.offer = settings.mode == "offer"
        self.timeout_ms = max(1, round(settings.offer_timeout_s * 1000))

    def add(self, job: Job) -> None:
        job.token += 1
        band = self.bands[job.band]
        entry = (job.seq, job.token, job)
        if not band or band[-1][0] < job.seq:
            band.append(entry)
        else:
            at = bisect.bisect_left(band, (job.seq, job.token))
            band.insert(at, entry)
            self.heads[job.band] = min(self.heads[job.band], at)
        self.live += 1
        self.entries += 1

    def waiting(self) -> Iterator[Job]:
        """The waiting requests in order, lazily."""
        for b in range(3):
            band = self.bands[b]
            h, n = self.heads[b], len(band)
            while h < n and (band[h][2].token != band[h][1] or band[h][2].state != WAITING):
                h += 1
            self.heads[b] = h
            for k in range(h, n):
                entry = band[k]
                if entry[2].token == entry[1] and entry[2].state == WAITING:
                    yield entry[2]

    def compact(self) -> None:
        """Drop the dead entries (called once they outnumber the live ones)."""
        for b in range(3):
            self.bands[b] = [
                e for e in self.bands[b] if e[2].token == e[1] and e[2].state == WAITING
            ]
            self.heads[b] = 0
        self.entries = sum(len(band) for band in self.bands)


def required(request: Request, steps: tuple[RelaxStep, ...]) -> dict[str, int]:
    """The skills a request requires with `steps` in force: minimums lowered (never below 1),
    optional skills dropped, the highest minimum of a skill named twice (as `window.build`)."""
    lower = sum(s.lower_skills for s in steps)
    drop = any(s.drop_optional for s in steps)
    out: dict[str, int] = {}
    for need in request.skills:
        if need.optional and drop:
            continue
        out[need.name] = max(out.get(need.name, 0), max(1, need.min_level - lower))
    return out


def eligible(
    agent: Agent, request: Request, routing: Routing, steps: tuple[RelaxStep, ...]
) -> bool:
    """The matcher's hard constraints that do not change within a round: skills at level, tier
    within the request's tiers, and a group of the queue's (widened by the steps)."""
    for name, level in required(request, steps).items():
        if agent.skills.get(name, 0) < level:
            return False
    top = max(TIERS) if any(s.widen_tiers for s in steps) else request.tier
    if not request.tier <= agent.tier <= top:
        return False
    if routing.groups:
        allowed = set(routing.groups) | {g for s in steps for g in s.widen_groups}
        if not allowed & set(agent.groups):
            return False
    return True
