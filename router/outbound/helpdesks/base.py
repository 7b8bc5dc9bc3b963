"""Helpdesk connectors: sinks that keep one helpdesk ticket per frontdesk request in step.

A request's first event (`enqueued`) creates its ticket (or conversation) and remembers the
helpdesk's id for the request (`frontdesk.queues.tickets.TicketMap`); `assigned` and `accepted`
set the ticket's assignee from the connector's agent map; `completed` and `abandoned` set a state
when one is configured. Any event of a request whose ticket does not exist yet creates it first,
so a connector added to a running desk catches up with the requests it sees. Every follow-up
message goes on the ticket (public for the customer's and the agent's words), and each
escalation, transfer, SLA warning or breach and reopening as an internal note (notes.py), each
once; an event applied from this helpdesk's own webhook (origin `helpdesk:<name>`, inbound.py)
is never written back.

Creating is idempotent: the mapping is read first, and before every create a marker is written;
a later attempt that finds the marker without a ticket id (the earlier create timed out, or the
daemon died in between) asks the helpdesk for the ticket before creating one, where the helpdesk
can be asked (`find_ticket`).

What a connector provides is the `Helpdesk` protocol (zammad.py, zendesk.py, chatwoot.py each
implement it, with options of their own type); `HelpdeskSink` is the one Sink over any of them.

HTTP failures map the same way for every helpdesk (`HelpdeskClient.call`): timeouts, refused
connections, 408, 409, 423, 425, 429 and 5xx raise `RetryLater` (with the far end's Retry-After,
in seconds or as a date); redirects and every other 4xx raise `Undeliverable` with the helpdesk's
own error text.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from redis.exceptions import LockError

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.request import Request
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.outbound.helpdesks.notes import (
    NOTED,
    Note,
    message_note,
    note_text,
    origin_of,
)
from frontdesk.router.outbound.remote import error_text, retry_after_s
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable

ENDINGS = {EventType.COMPLETED: "completed", EventType.ABANDONED: "abandoned"}
ASSIGNING = (EventType.ASSIGNED, EventType.ACCEPTED)
_RETRY_STATUSES = {408, 409, 423, 425, 429}

OptionsT = TypeVar("OptionsT")  # a connector's own options (ZammadOptions, ChatwootOptions, ...)


@dataclass(frozen=True, slots=True)
class HelpdeskSettings(Generic[OptionsT]):
    """One entry of `helpdesks:`: the keys every kind has, and the kind's own `options`."""

    name: str
    kind: str
    url: str  # scheme and host (and a path prefix), without a trailing slash
    token: str = field(repr=False)
    options: OptionsT
    agents: dict[str, int] = field(default_factory=dict)  # frontdesk agent id -> helpdesk user
    timeout_s: float = 10.0
    states: dict[str, str] = field(default_factory=dict)  # completed / abandoned -> state
    priorities: dict[str, str] = field(default_factory=dict)  # high / medium / low -> priority
    tags: tuple[str, ...] = ()
    unmapped_agent: str = "dead_letter"  # or "skip"
    webhook_secret: str | None = field(default=None, repr=False)  # the helpdesk's own webhooks


class Helpdesk(Protocol):
    """What a connector provides: the calls one helpdesk takes to create, find, follow up,
    assign and close a ticket. `HelpdeskSink` does the rest (the mapping, the lock, the events)."""

    @property
    def steps(self) -> tuple[str, ...]:
        """Follow-ups after the create, each applied once (in this order)."""
        ...

    async def create_ticket(self, request: Request, tickets: TicketMap) -> str:
        """Create the request's ticket; returns the helpdesk's id for it."""
        ...

    async def find_ticket(self, request: Request, tickets: TicketMap) -> str | None:
        """The ticket an earlier create of unknown outcome made, if the helpdesk can tell."""
        ...

    async def follow_up(self, step: str, request: Request, ticket: str, tickets: TicketMap) -> None:
        """Apply one of `steps` to a just-created ticket."""
        ...

    async def set_assignee(self, ticket: str, user: int) -> None: ...

    async def set_state(self, ticket: str, state: str) -> None: ...

    async def set_satisfaction(self, ticket: str, score: int, note: str) -> None:
        """Put the customer's survey score on the ticket (a tag and an internal note, as the
        helpdesk's API allows)."""
        ...

    async def add_note(self, ticket: str, note: Note) -> None:
        """Put a customer's message, an agent's reply (public) or what frontdesk did (an
        internal note) on the ticket."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP client."""
        ...


@dataclass(frozen=True, slots=True)
class Kind(Generic[OptionsT]):
    """What a helpdesk module tells the config parser and `create_sink`."""

    name: str
    options: tuple[str, ...]  # its own config keys, besides the common ones
    priorities: dict[str, str]  # frontdesk priority -> the helpdesk's, by default
    priority_choices: tuple[str, ...] | None  # None: names each installation defines
    state_choices: tuple[str, ...] | None
    parse_options: Callable[[Checker, Path, dict[str, Any]], OptionsT | None]
    connector: Callable[[HelpdeskSettings[OptionsT]], Helpdesk]

    def sink(self, settings: HelpdeskSettings[OptionsT]) -> HelpdeskSink:
        """The Sink for one `helpdesks:` entry of this kind."""
        return HelpdeskSink(settings, self.connector(settings))


