"""Follow-up calls (回访, seed 004): after an important customer's request, an escalated one, a
category the desk names, or a low survey score, a follow-up task is made: a request of its own
(`follow_up_of` the original), in a queue of its own, routed like any other (a call takes phone
capacity and waits for the working hours as a callback does), with its own service-level target.
Its outcome (reached or not, the customer's verdict) is recorded by the agent through the API.

    follow_ups:
      queue: follow-ups                  # must be a queue under queues:
      channel: phone                     # the capacity it takes (phone: a callback)
      within: {within: 2d, calendar: desk}   # done (completed) by then: its resolution target
      policies:
        - {name: important, when: {customer: {important: true}}}
        - {name: escalated, when: {escalated: true}}
        - {name: unhappy, when: {score_at_most: 2}}
        - {name: complaint, when: {category: [suggestions-and-complaints]}}

Made by an outbox sink on `completed` (and on `feedback.received` for a score policy), so each
follow-up is made once however often the event is delivered (its external id is the original's),
and a follow-up never gets a follow-up of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.request import CALLBACK, Channel, Request, Scalar
from frontdesk.queues.store import RequestRecord
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.intake.rules import Condition, CustomerLists
from frontdesk.router.outbound.sinks import DeliveryContext
from frontdesk.router.sla.config import parse_when
from frontdesk.router.sla.policy import RESOLUTION, MetBy, Policy, plan_clocks, untimed
from frontdesk.router.sla.policy import Target as SlaTarget

log = logging.getLogger("frontdesk.followups")

FOLLOW_UP_OF = "follow_up_of"  # the attribute that links a follow-up to its original
SINK_NAME = "follow-ups"
_KEYS = ["queue", "channel", "within", "policies"]
_NAME = r"^[a-z][a-z0-9_-]{0,63}$"


@dataclass(frozen=True, slots=True)
class FollowUpPolicy:
    name: str
    conditions: tuple[Condition, ...] = ()
    escalated: bool | None = None  # closed at tier 2 or above
    score_at_most: int | None = None  # after a survey answer this low (else after completion)

    def matches(self, record: RequestRecord, lists: CustomerLists, score: int | None) -> bool:
        if (self.score_at_most is None) != (score is None):
            return False  # score policies answer feedback events, the others completions
        if score is not None and self.score_at_most is not None and score > self.score_at_most:
            return False
        request = record.request
        if self.escalated is not None and (request.tier >= 2) != self.escalated:
            return False
        facts = untimed(request, lists.lookup(request.customer))
        return all(c.holds(facts) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class FollowUpSettings:
    queue: str = ""
    channel: Channel = Channel.PHONE
    within_s: float | None = None
    calendar: str | None = None
    policies: tuple[FollowUpPolicy, ...] = ()

    def plan(self, policy: FollowUpPolicy) -> str:
        """The follow-up's service-level clocks: done (completed) within the target."""
        if self.within_s is None:
            return ""
        target = SlaTarget(RESOLUTION, self.within_s, self.calendar)
        name = f"follow-up:{policy.name}"
        return plan_clocks(Policy(name, (target,), first_response_by=MetBy.ACCEPT))


def parse_follow_ups(
    check: Checker, value: object, queues: set[str], calendars: set[str]
) -> FollowUpSettings:
    if value is None:
        return FollowUpSettings()
    path: Path = ("follow_ups",)
    f = check.mapping(path, value, _KEYS)
    queue = check.string((*path, "queue"), f.get("queue"))
    if queue is not None and queue not in queues:
        check.error((*path, "queue"), f"names no queue defined under queues: {queue!r}")
    channel = check.choice(
        (*path, "channel"), f.get("channel", "phone"), [c.value for c in Channel]
    )
    within_s = calendar = None
    if "within" in f:
        raw = f["within"]
        where = (*path, "within")
        if isinstance(raw, dict):
            w = check.mapping(where, raw, ["within", "calendar"])
            within_s = check.duration((*where, "within"), w.get("within"))
            calendar = check.string((*where, "calendar"), w.get("calendar"))
            if calendar is not None and calendar not in calendars:
                check.error(
                    (*where, "calendar"), f"names no calendar under calendars: {calendar!r}"
                )
        else:
            within_s = check.duration(where, raw)
    policies = []
    for i, body in enumerate(check.sequence((*path, "policies"), f.get("policies"))):
        where = (*path, "policies", i)
        p = check.mapping(where, body, ["name", "when"])
        name = check.string((*where, "name"), p.get("name"), _NAME)
        w = dict(p.get("when") or {}) if isinstance(p.get("when"), dict) else {}
        escalated = w.pop("escalated", None)
        if escalated is not None:
            escalated = check.boolean((*where, "when", "escalated"), escalated)
        score = w.pop("score_at_most", None)
        if score is not None:
            score = check.integer((*where, "when", "score_at_most"), score, 1, 5)
        conditions = parse_when(check, (*where, "when"), w, queues) if w else ()
        if name is not None:
            policies.append(FollowUpPolicy(name, conditions, escalated, score))
    if not policies:
        check.error((*path, "policies"), "name at least one: e.g. {name: important, when: ...}")
    if queue is None or channel is None:
        return FollowUpSettings()
    return FollowUpSettings(queue, Channel(channel), within_s, calendar, tuple(policies))


Create = Callable[[Request, str], Awaitable[str]]  # a request as given, its clocks -> its id


class FollowUpSink:
    """Makes the follow-up tasks; a Sink for the outbox engine."""

    name = SINK_NAME

    def __init__(
        self, settings: Callable[[], FollowUpSettings], lists: Callable[[], CustomerLists],
        create: Create,
    ) -> None:  # fmt: skip
        self._settings, self._lists, self._create = settings, lists, create

    def wants(self, event: Event) -> bool:
        return bool(self._settings().policies) and event.type in (
            EventType.COMPLETED, EventType.FEEDBACK,
        )  # fmt: skip

    async def deliver(self, event: Event, context: DeliveryContext) -> None:
        s = self._settings()
        record = await context.store.get(event.request)
        if record is None or FOLLOW_UP_OF in record.request.attributes:
            return  # gone, or a follow-up itself
        score = int(event.data["score"]) if event.type is EventType.FEEDBACK else None
        lists = self._lists()
        policy = next((p for p in s.policies if p.matches(record, lists, score)), None)
        if policy is None:
            return
        original = record.request
        attributes: dict[str, Scalar] = {FOLLOW_UP_OF: original.id, "follow_up": policy.name}
        if s.channel is Channel.PHONE:
            attributes[CALLBACK] = True  # a call: made in the working hours, as a callback
        task = Request(
            id="", channel=s.channel, entry_point="follow-up", queue=s.queue,
            subject=f"Follow-up ({policy.name}): {original.subject}"[:200],
            body=f"Call back about {original.id} ({original.subject}) and record the outcome.",
            customer=original.customer, language=original.language,
            external_id=f"follow-up:{original.id}", attributes=attributes,
        )  # fmt: skip
        made = await self._create(task, s.plan(policy))
        log.info("follow-up %s of %s made (%s)", made, original.id, policy.name)
