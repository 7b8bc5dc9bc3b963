"""`escalation:`, the reason codes an escalation may give (`reason_code` of POST
/v1/requests/{id}/escalate and the WebSocket's escalate frame), and whether one is required.

    escalation:
      reasons: [complexity, time, impact, no_kb_answer, customer_agitated, needs_permission]
      # or a mapping code -> label:  reasons: {complexity: 太复杂, time: 处理超时}
      require_reason: false   # true: an escalation without a reason_code is refused (400)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frontdesk.router.conf.yaml import Checker

CODE = r"[a-z][a-z0-9_-]{0,39}"
DEFAULT_REASONS = {
    "complexity": "too complex for this tier",
    "time": "taking too long",
    "impact": "wide impact (many users, a key system down)",
    "no_kb_answer": "the knowledge base has no answer",
    "customer_agitated": "the customer is agitated",
    "needs_permission": "needs a higher permission",
}
KEYS = ["reasons", "require_reason"]


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    """The reason codes (code -> label) and whether an escalation must give one."""

    reasons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REASONS))
    require_reason: bool = False


def parse_escalation(check: Checker, value: object) -> EscalationSettings:
    """`escalation`: `reasons` a list of codes or a mapping code -> label (the defaults, the
    seed documents' six, when not given), `require_reason` true or false (false)."""
    raw = check.mapping(("escalation",), value, KEYS)
    given = raw.get("reasons")
    reasons: dict[str, str] = {}
    if given is None:
        reasons = dict(DEFAULT_REASONS)
    elif isinstance(given, list):
        for i, code in enumerate(given):
            if check.string(("escalation", "reasons", i), code, CODE):
                reasons[code] = DEFAULT_REASONS.get(code, code)
    else:
        for code, label in check.mapping(("escalation", "reasons"), given).items():
            if check.string(("escalation", "reasons", code), code, CODE) is None:
                continue
            text = check.string(("escalation", "reasons", code), label) if label else code
            if text:
                reasons[code] = text
    required = raw.get("require_reason", False)
    require = check.boolean(("escalation", "require_reason"), required)
    if require and not reasons:
        check.error(("escalation", "require_reason"), "true needs at least one of reasons")
    return EscalationSettings(reasons, bool(require))
