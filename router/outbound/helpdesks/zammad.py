"""Zammad (docs.zammad.org, "REST API": Introduction, Tickets, Articles).

- auth: `Authorization: Token token=<access token>` (a token with `ticket.agent`);
- create: `POST /api/v1/tickets` with `title`, `group` (by name), `priority` (by name, "2 normal"),
  `customer_id: "guess:<email>"` (Zammad finds the user by email or creates it), the first
  `article` (subject, body, type, sender Customer, not internal) and `tags` (comma-separated);
  a customer without an email is sent as `customer: {firstname, phone, login}` (found by login,
  else created), login `frontdesk-<customer id>`; answer 201 with the ticket (`id`);
- assign: `PUT /api/v1/tickets/{id}` with `owner_id`; state: the same with `state` (by name);
- follow-ups: `POST /api/v1/ticket_articles` with `ticket_id`, `body`, `type` (web, note),
  `sender` (Customer, Agent, System) and `internal` (false for the customer's and the agent's
  words, true for escalations, transfers, SLA events);
- every ticket carries the tag `frontdesk-<request id>`; after a create of unknown outcome the
  connector searches `GET /api/v1/tickets/search?query=tags:"frontdesk-<request id>"` (a search
  Zammad answers from Elasticsearch) before creating again.
"""

from __future__ import annotations

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

ARTICLE_TYPES = {Channel.PHONE: "phone"}  # every other channel: "web", a customer's own words


@dataclass(frozen=True, slots=True)
class ZammadOptions:
    group: str  # the group new tickets go to, by name


def request_tag(request: Request) -> str:
    return f"frontdesk-{request.id.lower()}"


class Zammad:
    """Tickets in Zammad (a `Helpdesk`)."""

    steps: tuple[str, ...] = ()

    def __init__(self, settings: HelpdeskSettings[ZammadOptions]) -> None:
        self.settings = settings
        self.options = settings.options
        self.http = HelpdeskClient(settings, {"Authorization": f"Token token={settings.token}"})

    def payload(self, request: Request) -> dict[str, Any]:
        """The documented create body for `request`."""
        c = request.customer
        title = ticket_title(request)
        article: dict[str, Any] = {
            "subject": title,
            "body": ticket_body(request),
            "content_type": "text/plain",
            "type": ARTICLE_TYPES.get(request.channel, "web"),
            "sender": "Customer",
            "internal": False,
        }
        body: dict[str, Any] = {
            "title": title,
            "group": self.options.group,
            "priority": self.settings.priorities[request.priority.value],
            "article": article,
            "tags": ",".join([*ticket_tags(request, self.settings.tags), request_tag(request)]),
        }
        if c.email:
            body["customer_id"] = f"guess:{c.email}"
            article["from"] = f"{c.name} <{c.email}>" if c.name else c.email
        else:
            body["customer"] = {
                "login": f"frontdesk-{(c.id or request.id).lower()}",
                "firstname": customer_name(request),
                **({"phone": c.phone} if c.phone else {}),
            }
        return body

    async def create_ticket(self, request: Request, tickets: TicketMap) -> str:
        reply = await self.http.call("POST", "/api/v1/tickets", body=self.payload(request))
        return str(self.http.answer(reply, "id", what="POST /api/v1/tickets"))

    async def find_ticket(self, request: Request, tickets: TicketMap) -> str | None:
        query = {"query": f'tags:"{request_tag(request)}"', "limit": "5"}
        reply = await self.http.call("GET", "/api/v1/tickets/search", params=query)
        found = reply.get("tickets") if isinstance(reply, dict) else None
        return str(min(found)) if found else None

    async def follow_up(self, step: str, request: Request, ticket: str, tickets: TicketMap) -> None:
        pass  # no steps

    async def set_assignee(self, ticket: str, user: int) -> None:
        await self.http.call("PUT", f"/api/v1/tickets/{ticket}", body={"owner_id": user})

    async def set_state(self, ticket: str, state: str) -> None:
        await self.http.call("PUT", f"/api/v1/tickets/{ticket}", body={"state": state})

    async def set_satisfaction(self, ticket: str, score: int, note: str) -> None:
        article = {"body": note, "type": "note", "internal": True}
        await self.http.call("PUT", f"/api/v1/tickets/{ticket}", body={"article": article})

    async def add_note(self, ticket: str, note: Note) -> None:
        """`POST /api/v1/ticket_articles`: a customer's words as a web article from the
        Customer, an agent's reply as a public note from an Agent, the rest internal notes."""
        article: dict[str, Any] = {
            "ticket_id": int(ticket) if ticket.isdigit() else ticket,
            "body": note.text,
            "content_type": "text/plain",
            "type": "web" if note.author == "customer" else "note",
            "sender": {"customer": "Customer", "agent": "Agent"}.get(note.author, "System"),
            "internal": not note.public,
        }
        await self.http.call("POST", "/api/v1/ticket_articles", body=article)

    async def aclose(self) -> None:
        await self.http.aclose()


def _options(check: Checker, where: Path, h: dict[str, Any]) -> ZammadOptions | None:
    group = check.string((*where, "group"), h.get("group"))
    return ZammadOptions(group) if group else None


KIND: Kind[ZammadOptions] = Kind(
    name="zammad",
    options=("group",),
    priorities={"high": "3 high", "medium": "2 normal", "low": "1 low"},
    priority_choices=None,  # each Zammad names its own priorities and states
    state_choices=None,
    parse_options=_options,
    connector=Zammad,
)