def satisfaction_tag(score: int) -> str:
    return f"csat-{score}"


def _note(event: Event) -> str:
    """The internal note a survey answer puts on the ticket."""
    lines = [f"Customer satisfaction: {event.data['score']}/5 (frontdesk survey, "
             f"{event.data.get('via', 'survey')})"]  # fmt: skip
    if event.data.get("dimensions"):
        lines.append(f"Scores: {event.data['dimensions']}")
    if event.data.get("comment"):
        lines.append(f"Comment: {event.data['comment']}")
    return "\n".join(lines)


class Refused(Undeliverable):
    """The helpdesk answered with a status that retrying cannot change; keeps the status."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


# -- the sink ------------------------------------------------------------------------------------


class HelpdeskSink:
    """A Sink for one helpdesk: keeps one ticket per request in step through its connector."""

    def __init__(self, settings: HelpdeskSettings[Any], helpdesk: Helpdesk) -> None:
        self.settings = settings
        self.name = settings.name
        self.helpdesk = helpdesk

    def wants(self, event: Event) -> bool:
        if origin_of(event) == f"helpdesk:{self.name}":
            return False  # applied from this helpdesk's own webhook: never written back
        if event.type in (EventType.ENQUEUED, EventType.FEEDBACK) or event.type in ASSIGNING:
            return True
        if event.type is EventType.MESSAGE or event.type in NOTED:
            return True
        ending = ENDINGS.get(event.type)
        return ending is not None and ending in self.settings.states

    async def deliver(self, event: Event, context: DeliveryContext) -> None:
        if not self.wants(event):
            return
        user = None
        if event.type in ASSIGNING:
            user = self.settings.agents.get(event.agent)
            if user is None:
                if self.settings.unmapped_agent == "skip":
                    return
                raise Undeliverable(
                    f"{self.name}: agent {event.agent!r} has no user id under "
                    f"helpdesks[{self.name}].agents, so request {event.request} cannot be "
                    "assigned there"
                )
        record = await context.store.get(event.request)
        if record is None:
            raise Undeliverable(f"{self.name}: request {event.request} is no longer in frontdesk")
        tickets = TicketMap.of(context.store, self.name)
        ticket = await self.ensure_ticket(record.request, tickets)
        if event.type is EventType.MESSAGE:
            await self.post_messages(record.request.id, ticket, tickets)
        elif event.type in NOTED:
            step = f"event:{event.id}"  # each event's note once, however often it is delivered
            if step not in (await tickets.get(record.request.id)).done:
                await self.helpdesk.add_note(ticket, Note(note_text(event), public=False))
                await tickets.mark_done(record.request.id, step)
            if event.type is EventType.REOPENED:  # the customer's message that reopened it
                await self.post_messages(record.request.id, ticket, tickets)
        elif event.type is EventType.FEEDBACK:
            await self.helpdesk.set_satisfaction(ticket, int(event.data["score"]), _note(event))
        elif user is not None:
            await self.helpdesk.set_assignee(ticket, user)
        elif event.type in ENDINGS:
            await self.helpdesk.set_state(ticket, self.settings.states[ENDINGS[event.type]])

    async def aclose(self) -> None:
        """Close the HTTP client (the daemon calls this when it stops the sink)."""
        await self.helpdesk.aclose()

    async def post_messages(self, request_id: str, ticket: str, tickets: TicketMap) -> None:
        """Every message of the request not on the ticket yet, in order, each once (one
        delivery at a time per request: the ticket's lock)."""
        lock = tickets.lock(request_id, self.settings.timeout_s * 8 + 5)
        if not await lock.acquire(blocking=False):
            raise RetryLater(f"{self.name}: another delivery writes to the ticket of {request_id}",
                             1.0)  # fmt: skip
        try:
            posted, messages = await tickets.unposted(request_id)
            for message in messages:
                await self.helpdesk.add_note(ticket, message_note(message))
                posted += 1
                await tickets.mark_posted(request_id, posted)
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def ensure_ticket(self, request: Request, tickets: TicketMap) -> str:
        """The request's ticket id, creating the ticket (and its follow-ups) once."""
        steps = self.helpdesk.steps
        entry = await tickets.get(request.id)
        if entry.ticket is not None and entry.done.issuperset(steps):
            return entry.ticket
        lock = tickets.lock(request.id, self.settings.timeout_s * 8 + 5)
        if not await lock.acquire(blocking=False):
            raise RetryLater(
                f"{self.name}: another delivery is creating the ticket of {request.id}", 1.0
            )
        try:
            entry = await tickets.get(request.id)
            ticket = entry.ticket
            if ticket is None and entry.attempted:
                ticket = await self.helpdesk.find_ticket(request, tickets)
                if ticket is not None:
                    await tickets.save(request.id, ticket)
            if ticket is None:
                await tickets.mark_attempt(request.id)
                ticket = await self.helpdesk.create_ticket(request, tickets)
                await tickets.save(request.id, ticket)
            for step in steps:
                if step not in entry.done:
                    await self.helpdesk.follow_up(step, request, ticket, tickets)
                    await tickets.mark_done(request.id, step)
            return ticket
        finally:
            with contextlib.suppress(LockError):
                await lock.release()


# -- the HTTP client every connector calls its helpdesk with ---------------------------------------


class HelpdeskClient:
    """HTTP calls to one helpdesk, with the one mapping of failures every connector shares."""

    def __init__(self, settings: HelpdeskSettings[Any], auth: Mapping[str, str]) -> None:
        self.settings = settings
        self.name = settings.name
        self.auth = dict(auth)  # the headers that authenticate every call
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                headers={"User-Agent": "frontdesk"},
            )
        return self._http

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One HTTP call to the helpdesk: its JSON answer (None when empty), or RetryLater /
        Undeliverable (Refused) by the one mapping every connector shares."""
        what = f"{method} {path}"
        sent = {"Accept": "application/json", **self.auth, **(headers or {})}
        try:
            async with self._session().request(
                method,
                self.settings.url + path,
                json=body,
                params=params,
                headers=sent,
                allow_redirects=False,
            ) as response:
                status = response.status
                raw = await response.read()
                wait = retry_after_s(response.headers.get("Retry-After"))
                location = response.headers.get("Location", "")
        except TimeoutError:
            raise RetryLater(
                f"{self.name}: {what} timed out after {self.settings.timeout_s:g}s"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise RetryLater(f"{self.name}: cannot connect to {self.settings.url}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise RetryLater(f"{self.name}: {what} failed: {exc!r}") from exc
        if not 200 <= status < 300:
            raise self._failure(what, status, error_text(raw), wait, location)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise Refused(
                f"{self.name}: {what} answered {status} with a body that is not JSON: "
                f"{raw[:200]!r}",
                status,
            ) from None

    def _failure(
        self, what: str, status: int, detail: str, wait: float | None, location: str
    ) -> RetryLater | Refused:
        said = f"{self.name}: {what} answered {status}"
        if status in _RETRY_STATUSES or status >= 500:
            return RetryLater(f"{said}: {detail}", wait)
        if 300 <= status < 400:
            return Refused(
                f"{said}, a redirect to {location or '?'}: check helpdesks[{self.name}].url",
                status,
            )
        if status == 401:
            return Refused(
                f"{said}, the credentials were refused (check helpdesks[{self.name}].token): "
                f"{detail}",
                status,
            )
        return Refused(f"{said}: {detail}", status)

    def answer(self, reply: Any, *path: str | int, what: str) -> Any:
        """`reply[path...]`, or Refused when the helpdesk's answer lacks it."""
        value = reply
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                raise Refused(
                    f"{self.name}: the answer to {what} has no {'.'.join(map(str, path))}: "
                    f"{str(reply)[:200]}",
                    200,
                ) from None
        return value


