"""`surveys:` in the config: which completed requests are asked how it went, what is asked, for
how long an answer is taken, and what a score does to the customer's standing.

    surveys:
      when: {channel: [email, social, form, phone, chat]}   # as an SLA policy's when; none: all
      accept_for: 7d              # answers after this long are refused, politely
      dimensions: [speed, attitude, effectiveness, overall]   # overall is the score
      low_score: {at_most: 2, list_for: 30d}   # on low_satisfaction for 30 days
      good_score: {at_least: 4}   # takes off a customer a low score put there

Robots and automatic mail are never asked (the notices' own rule: no survey to an auto-reply,
a bulk or list sender, or a missing address).
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.queues.request import Request
from frontdesk.router.conf.yaml import Checker, strings
from frontdesk.router.intake.rules import Condition, CustomerFlags
from frontdesk.router.sla.config import parse_when
from frontdesk.router.sla.policy import untimed

KEYS = ["when", "accept_for", "dimensions", "low_score", "good_score"]
DIMENSIONS = ("speed", "attitude", "effectiveness", "overall")
SCORE = "overall"
_DIMENSION = r"^[a-z][a-z0-9_]{0,31}$"
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class SurveySettings:
    """No `surveys:` section: no survey."""

    enabled: bool = False
    conditions: tuple[Condition, ...] = ()
    accept_for_s: float = 7 * DAY_S
    dimensions: tuple[str, ...] = DIMENSIONS
    low_at_most: int = 2  # 0: a score never lists the customer
    low_for_s: float = 30 * DAY_S
    good_at_least: int = 4  # 6: a score never takes them off

    def wants(self, request: Request, flags: CustomerFlags) -> bool:
        """Is the completed `request` asked?"""
        if not self.enabled:
            return False
        facts = untimed(request, flags)
        return all(c.holds(facts) for c in self.conditions)


def parse_surveys(check: Checker, value: object, queues: set[str]) -> SurveySettings:
    if value is None:
        return SurveySettings()
    path = ("surveys",)
    s = check.mapping(path, value, KEYS)
    if not isinstance(value, dict):
        return SurveySettings()
    conditions = parse_when(check, (*path, "when"), s["when"], queues) if "when" in s else ()
    accept = check.duration((*path, "accept_for"), s.get("accept_for", "7d"))
    if accept is not None and not 60 <= accept <= 366 * DAY_S:
        check.error((*path, "accept_for"), "must be from 1m to a year")
    dims = list(DIMENSIONS)
    if "dimensions" in s:
        dims = [d for _, d in strings(check, (*path, "dimensions"), s["dimensions"])]
        for where, d in strings(check, (*path, "dimensions"), s["dimensions"]):
            check.string(where, d, _DIMENSION)
        if SCORE not in dims:
            check.error((*path, "dimensions"), f"needs {SCORE!r}: it is the score")
        if len(set(dims)) != len(dims):
            check.error((*path, "dimensions"), "names a dimension twice")
    low = check.mapping((*path, "low_score"), s.get("low_score") or {}, ["at_most", "list_for"])
    at_most = check.integer((*path, "low_score", "at_most"), low.get("at_most", 2), 0, 5)
    list_for = check.duration((*path, "low_score", "list_for"), low.get("list_for", "30d"))
    good = check.mapping((*path, "good_score"), s.get("good_score") or {}, ["at_least"])
    at_least = check.integer((*path, "good_score", "at_least"), good.get("at_least", 4), 1, 6)
    if at_most is not None and at_least is not None and at_least <= at_most:
        check.error((*path, "good_score", "at_least"), "must be above low_score.at_most")
    if None in (accept, at_most, list_for, at_least):
        return SurveySettings()
    assert accept is not None and at_most is not None and list_for is not None
    assert at_least is not None
    return SurveySettings(True, conditions, accept, tuple(dims), at_most, list_for, at_least)
