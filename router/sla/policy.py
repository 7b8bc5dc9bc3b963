"""Service-level policies, pure: which policy a request gets (its conditions, first match wins)
and the clocks it starts with, as the scripts keep them.

A policy has targets: `first_response` (the first agent message to the customer), `next_response`
(the agent's answer to each later customer message), `resolution` (the request completed), and
any other name is a milestone an agent marks done (a complaint's `investigation_started`). Each
target is wall time (`30s`) or working time of a named calendar (`{within: 2h, calendar: desk}`),
with a warning point (a fraction of the target: 0.8). The scripts (queues/lua/includes/clocks.lua)
start, pause, resume and stop the clocks at each state change on the Redis clock, walking the
calendars' working spans that the daemon publishes (router/sla/spans.py); nothing here reads a
clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from frontdesk.queues.request import Priority, Request
from frontdesk.router.intake.rules import Condition, CustomerFlags, Facts

FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
RESOLUTION = "resolution"
BUILT_IN = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)


class Action(StrEnum):
    """What a policy does when a target reaches its warning point or its breach."""

    RAISE_PRIORITY = "raise_priority"  # one band up, keeping the request's age
    ESCALATE = "escalate"  # to the queue's escalate_to, one tier up
    NOTIFY_SUPERVISORS = "notify_supervisors"  # an email to notices.supervisors
    NOTIFY_CUSTOMER = "notify_customer"  # "we are late; here is what happens next"


class MetBy(StrEnum):
    """What meets a first response: an agent's message, or taking the request (a callback:
    the agent calls when they accept it)."""

    MESSAGE = "message"
    ACCEPT = "accept"


@dataclass(frozen=True, slots=True)
class Target:
    """One promise: met within `within_s` (wall time, or working time of `calendar`)."""

    name: str
    within_s: float
    calendar: str | None = None
    warning_at: float = 0.8  # the fraction of the target after which it warns (1.0: never)


@dataclass(frozen=True, slots=True)
class QueueIs:
    queues: frozenset[str]

    def holds(self, facts: Facts) -> bool:
        return facts.request.queue in self.queues


@dataclass(frozen=True, slots=True)
class CategoryIs:
    categories: frozenset[str]

    def holds(self, facts: Facts) -> bool:
        return facts.request.category in self.categories


@dataclass(frozen=True, slots=True)
class PriorityIs:
    priorities: frozenset[Priority]

    def holds(self, facts: Facts) -> bool:
        return facts.request.priority in self.priorities


@dataclass(frozen=True, slots=True)
class Policy:
    """Targets for the requests its conditions match (all of them: no condition matches all)."""

    name: str
    targets: tuple[Target, ...]
    conditions: tuple[Condition, ...] = ()
    on_warning: tuple[Action, ...] = ()
    on_breach: tuple[Action, ...] = ()
    first_response_by: MetBy = MetBy.MESSAGE

    def matches(self, facts: Facts) -> bool:
        return all(c.holds(facts) for c in self.conditions)

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)


@dataclass(frozen=True, slots=True)
class SlaSettings:
    """`sla:` in the config: the policies in order (the first that matches applies)."""

    policies: tuple[Policy, ...] = ()
    late_after_s: float = 2.0  # a warning or breach fired later than this after its instant is late
    tick_s: float = 0.25  # how often each daemon looks for due instants

    def choose(self, request: Request, flags: CustomerFlags) -> Policy | None:
        """The first policy whose conditions hold for the classified `request`."""
        if not self.policies:
            return None
        facts = untimed(request, flags)
        return next((p for p in self.policies if p.matches(facts)), None)

    def plan(self, request: Request, flags: CustomerFlags) -> str:
        """The clocks a new request starts with, as the intake script takes them ('' none)."""
        policy = self.choose(request, flags)
        return plan_clocks(policy) if policy is not None else ""

    def policy(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def untimed(request: Request, flags: CustomerFlags) -> Facts:
    """The facts a policy's conditions read (SLA policies, surveys, follow-ups): the request
    and its customer's standing; they have no time condition, so no clock is read."""
    return Facts(request, flags, _NO_TIME)


def plan_clocks(policy: Policy) -> str:
    """The clocks of `policy` as JSON for the scripts: the policy, its actions, and one entry per
    target (name, duration ms, calendar, warning fraction); `next_response` starts idle and runs
    from each customer message after the first response."""
    doc = {
        "p": policy.name,
        "aw": ",".join(policy.on_warning),
        "ab": ",".join(policy.on_breach),
        "by": policy.first_response_by.value,
        "t": [
            {
                "n": t.name,
                "d": round(t.within_s * 1000),
                "c": t.calendar or "",
                "w": t.warning_at,
                "s": "idle" if t.name == NEXT_RESPONSE else "new",
            }
            for t in policy.targets
        ],
    }
    return json.dumps(doc, separators=(",", ":"))


_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # policies have no time condition: never read