# -- what a ticket says ----------------------------------------------------------------------------


def ticket_title(request: Request) -> str:
    """The subject, else the body's first line, else the request id."""
    if request.subject.strip():
        return request.subject.strip()[:250]
    first = next((line.strip() for line in request.body.splitlines() if line.strip()), "")
    return first[:80] or f"Request {request.id}"


def ticket_body(request: Request) -> str:
    """The customer's text, and a line naming the attachments (their content stays with the
    desk, at GET /v1/requests/{id}/attachments/{ref})."""
    text = request.body.strip() or request.subject.strip() or f"(request {request.id}: no text)"
    if not request.attachments:
        return text
    files = ", ".join(f"{a.filename} ({_size(a.size)})" for a in request.attachments)
    return f"{text}\n\n[attachments: {files}]"


def _size(n: int) -> str:
    for unit, step in (("MB", 2**20), ("KB", 2**10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def customer_name(request: Request) -> str:
    """Who asked, by the best name known."""
    c = request.customer
    handle = next(iter(c.handles.values()), None)
    return c.name or c.email or c.phone or handle or c.id or f"Customer of {request.id}"


def ticket_tags(request: Request, extra: Collection[str]) -> list[str]:
    """`frontdesk`, `frontdesk-<channel>`, the category, and the configured tags; no spaces or
    commas (both split tags in helpdesks)."""
    raw = ["frontdesk", f"frontdesk-{request.channel.value}", request.category or "", *extra]
    tags = (re.sub(r"[\s,]+", "_", t.strip()) for t in raw)
    return list(dict.fromkeys(t for t in tags if t))
