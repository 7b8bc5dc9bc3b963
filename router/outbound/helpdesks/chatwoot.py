"""Chatwoot (developers.chatwoot.com, Application API; chatwoot/chatwoot `swagger/`).

- auth: header `api_access_token: <a user's access token>`; every path under
  `/api/v1/accounts/{account_id}`;
- the customer becomes a contact: `GET contacts/search?q=` (email, else phone, else identifier
  `frontdesk:<customer id>`), else `POST contacts` with `inbox_id`, `name`, `email`,
  `phone_number`, `identifier`; the contact's `source_id` in the inbox comes from its
  `contact_inboxes` (or `POST contacts/{id}/contact_inboxes`). The contact is remembered per
  customer, so the search (rate-limited by Chatwoot) runs once per customer;
- create: `POST conversations` with `source_id`, `inbox_id`, `contact_id`, `status: open` and
  `additional_attributes` {frontdesk_request, channel, subject}; answer 200 with the
  conversation (`id`, its display id); then, each once: the customer's words as an `incoming`
  message (`POST conversations/{id}/messages`, which Chatwoot accepts in API-channel inboxes),
  `toggle_priority`, and `labels`;
- follow-ups: `POST conversations/{id}/messages` with `content`, `message_type` (incoming: the
  customer's, outgoing: an agent's reply or a frontdesk note) and `private` (true for notes);
- assign: `POST conversations/{id}/assignments` with `assignee_id` (Chatwoot answers `null` when
  no agent of the account has that id); state: `POST conversations/{id}/toggle_status`;
- after a create of unknown outcome: `GET contacts/{id}/conversations`, the one whose
  `additional_attributes.frontdesk_request` is the request's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontdesk.queues.request import Request
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.outbound.helpdesks.base import (
    HelpdeskClient,
    HelpdeskSettings,
    Kind,
    Refused,
    customer_name,
    ticket_body,
    ticket_tags,
    ticket_title,
)
from frontdesk.router.outbound.helpdesks.notes import Note
from frontdesk.router.outbound.sinks import Undeliverable


@dataclass(frozen=True, slots=True)
class ChatwootOptions:
    account_id: int
    inbox_id: int  # an API-channel inbox: the only kind that takes incoming messages by API


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    source_id: str


def customer_key(request: Request) -> tuple[str, str]:
    """(the key the contact is remembered by, the search term that finds it)."""
    c = request.customer
    if c.email:
        return f"email:{c.email.lower()}", c.email
    if c.phone:
        return f"phone:{c.phone}", c.phone
    ident = identifier(request)
    return f"id:{ident}", ident


def identifier(request: Request) -> str:
    """The contact's `identifier`: frontdesk's customer id (or, without one, the request's)."""
    return f"frontdesk:{request.customer.id or request.id}"


def _same_customer(contact: dict[str, Any], request: Request) -> bool:
    c = request.customer
    if c.email and str(contact.get("email") or "").lower() == c.email.lower():
        return True
    if c.phone and contact.get("phone_number") == c.phone:
        return True
    return bool(contact.get("identifier") == identifier(request))


class Chatwoot:
    """Conversations in Chatwoot (a `Helpdesk`)."""

    steps: tuple[str, ...] = ("message", "priority", "labels")

    def __init__(self, settings: HelpdeskSettings[ChatwootOptions]) -> None:
        self.settings = settings
        self.name = settings.name
        self.options = settings.options
        self.base = f"/api/v1/accounts/{self.options.account_id}"
        self.http = HelpdeskClient(settings, {"api_access_token": settings.token})

    # -- contacts ------------------------------------------------------------------------------
    async def contact(
        self, request: Request, tickets: TicketMap, create: bool = True
    ) -> Contact | None:
        """The request's customer as a contact in the inbox (created when `create`)."""
        key, term = customer_key(request)
        cached = await tickets.contact(key)
        if cached is not None:
            contact_id, _, source_id = cached.partition(":")
            return Contact(int(contact_id), source_id)
        found = await self._search(request, term)
        if found is not None:
            contact = await self._in_inbox(found)
        elif create:
            contact = await self._create_contact(request)
        else:
            return None
        await tickets.save_contact(key, f"{contact.id}:{contact.source_id}")
        return contact

    async def _search(self, request: Request, term: str) -> dict[str, Any] | None:
        reply = await self.http.call("GET", f"{self.base}/contacts/search", params={"q": term})
        for item in self.http.answer(reply, "payload", what="GET contacts/search") or []:
            if _same_customer(item, request):
                return item  # type: ignore[no-any-return]
        return None

    async def _in_inbox(self, found: dict[str, Any]) -> Contact:
        inbox = self.options.inbox_id
        for link in found.get("contact_inboxes") or []:
            if (link.get("inbox") or {}).get("id") == inbox and link.get("source_id"):
                return Contact(int(found["id"]), str(link["source_id"]))
        path = f"{self.base}/contacts/{found['id']}/contact_inboxes"
        reply = await self.http.call("POST", path, body={"inbox_id": inbox})
        return Contact(int(found["id"]), str(self.http.answer(reply, "source_id", what=path)))

    async def _create_contact(self, request: Request) -> Contact:
        c = request.customer
        body: dict[str, Any] = {
            "inbox_id": self.options.inbox_id,
            "name": customer_name(request),
            "identifier": identifier(request),
        }
        if c.email:
            body["email"] = c.email
        if c.phone:
            body["phone_number"] = c.phone
        path = f"{self.base}/contacts"
        reply = await self.http.call("POST", path, body=body)
        contact_id = self.http.answer(reply, "payload", "contact", "id", what=f"POST {path}")
        source = self.http.answer(
            reply, "payload", "contact_inbox", "source_id", what=f"POST {path}"
        )
        return Contact(int(contact_id), str(source))

    # -- the conversation ----------------------------------------------------------------------
    async def create_ticket(self, request: Request, tickets: TicketMap) -> str:
        for _ in range(2):
            contact = await self.contact(request, tickets)
            assert contact is not None
            body = {
                "source_id": contact.source_id,
                "inbox_id": self.options.inbox_id,
                "contact_id": contact.id,
                "status": "open",
                "additional_attributes": {
                    "frontdesk_request": request.id,
                    "channel": request.channel.value,
                    "subject": ticket_title(request),
                },
            }
            try:
                reply = await self.http.call("POST", f"{self.base}/conversations", body=body)
            except Refused as refused:
                if refused.status != 404:
                    raise
                # the remembered contact is gone from Chatwoot: look it up again, once
                await tickets.forget_contact(customer_key(request)[0])
                continue
            return str(self.http.answer(reply, "id", what="POST conversations"))
        raise Undeliverable(f"{self.name}: Chatwoot keeps answering 404 for the contact")

    async def find_ticket(self, request: Request, tickets: TicketMap) -> str | None:
        contact = await self.contact(request, tickets, create=False)
        if contact is None:
            return None
        path = f"{self.base}/contacts/{contact.id}/conversations"
        reply = await self.http.call("GET", path)
        for conversation in self.http.answer(reply, "payload", what=f"GET {path}") or []:
            extra = conversation.get("additional_attributes") or {}
            if extra.get("frontdesk_request") == request.id:
                return str(conversation["id"])
        return None

    async def follow_up(self, step: str, request: Request, ticket: str, tickets: TicketMap) -> None:
        path = f"{self.base}/conversations/{ticket}"
        if step == "message":
            subject, text = request.subject.strip(), ticket_body(request)
            content = f"{subject}\n\n{text}" if subject and subject != text else text
            body = {"content": content, "message_type": "incoming", "private": False}
            await self.http.call("POST", f"{path}/messages", body=body)
        elif step == "priority":
            priority = self.settings.priorities[request.priority.value]
            await self.http.call("POST", f"{path}/toggle_priority", body={"priority": priority})
        elif step == "labels":
            labels = ticket_tags(request, self.settings.tags)
            await self.http.call("POST", f"{path}/labels", body={"labels": labels})

    async def set_assignee(self, ticket: str, user: int) -> None:
        path = f"{self.base}/conversations/{ticket}/assignments"
        reply = await self.http.call("POST", path, body={"assignee_id": user})
        if reply is None:
            raise Undeliverable(
                f"{self.name}: Chatwoot account {self.options.account_id} has no agent with id "
                f"{user} (the assignment answered null); check helpdesks[{self.name}].agents"
            )

    async def set_state(self, ticket: str, state: str) -> None:
        path = f"{self.base}/conversations/{ticket}/toggle_status"
        await self.http.call("POST", path, body={"status": state})

    async def set_satisfaction(self, ticket: str, score: int, note: str) -> None:
        path = f"{self.base}/conversations/{ticket}/messages"
        body = {"content": note, "message_type": "outgoing", "private": True}
        await self.http.call("POST", path, body=body)

    async def add_note(self, ticket: str, note: Note) -> None:
        """`POST conversations/{id}/messages`: the customer's words `incoming`, the rest
        `outgoing`, `private` unless public."""
        path = f"{self.base}/conversations/{ticket}/messages"
        kind = "incoming" if note.author == "customer" else "outgoing"
        body = {"content": note.text, "message_type": kind, "private": not note.public}
        await self.http.call("POST", path, body=body)

    async def aclose(self) -> None:
        await self.http.aclose()


def _options(check: Checker, where: Path, h: dict[str, Any]) -> ChatwootOptions | None:
    account = check.integer((*where, "account_id"), h.get("account_id"), 1)
    inbox = check.integer((*where, "inbox_id"), h.get("inbox_id"), 1)
    return ChatwootOptions(account, inbox) if account and inbox else None


KIND: Kind[ChatwootOptions] = Kind(
    name="chatwoot",
    options=("account_id", "inbox_id"),
    priorities={"high": "high", "medium": "medium", "low": "low"},
    priority_choices=("urgent", "high", "medium", "low"),
    state_choices=("open", "resolved", "pending", "snoozed"),
    parse_options=_options,
    connector=Chatwoot,
)
