"""Zendesk Support (developer.zendesk.com, Ticketing API: Tickets; API introduction).

- auth: with `email`, an API token: `Authorization: Basic base64("<email>/token:<token>")`;
  without, `token` is an OAuth access token: `Authorization: Bearer <token>`;
- create: `POST /api/v2/tickets.json` with `{"ticket": {subject, comment {body, public},
  requester {name, email}, priority, tags, external_id, group_id, type}}` and the header
  `Idempotency-Key: frontdesk-<tenant>-<request id>` (Zendesk answers a retried create with the
  first ticket); answer 201 `{"ticket": {"id": ...}, "audit": ...}`;
- assign: `PUT /api/v2/tickets/{id}.json` with `{"ticket": {"assignee_id": ...}}`; state: the
  same with `status`;
- follow-ups: the same PUT with `comment` {body, public, author_id}: the customer's words a
  public comment by the requester, an agent's reply public, frontdesk's notes `public: false`;
- after a create of unknown outcome (and past the idempotency key's lifetime):
  `GET /api/v2/tickets.json?external_id=<request id>`;
- rate limits: 429 with `Retry-After` (seconds).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from frontdesk.queues.request import Request
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.outbound.helpdesks.base import (
    HelpdeskClient,
    HelpdeskSettings,
    Kind,
    customer_name,
    satisfaction_tag,
    ticket_body,
    ticket_tags,
    ticket_title,
)
from frontdesk.router.outbound.helpdesks.notes import Note

TICKET_TYPES = ("question", "incident", "problem", "task")


@dataclass(frozen=True, slots=True)
class ZendeskOptions:
    email: str | None = None  # with an API token; None: the token is an OAuth access token
    group_id: int | None = None
    ticket_type: str | None = None


class Zendesk:
    """Tickets in Zendesk Support (a `Helpdesk`)."""

    steps: tuple[str, ...] = ()

    def __init__(self, settings: HelpdeskSettings[ZendeskOptions]) -> None:
        self.settings = settings
        self.options = settings.options
        self.http = HelpdeskClient(settings, auth_headers(settings))

    def payload(self, request: Request) -> dict[str, Any]:
        """The documented create body for `request`."""
        c = request.customer
        requester: dict[str, Any] = {"name": customer_name(request)}
        if c.email:
            requester["email"] = c.email
        ticket: dict[str, Any] = {
            "subject": ticket_title(request),
            "comment": {"body": ticket_body(request), "public": True},
            "requester": requester,
            "priority": self.settings.priorities[request.priority.value],
            "tags": ticket_tags(request, self.settings.tags),
            "external_id": request.id,
        }
        if self.options.group_id is not None:
            ticket["group_id"] = self.options.group_id
        if self.options.ticket_type is not None:
            ticket["type"] = self.options.ticket_type
        return {"ticket": ticket}

    async def create_ticket(self, request: Request, tickets: TicketMap) -> str:
        key = f"frontdesk-{tickets.tenant}-{request.id}"
        reply = await self.http.call(
            "POST",
            "/api/v2/tickets.json",
            body=self.payload(request),
            headers={"Idempotency-Key": key},
        )
        return str(self.http.answer(reply, "ticket", "id", what="POST /api/v2/tickets.json"))

    async def find_ticket(self, request: Request, tickets: TicketMap) -> str | None:
        params = {"external_id": request.id}
        reply = await self.http.call("GET", "/api/v2/tickets.json", params=params)
        found = self.http.answer(reply, "tickets", what="GET /api/v2/tickets.json") or []
        ids = [t["id"] for t in found if isinstance(t, dict) and "id" in t]
        return str(min(ids)) if ids else None

    async def follow_up(self, step: str, request: Request, ticket: str, tickets: TicketMap) -> None:
        pass  # no steps

    async def set_assignee(self, ticket: str, user: int) -> None:
        body = {"ticket": {"assignee_id": user}}
        await self.http.call("PUT", f"/api/v2/tickets/{ticket}.json", body=body)

    async def set_state(self, ticket: str, state: str) -> None:
        await self.http.call(
            "PUT", f"/api/v2/tickets/{ticket}.json", body={"ticket": {"status": state}}
        )

    async def set_satisfaction(self, ticket: str, score: int, note: str) -> None:
        change = {"additional_tags": [satisfaction_tag(score)],
                  "comment": {"body": note, "public": False}}  # fmt: skip
        await self.http.call("PUT", f"/api/v2/tickets/{ticket}.json", body={"ticket": change})

    async def add_note(self, ticket: str, note: Note) -> None:
        """`PUT /api/v2/tickets/{id}.json` with a `comment` {body, public}; a customer's words
        as a public comment authored by the ticket's requester (read from the ticket)."""
        comment: dict[str, Any] = {"body": note.text, "public": note.public}
        if note.author == "customer":
            path = f"/api/v2/tickets/{ticket}.json"
            reply = await self.http.call("GET", path)
            requester = self.http.answer(reply, "ticket", what=f"GET {path}").get("requester_id")
            if requester is not None:
                comment["author_id"] = requester
        body = {"ticket": {"comment": comment}}
        await self.http.call("PUT", f"/api/v2/tickets/{ticket}.json", body=body)

    async def aclose(self) -> None:
        await self.http.aclose()


def auth_headers(settings: HelpdeskSettings[ZendeskOptions]) -> dict[str, str]:
    """With an email, an API token (Basic); without, an OAuth access token (Bearer)."""
    if settings.options.email is None:
        return {"Authorization": f"Bearer {settings.token}"}
    pair = f"{settings.options.email}/token:{settings.token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def _options(check: Checker, where: Path, h: dict[str, Any]) -> ZendeskOptions | None:
    before = len(check.problems)
    email, group, kind = h.get("email"), h.get("group_id"), h.get("ticket_type")
    if email is not None:
        check.string((*where, "email"), email, r"[^@\s]+@[^@\s]+")
    if group is not None:
        check.integer((*where, "group_id"), group, 1)
    if kind is not None:
        check.choice((*where, "ticket_type"), kind, TICKET_TYPES)
    return ZendeskOptions(email, group, kind) if len(check.problems) == before else None


KIND: Kind[ZendeskOptions] = Kind(
    name="zendesk",
    options=("email", "group_id", "ticket_type"),
    priorities={"high": "high", "medium": "normal", "low": "low"},
    priority_choices=("urgent", "high", "normal", "low"),
    state_choices=("new", "open", "pending", "hold", "solved", "closed"),
    parse_options=_options,
    connector=Zendesk,
)
