"""`callbacks:`, how missed phone callbacks are tried again.

callbacks:
  retry_after: 15m   # a call not answered (no_answer, busy) is tried again this much later
  max_attempts: 3    # after this many missed calls the request is completed with the outcome
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.router.conf.yaml import Checker

KEYS = ["retry_after", "max_attempts"]
MAX_RETRY_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    retry_after_s: float = 900.0
    max_attempts: int = 3


def parse_callbacks(check: Checker, value: object) -> CallbackSettings:
    raw = check.mapping(("callbacks",), value, KEYS)
    out = CallbackSettings()
    retry = out.retry_after_s
    if "retry_after" in raw:
        given = check.duration(("callbacks", "retry_after"), raw["retry_after"])
        if given is not None and not 0 < given <= MAX_RETRY_S:
            check.error(("callbacks", "retry_after"), "must be more than 0s and at most 7d")
        elif given is not None:
            retry = given
    attempts = out.max_attempts
    if "max_attempts" in raw:
        given_n = check.integer(("callbacks", "max_attempts"), raw["max_attempts"], 1, 20)
        attempts = given_n if given_n is not None else attempts
    return CallbackSettings(retry, attempts)
