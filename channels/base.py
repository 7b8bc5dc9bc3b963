"""The seam between the daemon and a channel: what a channel hands over (`Inbound`), what it gets
back (`Receipt`), what it is given to work with (`ChannelContext`) and what every channel module
provides (`ChannelModule`). A channel imports this, `router.http`, `router.conf`, queues and skills,
never the front door, the API or the daemon themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import Event
from frontdesk.queues.request import Request
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.router.conf.yaml import Checker, Path

TOKEN_REF = "email:token:"  # a thread reference naming the request itself, from a subject token


def mail_ref(message_id: str) -> str:
    """The thread reference of a Message-ID without angle brackets (as the mail channels parse it
    from a header, as the notices make it): `email:<id>`, what a reply's References lead back by."""
    return f"email:{message_id}"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a channel, normalized."""

    request: Request  # queue "" lets the rules decide
    thread_refs: tuple[str, ...] = ()  # conversations it refers to: "email:<id@x>", "chat:<id>"
    thread_keys: tuple[str, ...] = ()  # references that lead back to its request from now on
    join_open: bool = False  # join the customer's open request on the same channel, if any
    auto_submitted: bool = False  # sent by a robot: never answered automatically
    contents: Mapping[str, bytes] = field(default_factory=dict)  # attachment ref -> its bytes
    # (sender, source) to count against the rate limits first, in the same call as the intake
    # (as `ChannelContext.admit` counts them); over a limit, nothing is stored: see the receipt
    admit: tuple[str | None, str | None] | None = None
    admit_again: bool = True  # False: a message received before is not counted again (a retry)
    join_only: bool = False  # a follow-up only: no open request to join, nothing stored (closed)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of an inbound message."""

    request_id: str
    customer_id: str
    created: bool  # it opened a new request
    appended: bool  # it joined an open request as a follow-up
    status_token: str  # lets the customer look the request up
    retry_after: float | None = None  # over a rate limit of `Inbound.admit`: nothing was stored
    closed: bool = False  # `Inbound.join_only` and no open request to join: nothing was stored
    answered: bool = False  # a bare score answering the request's survey: kept with the request

    @property
    def duplicate(self) -> bool:
        """The same external message was received before; nothing changed."""
        done = self.created or self.appended or self.closed or self.answered
        return not done and self.retry_after is None


class Rating(Protocol):
    """The satisfaction survey as a channel meets it (the chat widget's rating)."""

    def dimensions_for(self, record: RequestRecord) -> tuple[str, ...] | None:
        """What a completed request is asked (its score is `overall`); None: no survey, or
        answered already."""
        ...

    async def answer(
        self, request_id: str, score: int, dimensions: Mapping[str, int], comment: str, via: str
    ) -> str:
        """Record the answer: AlreadyAnswered, SurveyClosed, WrongState as the queues raise."""
        ...


class ChannelContext(Protocol):
    """What the daemon gives a channel: the front door, the records it may read, the customer's
    standing in the queue and the events as they happen (router/daemon/context.py builds it)."""

    store: QueueStore  # request records and threads: read, `seen`, `abandon`
    customers: CustomerStore  # who a number or an address is, and their requests
    rating: Rating | None  # the satisfaction survey (None: no surveys in this daemon)

    async def receive(self, inbound: Inbound) -> Receipt:
        """Store what came in (durable on return); raises RedisError when Redis is down."""
        ...

    async def admit(self, sender: str | None, source: str | None) -> float | None:
        """None when a message of `sender` from `source` is within the limits, else the seconds
        to retry after."""
        ...

    def status_token(self, subject: str) -> str:
        """The customer's token for `subject` (a request id, a conversation)."""
        ...

    def check_status_token(self, subject: str, token: str) -> bool:
        """Constant-time check of a customer's token."""
        ...

    async def standing(self, record: RequestRecord, *, shared: bool = False) -> dict[str, Any]:
        """`position` and `estimated_wait_s` of a request (None when it is not waiting), read
        now; `shared`: from its queue's board, read once per change of the queue for every
        socket that shows a position there (pushes driven by the event stream)."""
        ...

    def agent_name(self, agent_id: str) -> str:
        """The name the customer is shown for an agent (the id when the config has none)."""
        ...

    def notice_on_close(self, record: RequestRecord) -> bool:
        """Whether a customer notice is sent for a chat closing as `record` did (completed or
        abandoned): its socket waits a little for it before it closes."""
        ...

    def subscribe(
        self,
        listener: Callable[[Event], None],
        *,
        request: str | None = None,
        agent: str | None = None,
        queue: str | None = None,
    ) -> Callable[[], None]:
        """Hear the events of one request, one agent or one queue (every event when none is
        named: for the few that need them all) as the daemon's one follower of the stream reads
        them; returns the unsubscribe."""
        ...


class ChannelRuntime(Protocol):
    """A running channel: HTTP routes mounted on the daemon's app, and anything it listens on or
    polls (an SMTP server, IMAP pollers), started after Redis is ready, stopped before it closes."""

    name: str

    def routes(self) -> list[web.RouteDef]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ChannelModule(Protocol):
    """A channel module: parses its own `channels.<name>` config section (every problem with its
    YAML path and line) and makes its runtime."""

    def parse_config(self, check: Checker, raw: object, path: Path, queues: set[str]) -> Any: ...

    def create(self, settings: Any, context: ChannelContext) -> ChannelRuntime: ...


Factory = Callable[[Any, ChannelContext], ChannelRuntime]
S = TypeVar("S")


class RoutesOnly(Generic[S]):
    """A channel that is routes on the daemon's HTTP listener and nothing else: no server of
    its own to start or stop. Subclasses name themselves and list their routes."""

    name: str

    def __init__(self, settings: S, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context

    async def start(self) -> None:
        """Nothing to start: the daemon's HTTP listener serves the routes."""

    async def stop(self) -> None:
        """Nothing to stop."""
