"""Freshdesk (developers.freshdesk.com, API v2: Tickets, Conversations, Search).

- auth: HTTP Basic with the API key as the user and `X` as the password;
- create: `POST /api/v2/tickets` with `subject`, `description` (HTML), the requester by `email`
  (else `phone` with `name`, else `unique_external_id` `frontdesk-<customer id>`), `priority`
  (1 low, 2 medium, 3 high, 4 urgent), `status` 2 (open), `source` (1 email, 2 portal, 3
  phone, 7 chat), `tags` (with `frontdesk-<request id>`) and `group_id` when configured; answer
  201 with the ticket (`id`);
- assign: `PUT /api/v2/tickets/{id}` with `responder_id`; state: the same with `status`
  (2 open, 3 pending, 4 resolved, 5 closed);
- follow-ups: `POST /api/v2/tickets/{id}/notes` with `body` (HTML), `private` (false for the
  customer's and the agent's words), and `incoming: true` for the customer's (the reply
  endpoint would mail the customer again what frontdesk already sent);
- after a create of unknown outcome: `GET /api/v2/search/tickets?query="tag:'frontdesk-<id>'"`;
- errors `{"description", "errors": [{"field", "message", "code"}]}`; 429 with Retry-After.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

from frontdesk.queues.request import Channel, Request
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.outbound.helpdesks.base import (
    HelpdeskClient,
    HelpdeskSettings,
    Kind,
    customer_name,
    ticket_body,
    ticket_tags,
    ticket_title,
)
from frontdesk.router.outbound.helpdesks.notes import Note

PRIORITIES = {"low": 1, "medium": 2, "high": 3, "urgent": 4}
STATUSES = {"open": 2, "pending": 3, "resolved": 4, "closed": 5}
SOURCES = {Channel.EMAIL: 1, Channel.PHONE: 3, Channel.CHAT: 7}  # every other channel: 2 portal


@dataclass(frozen=True, slots=True)
class FreshdeskOptions:
    group_id: int | None = None


def request_tag(request: Request) -> str:
    return f"frontdesk-{request.id.lower()}"


def as_html(text: str) -> str:
    """Plain text as the HTML Freshdesk keeps: escaped, each line break a <br>."""
    return html.escape(text).replace("\n", "<br>")


class Freshdesk:
    """Tickets in Freshdesk (a `Helpdesk`)."""

    steps: tuple[str, ...] = ()

    def __init__(self, settings: HelpdeskSettings[FreshdeskOptions]) -> None:
        self.settings = settings
        self.options = settings.options
        pair = base64.b64encode(f"{settings.token}:X".encode()).decode()
        self.http = HelpdeskClient(settings, {"Authorization": f"Basic {pair}"})

    def payload(self, request: Request) -> dict[str, Any]:
        """The documented create body for `request`."""
        c = request.customer
        body: dict[str, Any] = {
            "subject": ticket_title(request),
            "description": as_html(ticket_body(request)),
            "priority": PRIORITIES[self.settings.priorities[request.priority.value]],
            "status": STATUSES["open"],
            "source": SOURCES.get(request.channel, 2),
            "tags": [*ticket_tags(request, self.settings.tags), request_tag(request)],
            "name": customer_name(request),
        }
        if c.email:
            body["email"] = c.email
        elif c.phone:
            body["phone"] = c.phone
        else:
            body["unique_external_id"] = f"frontdesk-{(c.id or request.id).lower()}"
        if self.options.group_id is not None:
            body["group_id"] = self.options.group_id
        return body

    async def create_ticket(self, request: Request, tickets: TicketMap) -> str:
        reply = await self.http.call("POST", "/api/v2/tickets", body=self.payload(request))
        return str(self.http.answer(reply, "id", what="POST /api/v2/tickets"))

    async def find_ticket(self, request: Request, tickets: TicketMap) -> str | None:
        query = {"query": f"\"tag:'{request_tag(request)}'\""}
        reply = await self.http.call("GET", "/api/v2/search/tickets", params=query)
        found = self.http.answer(reply, "results", what="GET /api/v2/search/tickets") or []
        ids = [t["id"] for t in found if isinstance(t, dict) and "id" in t]
        return str(min(ids)) if ids else None

    async def follow_up(self, step: str, request: Request, ticket: str, tickets: TicketMap) -> None:
        pass  # no steps

    async def set_assignee(self, ticket: str, user: int) -> None:
        await self.http.call("PUT", f"/api/v2/tickets/{ticket}", body={"responder_id": user})

    async def set_state(self, ticket: str, state: str) -> None:
        body = {"status": STATUSES[state]}
        await self.http.call("PUT", f"/api/v2/tickets/{ticket}", body=body)

    async def set_satisfaction(self, ticket: str, score: int, note: str) -> None:
        await self.add_note(ticket, Note(note, public=False))

    async def add_note(self, ticket: str, note: Note) -> None:
        body: dict[str, Any] = {"body": as_html(note.text), "private": not note.public}
        if note.author == "customer":
            body["incoming"] = True
        await self.http.call("POST", f"/api/v2/tickets/{ticket}/notes", body=body)

    async def aclose(self) -> None:
        await self.http.aclose()


def _options(check: Checker, where: Path, h: dict[str, Any]) -> FreshdeskOptions | None:
    group = h.get("group_id")
    if group is not None and check.integer((*where, "group_id"), group, 1) is None:
        return None
    return FreshdeskOptions(group)


KIND: Kind[FreshdeskOptions] = Kind(
    name="freshdesk",
    options=("group_id",),
    priorities={"high": "high", "medium": "medium", "low": "low"},
    priority_choices=tuple(PRIORITIES),
    state_choices=tuple(STATUSES),
    parse_options=_options,
    connector=Freshdesk,
)
