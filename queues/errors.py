"""One error tree for frontdesk: a root, family bases, leaves that carry data. The refusals an
HTTP client sees (ApiError and its leaves, each with its status) grow from the same root in
router/http/errors.py."""

from __future__ import annotations

from enum import IntEnum


class FrontdeskError(Exception):
    """Root of every error frontdesk raises on purpose."""


class DecodeError(FrontdeskError):
    """Stored or received bytes could not be decoded; keeps the raw bytes and the cause."""

    def __init__(self, what: str, raw: bytes, cause: BaseException | None = None) -> None:
        super().__init__(f"cannot decode {what}: {cause}")
        self.what = what
        self.raw = raw
        self.cause = cause


class EncodeError(DecodeError):
    """A value that cannot be stored: a string in it is not valid Unicode (a lone surrogate,
    from a `\\ud800` JSON escape or bytes decoded with surrogateescape). `what` names the field;
    a channel answers it like the bad input it is (HTTP 400, SMTP 5xx)."""

    def __init__(self, what: str) -> None:
        super().__init__(what, b"", ValueError("is not valid Unicode text (a lone surrogate)"))


class QueueError(FrontdeskError):
    """A queue operation was refused; `code` is the script's return code."""

    code: ErrorCode

    def __init__(self, code: ErrorCode, request_id: str | None = None, detail: str = "") -> None:
        self.code = code
        self.request_id = request_id
        self.detail = detail
        text = code.name.lower().replace("_", " ")
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"{text}{where}{': ' + detail if detail else ''}")


class ErrorCode(IntEnum):
    """Negative return codes of the Lua scripts, named once."""

    NOT_FOUND = -1
    WRONG_STATE = -2
    NO_CAPACITY = -3
    AGENT_NOT_FOUND = -4
    AGENT_UNAVAILABLE = -5
    NOT_YOUR_OFFER = -6
    AGENT_EXCLUDED = -7
    TOP_TIER = -8
    STALE = -9
    OFFER_EXPIRED = -10
    NOT_OVERDUE = -11
    CAPACITY_BELOW_LOAD = -12
    DUPLICATE_ID = -13
    AGENT_HEARD = -14  # the agent was heard (or given work) within the grace: not vanished
    NOT_YOUR_REQUEST = -15  # an agent's own token acts only on the requests it holds
    NO_SUCH_TARGET = -16  # the request's SLA policy has no such target (milestone)
    TARGET_DONE = -17  # that target was met or stopped already
    ALREADY_ANSWERED = -20  # the request's survey was answered before (the first answer wins)
    SURVEY_CLOSED = -21  # the survey's time to answer is over


class RequestNotFound(QueueError):
    """No request with that id."""


class WrongState(QueueError):
    """The request is not in a state that allows the operation."""


class AgentRefused(QueueError):
    """The agent cannot take the request: unknown, unavailable, full, or excluded."""


class NotYourOffer(QueueError):
    """The agent does not hold this request."""


class NotYourRequest(QueueError):
    """An agent's own token acted on a request that agent does not hold."""


class NoNextTier(FrontdeskError):
    """The request's queue has no next tier to escalate into (`queue` names it)."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} has no escalate_to")
        self.queue = queue


class TopTier(QueueError):
    """The request is already at the highest tier."""


class AgentHeard(QueueError):
    """The agent was heard again (or given work) since the sweeper read it: nothing to let go."""


class NoSuchTarget(QueueError):
    """A milestone the request's service-level policy does not have."""


class TargetDone(QueueError):
    """A milestone marked done before (or stopped when the request closed)."""


class AlreadyAnswered(QueueError):
    """The survey of the request was answered before: one answer per request."""


class SurveyClosed(QueueError):
    """The time to answer the request's survey is over."""


class StaleRead(QueueError):
    """The request moved between our read and the script; read again."""


_LEAVES: dict[ErrorCode, type[QueueError]] = {
    ErrorCode.NOT_FOUND: RequestNotFound,
    ErrorCode.WRONG_STATE: WrongState,
    ErrorCode.OFFER_EXPIRED: WrongState,
    ErrorCode.NOT_OVERDUE: WrongState,
    ErrorCode.NO_CAPACITY: AgentRefused,
    ErrorCode.AGENT_NOT_FOUND: AgentRefused,
    ErrorCode.AGENT_UNAVAILABLE: AgentRefused,
    ErrorCode.AGENT_EXCLUDED: AgentRefused,
    ErrorCode.CAPACITY_BELOW_LOAD: AgentRefused,
    ErrorCode.NOT_YOUR_OFFER: NotYourOffer,
    ErrorCode.NOT_YOUR_REQUEST: NotYourRequest,
    ErrorCode.TOP_TIER: TopTier,
    ErrorCode.STALE: StaleRead,
    ErrorCode.DUPLICATE_ID: WrongState,
    ErrorCode.AGENT_HEARD: AgentHeard,
    ErrorCode.NO_SUCH_TARGET: NoSuchTarget,
    ErrorCode.TARGET_DONE: TargetDone,
    ErrorCode.ALREADY_ANSWERED: AlreadyAnswered,
    ErrorCode.SURVEY_CLOSED: SurveyClosed,
}


def raise_for_code(result: object, request_id: str | None = None, detail: str = "") -> None:
    """Turn a script's negative integer into the matching exception; other values pass."""
    if isinstance(result, int) and result < 0:
        code = ErrorCode(result)
        raise _LEAVES[code](code, request_id, detail)
