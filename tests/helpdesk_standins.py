"""Local stand-ins for the helpdesks' REST APIs, each an aiohttp app on 127.0.0.1 that follows
the documented paths, auth, request and answer shapes and error answers, is strict about them,
and records what it received. Sources:

- Zammad: docs.zammad.org "REST API" (Introduction: `Authorization: Token token=...`; Tickets:
  POST/PUT /api/v1/tickets, search; Articles), and zammad/zammad
  `app/controllers/tickets_controller.rb` (`guess:<email>`, the `customer` hash, `tags`) and
  `application_controller/handles_errors.rb` (errors as `{"error", "error_human"}`, 401, 404, 422).
- Chatwoot: developers.chatwoot.com Application API and chatwoot/chatwoot `swagger/`
  (`api_access_token` header; contacts, contact_inboxes, conversations, messages,
  toggle_priority, labels, assignments, toggle_status), `access_token_auth_helper.rb`
  (401 `{"error": "Invalid Access Token"}`), `assignments_controller.rb` (`null` for an assignee
  that is not in the account) and `config/initializers/rack_attack.rb` (429 "Retry later" from
  rack-attack, which sends no Retry-After unless configured to).
- Zendesk: developer.zendesk.com Ticketing API (Tickets; introduction: Idempotency-Key and
  `x-idempotency-lookup`; requests: JSON only; errors `{"error", "description", "details"}`;
  rate limits: 429 with Retry-After).

Every stand-in can be told to fail (`fail`) or to hang (`hang`, before or after doing the work)
for the next matching calls; a hang lasts until `release` is set (at the latest 30 s).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from typing import Any, ClassVar

import standin
from aiohttp import web
from standin import BODY, problem

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")


class StandIn(standin.StandIn):
    """A helpdesk's REST API: strict about JSON, each with its own auth check."""

    strict_json = True

    def authorized(self, request: web.Request) -> bool:
        raise NotImplementedError


def unknown_keys(body: dict[str, Any], allowed: set[str]) -> list[str]:
    return sorted(set(body) - allowed)


# -- Zammad --------------------------------------------------------------------------------------


class ZammadStandIn(StandIn):
    """Zammad's /api/v1 tickets."""

    TICKET_KEYS: ClassVar[set[str]] = {
        *("title", "group", "group_id", "customer", "customer_id", "priority", "priority_id"),
        *("state", "state_id", "owner_id", "article", "tags", "note", "mentions", "pending_time"),
    }
    ARTICLE_KEYS: ClassVar[set[str]] = {
        *("subject", "body", "content_type", "type", "sender", "internal", "from", "to", "cc"),
        *("time_unit", "attachments"),
    }

    def __init__(self, token: str = "zammad-token", agents: tuple[int, ...] = (12, 15)) -> None:
        super().__init__()
        self.token = token
        self.groups = {"Users": 1, "2nd Level": 2}
        self.priorities = {"1 low": 1, "2 normal": 2, "3 high": 3}
        self.states = {"new": 1, "open": 2, "pending reminder": 3, "closed": 4, "merged": 5}
        self.article_types = {"email", "sms", "chat", "fax", "phone", "note", "web"}
        self.senders = {"Agent": 1, "Customer": 2, "System": 3}
        self.users: dict[int, dict[str, Any]] = {
            a: {"id": a, "login": f"agent{a}@example.com", "email": f"agent{a}@example.com",
                "role": "Agent"}
            for a in agents
        }  # fmt: skip
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.tags: dict[int, list[str]] = {}
        self._ids = iter(range(1, 10**6))
        self._user_ids = iter(range(100, 10**6))

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v1/tickets", self.create)
        router.add_get("/api/v1/tickets/search", self.search)
        router.add_get("/api/v1/tickets/{id}", self.show)
        router.add_put("/api/v1/tickets/{id}", self.update)
        router.add_post("/api/v1/ticket_articles", self.create_article)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Token token={self.token}"

    def unauthorized(self) -> web.Response:
        return problem(
            401,
            {"error": "Authentication required", "error_human": "Authentication required"},
            {"X-Failure": "Authentication required"},
        )

    @staticmethod
    def refuse(message: str, status: int = 422) -> web.Response:
        return problem(status, {"error": message, "error_human": message})

    # -- for tests -----------------------------------------------------------------------------
    def ticket_ids(self) -> list[str]:
        return [str(t) for t in self.tickets]

    def assignee(self, ticket: str) -> int | None:
        owner = self.tickets[int(ticket)]["owner_id"]
        return None if owner == 1 else int(owner)

    def state(self, ticket: str) -> str:
        state_id = self.tickets[int(ticket)]["state_id"]
        return next(name for name, i in self.states.items() if i == state_id)

    def delete(self, ticket: str) -> None:
        del self.tickets[int(ticket)]

    # -- handlers ------------------------------------------------------------------------------
    def _customer(self, body: dict[str, Any]) -> int | web.Response:
        guess = body.get("customer_id")
        if isinstance(guess, str) and guess.startswith("guess:"):
            email = guess[len("guess:") :]
            if not EMAIL.match(email):
                return self.refuse(f"Invalid email '{email}' of customer")
            return self._user_by(email=email.lower()) or self._new_user(email=email.lower())
        if isinstance(guess, int):
            return guess if guess in self.users else self.refuse("Customer not found", 404)
        customer = body.get("customer")
        if isinstance(customer, dict):
            login = str(customer.get("login") or "").lower()
            email = str(customer.get("email") or "").lower()
            found = (email and self._user_by(email=email)) or (login and self._user_by(login=login))
            if found:
                return found
            if not (login or email or customer.get("firstname") or customer.get("phone")):
                return self.refuse("Minimum one identifier (login, firstname, lastname, phone "
                                   "or email) for user is required.")  # fmt: skip
            return self._new_user(**{k: str(v) for k, v in customer.items()})
        return self.refuse("Attribute 'customer_id' required!")

    def _user_by(self, **match: str) -> int | None:
        for user in self.users.values():
            if all(str(user.get(k, "")).lower() == v for k, v in match.items()):
                return int(user["id"])
        return None

    def _new_user(self, **fields: str) -> int:
        user_id = next(self._user_ids)
        self.users[user_id] = {"id": user_id, "role": "Customer", **fields}
        return user_id

    def _lookup(self, body: dict[str, Any], key: str, table: dict[str, int]) -> int | str | None:
        """The id for a name given under `key`; an error text when the name is unknown."""
        if key not in body:
            return None
        if body[key] not in table:
            return f"No lookup value found for '{key}': {json.dumps(body[key])}"
        return table[body[key]]

    def _check_article(self, article: object) -> str | None:
        if not isinstance(article, dict):
            return "article must be an object"
        extra = unknown_keys(article, self.ARTICLE_KEYS)
        if extra:
            return f"unknown attribute '{extra[0]}' for Ticket::Article."
        if not isinstance(article.get("body"), str) or not article["body"]:
            return "Attribute 'body' required!"
        if article.get("type", "note") not in self.article_types:
            return f"No lookup value found for 'type': {json.dumps(article['type'])}"
        if article.get("sender", "Agent") not in self.senders:
            return f"No lookup value found for 'sender': {json.dumps(article['sender'])}"
        if not isinstance(article.get("internal", False), bool):
            return "internal must be true or false"
        if article.get("content_type", "text/plain") not in ("text/plain", "text/html"):
            return "content_type must be text/plain or text/html"
        return None

    async def create(self, request: web.Request) -> web.Response:
        body = request[BODY]
        extra = unknown_keys(body, self.TICKET_KEYS)
        if extra:
            return self.refuse(f"unknown attribute '{extra[0]}' for Ticket.")
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            return self.refuse("Attribute 'title' required!")
        ids = {}
        for key, table in (("group", self.groups), ("priority", self.priorities),
                           ("state", self.states)):  # fmt: skip
            found = self._lookup(body, key, table)
            if isinstance(found, str):
                return self.refuse(found)
            ids[key] = found
        if ids["group"] is None:
            return self.refuse("Attribute 'group_id' required!")
        if "article" in body and (error := self._check_article(body["article"])):
            return self.refuse(error)
        if "tags" in body and not isinstance(body["tags"], str):
            return self.refuse("tags must be a comma-separated string")
        customer = self._customer(body)
        if isinstance(customer, web.Response):
            return customer
        ticket_id = next(self._ids)
        ticket = {
            "id": ticket_id,
            "group_id": ids["group"],
            "priority_id": ids["priority"] or 2,
            "state_id": ids["state"] or 1,
            "organization_id": None,
            "number": str(31000 + ticket_id),
            "title": body["title"],
            "owner_id": 1,
            "customer_id": customer,
            "article_count": 1 if "article" in body else 0,
            "created_at": "2026-11-24T09:00:00.000Z",
            "updated_at": "2026-11-24T09:00:00.000Z",
        }
        self.tickets[ticket_id] = ticket
        self.articles[ticket_id] = [body["article"]] if "article" in body else []
        self.tags[ticket_id] = [t for t in body.get("tags", "").split(",") if t]
        return web.json_response(
            {**ticket, "article_ids": [ticket_id * 10], "ticket_time_accounting_ids": []},
            status=201,
        )

    def _ticket(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = request.match_info["id"]
        ticket = self.tickets.get(int(raw)) if raw.isdigit() else None
        if ticket is None:
            return self.refuse(f"Couldn't find Ticket with 'id'={raw}", 404)
        return ticket

    async def show(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        return ticket if isinstance(ticket, web.Response) else web.json_response(ticket)

    async def update(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        body = request[BODY]
        extra = unknown_keys(body, self.TICKET_KEYS - {"customer", "tags"})
        if extra:
            return self.refuse(f"unknown attribute '{extra[0]}' for Ticket.")
        if "owner_id" in body:
            owner = self.users.get(body["owner_id"]) if isinstance(body["owner_id"], int) else None
            if owner is None or owner["role"] != "Agent":
                return self.refuse(f"Invalid value for param 'owner_id': {body['owner_id']!r}")
            ticket["owner_id"] = owner["id"]
        state = self._lookup(body, "state", self.states)
        if isinstance(state, str):
            return self.refuse(state)
        if state is not None:
            ticket["state_id"] = state
        if "article" in body:  # a ticket update may add an article (a note, internal or not)
            refused = self._check_article(body["article"])
            if refused is not None:
                return self.refuse(refused)
            self.articles[ticket["id"]].append(body["article"])
        return web.json_response(ticket)

    async def create_article(self, request: web.Request) -> web.Response:
        """POST /api/v1/ticket_articles: an article on an existing ticket (`ticket_id`)."""
        body = dict(request[BODY])
        ticket_id = body.pop("ticket_id", None)
        if not isinstance(ticket_id, int) or ticket_id not in self.tickets:
            return self.refuse(f"Couldn't find Ticket with 'id'={ticket_id}", 422)
        refused = self._check_article(body)
        if refused is not None:
            return self.refuse(refused)
        self.articles[ticket_id].append(body)
        self.tickets[ticket_id]["article_count"] += 1
        article_id = ticket_id * 10 + len(self.articles[ticket_id])
        return web.json_response(
            {"id": article_id, "ticket_id": ticket_id, **body,
             "sender_id": self.senders[body.get("sender", "Agent")]},
            status=201,
        )  # fmt: skip

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        limit = int(request.query.get("limit", "10"))
        tag = re.fullmatch(r'tags:"?([^"]+)"?', query)
        found = [
            t for t in self.tickets
            if (tag and tag[1] in self.tags[t])
            or (not tag and query.lower() in self.tickets[t]["title"].lower())
        ][:limit]  # fmt: skip
        return web.json_response(
            {
                "tickets": found,
                "tickets_count": len(found),
                "assets": {"Ticket": {str(t): self.tickets[t] for t in found}},
            }
        )


# -- Chatwoot ------------------------------------------------------------------------------------


class ChatwootStandIn(StandIn):
    """Chatwoot's Application API for one account."""

    CONTACT_KEYS: ClassVar[set[str]] = {
        *("inbox_id", "name", "email", "phone_number", "identifier", "blocked", "avatar_url"),
        *("additional_attributes", "custom_attributes"),
    }
    CONVERSATION_KEYS: ClassVar[set[str]] = {
        *("source_id", "inbox_id", "contact_id", "additional_attributes", "custom_attributes"),
        *("status", "assignee_id", "team_id", "snoozed_until", "message"),
    }
    MESSAGE_KEYS: ClassVar[set[str]] = {
        *("content", "message_type", "private", "content_type", "content_attributes"),
    }

    def __init__(
        self,
        token: str = "cw-token",
        account_id: int = 3,
        agents: tuple[int, ...] = (21, 22),
        retry_after: str | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.account_id = account_id
        self.inboxes = {7: "Channel::Api", 8: "Channel::WebWidget"}
        self.agents = set(agents)
        self.retry_after = retry_after  # rack-attack sends none unless configured to
        self.contacts: dict[int, dict[str, Any]] = {}
        self.contact_inboxes: list[dict[str, Any]] = []  # contact_id, inbox_id, source_id
        self.conversations: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self._ids = iter(range(1, 10**6))

    def routes(self, router: web.UrlDispatcher) -> None:
        base = "/api/v1/accounts/{account}"
        router.add_get(base + "/contacts/search", self.search)
        router.add_post(base + "/contacts", self.create_contact)
        router.add_post(base + "/contacts/{id}/contact_inboxes", self.create_contact_inbox)
        router.add_get(base + "/contacts/{id}/conversations", self.contact_conversations)
        router.add_post(base + "/conversations", self.create_conversation)
        conversation = base + "/conversations/{id}"
        router.add_post(conversation + "/messages", self.create_message)
        router.add_post(conversation + "/toggle_priority", self.toggle_priority)
        router.add_post(conversation + "/labels", self.labels)
        router.add_post(conversation + "/assignments", self.assign)
        router.add_post(conversation + "/toggle_status", self.toggle_status)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("api_access_token") == self.token

    def unauthorized(self) -> web.Response:
        return problem(401, {"error": "Invalid Access Token"})

    def rate_limited(self) -> None:
        """The next call meets rack-attack's throttle."""
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        self.fail(429, body="Retry later\n", headers=headers)

    @staticmethod
    def not_found() -> web.Response:
        return problem(404, {"error": "Resource could not be found"})

    @staticmethod
    def invalid(message: str, attribute: str) -> web.Response:
        return problem(422, {"message": message, "attributes": [attribute]})

    # -- for tests -----------------------------------------------------------------------------
    def ticket_ids(self) -> list[str]:
        return [str(c) for c in self.conversations]

    def assignee(self, ticket: str) -> int | None:
        return self.conversations[int(ticket)]["assignee_id"]  # type: ignore[no-any-return]

    def state(self, ticket: str) -> str:
        return str(self.conversations[int(ticket)]["status"])

    def delete(self, ticket: str) -> None:
        del self.conversations[int(ticket)]

    # -- helpers -------------------------------------------------------------------------------
    def _account(self, request: web.Request) -> bool:
        return request.match_info["account"] == str(self.account_id)

    def _inbox(self, inbox_id: int) -> dict[str, Any]:
        return {"id": inbox_id, "name": f"Inbox {inbox_id}", "channel_type": self.inboxes[inbox_id],
                "channel_id": inbox_id, "provider": None, "avatar_url": ""}  # fmt: skip

    def _contact_item(self, contact: dict[str, Any]) -> dict[str, Any]:
        links = [
            {"source_id": ci["source_id"], "inbox": self._inbox(ci["inbox_id"])}
            for ci in self.contact_inboxes
            if ci["contact_id"] == contact["id"]
        ]
        return {**contact, "contact_inboxes": links}

    def _conversation(self, request: web.Request) -> dict[str, Any] | None:
        raw = request.match_info["id"]
        return self.conversations.get(int(raw)) if raw.isdigit() else None

    def _link(self, contact_id: int, inbox_id: int, source_id: str | None = None) -> str:
        source = source_id or str(uuid.uuid4())
        self.contact_inboxes.append(
            {"contact_id": contact_id, "inbox_id": inbox_id, "source_id": source}
        )
        return source

    # -- handlers ------------------------------------------------------------------------------
    async def search(self, request: web.Request) -> web.Response:
        if not self._account(request):
            return self.not_found()
        q = request.query.get("q", "").lower()
        found = [
            self._contact_item(c)
            for c in self.contacts.values()
            if q and any(q in str(c.get(f) or "").lower()
                         for f in ("name", "email", "phone_number", "identifier"))
        ][:15]  # fmt: skip
        return web.json_response({"meta": {"count": len(found), "current_page": 1},
                                  "payload": found})  # fmt: skip

    async def create_contact(self, request: web.Request) -> web.Response:
        if not self._account(request):
            return self.not_found()
        body = request[BODY]
        extra = unknown_keys(body, self.CONTACT_KEYS)
        if extra:
            return self.invalid(f"unknown attribute '{extra[0]}' for Contact.", extra[0])
        inbox = body.get("inbox_id")
        if not isinstance(inbox, int):
            return self.invalid("inbox_id is required", "inbox_id")
        if inbox not in self.inboxes:
            return self.not_found()
        email = body.get("email")
        if email is not None and not (isinstance(email, str) and EMAIL.match(email)):
            return self.invalid("Email Invalid email", "email")
        phone = body.get("phone_number")
        if phone is not None and not (isinstance(phone, str) and E164.match(phone)):
            return self.invalid("Phone number should be in e164 format", "phone_number")
        for field_name, value in (("email", email), ("identifier", body.get("identifier"))):
            if value and any(
                str(c.get(field_name) or "").lower() == str(value).lower()
                for c in self.contacts.values()
            ):
                label = field_name.capitalize()
                return self.invalid(f"{label} has already been taken", field_name)
        contact_id = next(self._ids)
        contact = {
            "id": contact_id,
            "name": body.get("name") or "",
            "email": email,
            "phone_number": phone,
            "identifier": body.get("identifier"),
            "additional_attributes": body.get("additional_attributes") or {},
            "custom_attributes": body.get("custom_attributes") or {},
            "availability_status": "offline",
            "blocked": False,
            "thumbnail": "",
            "created_at": 1_764_000_000,
            "last_activity_at": None,
        }
        self.contacts[contact_id] = contact
        source = self._link(contact_id, inbox)
        return web.json_response(
            {"payload": {"contact": self._contact_item(contact),
                         "contact_inbox": {"source_id": source, "inbox": self._inbox(inbox)}}}
        )  # fmt: skip

    async def create_contact_inbox(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        contact = self.contacts.get(int(raw)) if raw.isdigit() else None
        if not self._account(request) or contact is None:
            return self.not_found()
        inbox = request[BODY].get("inbox_id")
        if inbox not in self.inboxes:
            return self.not_found()
        source = self._link(contact["id"], inbox, request[BODY].get("source_id"))
        return web.json_response({"source_id": source, "inbox": self._inbox(inbox)})

    async def contact_conversations(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        if not self._account(request) or not raw.isdigit() or int(raw) not in self.contacts:
            return self.not_found()
        mine = [c for c in self.conversations.values() if c["contact_id"] == int(raw)]
        return web.json_response({"payload": mine})

    async def create_conversation(self, request: web.Request) -> web.Response:
        if not self._account(request):
            return self.not_found()
        body = request[BODY]
        extra = unknown_keys(body, self.CONVERSATION_KEYS)
        if extra:
            return self.invalid(f"unknown attribute '{extra[0]}' for Conversation.", extra[0])
        source = body.get("source_id")
        if not isinstance(source, str) or not source:
            return self.invalid("source_id is required", "source_id")
        inbox, contact = body.get("inbox_id"), body.get("contact_id")
        if inbox not in self.inboxes or contact not in self.contacts:
            return self.not_found()
        link = next((ci for ci in self.contact_inboxes if ci["source_id"] == source), None)
        if link is None:
            link_source = self._link(contact, inbox, source)
            link = {"contact_id": contact, "inbox_id": inbox, "source_id": link_source}
        elif (link["contact_id"], link["inbox_id"]) != (contact, inbox):
            return problem(422, {"error": "source_id should be unique"})
        status = body.get("status", "open")
        if status not in ("open", "resolved", "pending"):
            return self.invalid(f"'{status}' is not a valid status", "status")
        attrs = body.get("additional_attributes", {})
        if not isinstance(attrs, dict):
            return self.invalid("additional_attributes must be an object", "additional_attributes")
        display_id = next(self._ids)
        conversation = {
            "id": display_id,
            "account_id": self.account_id,
            "inbox_id": inbox,
            "contact_id": contact,
            "status": status,
            "priority": None,
            "assignee_id": body.get("assignee_id"),
            "labels": [],
            "additional_attributes": attrs,
            "custom_attributes": body.get("custom_attributes", {}),
            "meta": {"sender": self._contact_item(self.contacts[contact]), "assignee": None},
            "timestamp": 1_764_000_000,
        }
        self.conversations[display_id] = conversation
        self.messages[display_id] = []
        return web.json_response(conversation)

    async def create_message(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        if not self._account(request) or conversation is None:
            return self.not_found()
        body = request[BODY]
        extra = unknown_keys(body, self.MESSAGE_KEYS)
        if extra:
            return self.invalid(f"unknown attribute '{extra[0]}' for Message.", extra[0])
        if not isinstance(body.get("content"), str) or not body["content"]:
            return self.invalid("Content can't be blank", "content")
        kind = body.get("message_type", "outgoing")
        if kind not in ("incoming", "outgoing"):
            return self.invalid(f"'{kind}' is not a valid message_type", "message_type")
        if kind == "incoming" and self.inboxes[conversation["inbox_id"]] != "Channel::Api":
            return problem(422, {"error": "Incoming messages are only allowed in Api inboxes"})
        message = {
            "id": next(self._ids),
            "content": body["content"],
            "message_type": 0 if kind == "incoming" else 1,
            "private": bool(body.get("private", False)),
            "conversation_id": conversation["id"],
        }
        self.messages[conversation["id"]].append(message)
        return web.json_response(message)

    async def toggle_priority(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        if not self._account(request) or conversation is None:
            return self.not_found()
        priority = request[BODY].get("priority")
        if priority not in ("urgent", "high", "medium", "low", None):
            return problem(422, {"error": f"'{priority}' is not a valid priority"})
        conversation["priority"] = priority
        return web.Response(status=200)

    async def labels(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        if not self._account(request) or conversation is None:
            return self.not_found()
        labels = request[BODY].get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return self.invalid("labels must be a list of strings", "labels")
        conversation["labels"] = labels
        return web.json_response({"payload": labels})

    async def assign(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        if not self._account(request) or conversation is None:
            return self.not_found()
        body = request[BODY]
        if "assignee_id" not in body:
            return web.json_response(None)
        if body["assignee_id"] not in self.agents:
            conversation["assignee_id"] = None
            return web.json_response(None)
        agent = body["assignee_id"]
        conversation["assignee_id"] = agent
        return web.json_response(
            {"id": agent, "name": f"Agent {agent}", "email": f"agent{agent}@example.com",
             "role": "agent", "confirmed": True, "availability_status": "online"}
        )  # fmt: skip

    async def toggle_status(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        if not self._account(request) or conversation is None:
            return self.not_found()
        status = request[BODY].get("status")
        if status not in ("open", "resolved", "pending", "snoozed"):
            return self.invalid(f"'{status}' is not a valid status", "status")
        conversation["status"] = status
        return web.json_response(
            {"meta": {}, "payload": {"success": True, "current_status": status,
                                     "conversation_id": conversation["id"]}}
        )  # fmt: skip


# -- Zendesk -------------------------------------------------------------------------------------


class ZendeskStandIn(StandIn):
    """Zendesk Support's /api/v2 tickets."""

    TICKET_KEYS: ClassVar[set[str]] = {
        *("subject", "comment", "requester", "requester_id", "priority", "status", "type"),
        *("tags", "external_id", "group_id", "assignee_id", "custom_fields", "due_at"),
        "additional_tags",  # an update's tags to add (Update Ticket)
    }
    PRIORITIES = ("urgent", "high", "normal", "low")
    STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
    TYPES = ("question", "incident", "problem", "task")

    def __init__(
        self,
        email: str = "api@example.com",
        token: str = "zd-token",
        oauth: str | None = None,
        agents: tuple[int, ...] = (901, 902),
        groups: tuple[int, ...] = (360001,),
    ) -> None:
        super().__init__()
        basic = base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.accepted = {f"Basic {basic}"} | ({f"Bearer {oauth}"} if oauth else set())
        self.agents = set(agents)
        self.groups = set(groups)
        self.users: dict[str, int] = {}  # email -> user id
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}  # comments added by updates
        self.idempotency: dict[str, tuple[str, dict[str, Any]]] = {}  # key -> (body digest, reply)
        self.lookups: list[str] = []  # x-idempotency-lookup of each create with a key
        self._ids = iter(range(1, 10**6))

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v2/tickets.json", self.create)
        router.add_get("/api/v2/tickets.json", self.index)
        router.add_get("/api/v2/tickets/{id}.json", self.show)
        router.add_put("/api/v2/tickets/{id}.json", self.update)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") in self.accepted

    def unauthorized(self) -> web.Response:
        return problem(401, {"error": "Couldn't authenticate you"})

    def rate_limited(self, seconds: int) -> None:
        """The next call goes over the account's rate limit."""
        self.fail(429, body="Rate limit exceeded", headers={"Retry-After": str(seconds)})

    @staticmethod
    def invalid(field_name: str, description: str) -> web.Response:
        return problem(
            422,
            {"error": "RecordInvalid", "description": "Record validation errors",
             "details": {field_name: [{"description": description, "error": "InvalidValue"}]}},
        )  # fmt: skip

    # -- for tests -----------------------------------------------------------------------------
    def ticket_ids(self) -> list[str]:
        return [str(t) for t in self.tickets]

    def assignee(self, ticket: str) -> int | None:
        return self.tickets[int(ticket)]["assignee_id"]  # type: ignore[no-any-return]

    def state(self, ticket: str) -> str:
        return str(self.tickets[int(ticket)]["status"])

    def delete(self, ticket: str) -> None:
        del self.tickets[int(ticket)]

    # -- handlers ------------------------------------------------------------------------------
    def _check(self, ticket: dict[str, Any], creating: bool) -> web.Response | None:
        extra = unknown_keys(ticket, self.TICKET_KEYS)
        if extra:
            return self.invalid(extra[0], f"{extra[0]}: is not a ticket property")
        for key, choices in (("priority", self.PRIORITIES), ("status", self.STATUSES),
                             ("type", self.TYPES)):  # fmt: skip
            if key in ticket and ticket[key] not in choices:
                return self.invalid(key, f"{key.capitalize()}: {ticket[key]!r} is not valid")
        if "group_id" in ticket and ticket["group_id"] not in self.groups:
            return self.invalid("group", "Group: is invalid")
        if "assignee_id" in ticket and ticket["assignee_id"] not in self.agents:
            return self.invalid("assignee", "Assignee: is not an agent")
        tags = ticket.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return self.invalid("tags", "Tags: must be a list of strings")
        if not creating:
            return None
        comment = ticket.get("comment")
        if not isinstance(comment, dict) or not str(comment.get("body") or "").strip():
            return self.invalid("base", "Description: cannot be blank")
        requester = ticket.get("requester")
        if requester is not None:
            if not isinstance(requester, dict) or not requester.get("name"):
                return self.invalid("requester", "Requester: Name is required")
            email = requester.get("email")
            if email is not None and not (isinstance(email, str) and EMAIL.match(email)):
                return self.invalid("requester", f"Requester: Email {email} is not valid")
        return None

    async def create(self, request: web.Request) -> web.Response:
        body = request[BODY]
        key = request.headers.get("Idempotency-Key")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is not None and key in self.idempotency:
            first_digest, reply = self.idempotency[key]
            if first_digest != digest:
                return problem(400, {"error": "IdempotentRequestError",
                                     "description": "Request parameters differ from the "
                                                    "original request"})  # fmt: skip
            self.lookups.append("hit")
            return web.json_response(reply, status=201, headers={"x-idempotency-lookup": "hit"})
        ticket = body.get("ticket")
        if not isinstance(ticket, dict):
            return problem(400, {"error": "InvalidParameter", "description": "ticket is missing"})
        refused = self._check(ticket, creating=True)
        if refused is not None:
            return refused
        requester = ticket.get("requester") or {}
        email = (requester.get("email") or f"{uuid.uuid4()}@nobody.invalid").lower()
        requester_id = self.users.setdefault(email, 5000 + len(self.users))
        ticket_id = next(self._ids)
        stored = {
            "id": ticket_id,
            "url": f"{self.url}/api/v2/tickets/{ticket_id}.json",
            "subject": ticket.get("subject"),
            "description": ticket["comment"]["body"],
            "priority": ticket.get("priority"),
            "status": ticket.get("status", "new"),
            "type": ticket.get("type"),
            "requester_id": requester_id,
            "submitter_id": 1,
            "assignee_id": ticket.get("assignee_id"),
            "group_id": ticket.get("group_id"),
            "tags": sorted(set(ticket.get("tags", []))),
            "external_id": ticket.get("external_id"),
            "comment": ticket["comment"],
            "requester": requester,
            "created_at": "2026-11-24T09:00:00Z",
        }
        self.tickets[ticket_id] = stored
        reply = {"ticket": stored, "audit": {"id": ticket_id * 7, "ticket_id": ticket_id,
                                             "events": []}}  # fmt: skip
        headers = {"Location": stored["url"]}
        if key is not None:
            self.idempotency[key] = (digest, reply)
            self.lookups.append("miss")
            headers["x-idempotency-lookup"] = "miss"
        return web.json_response(reply, status=201, headers=headers)

    async def index(self, request: web.Request) -> web.Response:
        external = request.query.get("external_id")
        found = [
            t for t in self.tickets.values() if external is None or t["external_id"] == external
        ]
        return web.json_response(
            {"tickets": found, "next_page": None, "previous_page": None, "count": len(found)}
        )

    def _ticket(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = request.match_info["id"]
        ticket = self.tickets.get(int(raw)) if raw.isdigit() else None
        if ticket is None:
            return problem(404, {"error": "RecordNotFound", "description": "Not found"})
        return ticket

    async def show(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        return ticket if isinstance(ticket, web.Response) else web.json_response({"ticket": ticket})

    async def update(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        change = request[BODY].get("ticket")
        if not isinstance(change, dict):
            return problem(400, {"error": "InvalidParameter", "description": "ticket is missing"})
        refused = self._check(change, creating=False)
        if refused is not None:
            return refused
        ticket.update({k: v for k, v in change.items() if k in ("assignee_id", "status")})
        added = change.get("additional_tags", [])
        if not isinstance(added, list) or not all(isinstance(t, str) for t in added):
            return self.invalid("additional_tags", "Tags: must be a list of strings")
        ticket["tags"] = [
            *ticket.get("tags", []),
            *(t for t in added if t not in ticket.get("tags", [])),
        ]
        comment = change.get("comment")
        if comment is not None:  # a comment on update: public, or an internal note
            if not isinstance(comment, dict) or not str(comment.get("body") or "").strip():
                return self.invalid("comment", "Comment: body cannot be blank")
            self.comments.setdefault(ticket["id"], []).append(comment)
        return web.json_response({"ticket": ticket, "audit": {"ticket_id": ticket["id"]}})


# -- Freshdesk -----------------------------------------------------------------------------------


class FreshdeskStandIn(StandIn):
    """Freshdesk's /api/v2 tickets and notes (developers.freshdesk.com API v2: Basic auth with
    the API key and X; validation errors `{"description": "Validation failed", "errors": [{field,
    message, code}]}` with 400; 404 `{"code": "not_found"}`; search answers `results`)."""

    TICKET_KEYS: ClassVar[set[str]] = {
        *("subject", "description", "email", "phone", "name", "unique_external_id"),
        *("requester_id", "priority", "status", "source", "tags", "group_id", "responder_id"),
        *("type", "cc_emails", "custom_fields", "due_by", "product_id"),
    }
    NOTE_KEYS: ClassVar[set[str]] = {"body", "private", "incoming", "user_id", "notify_emails"}

    def __init__(self, api_key: str = "fd-key", agents: tuple[int, ...] = (7001, 7002)) -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{api_key}:X".encode()).decode()
        self.agents = set(agents)
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self._ids = iter(range(1, 10**6))

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v2/tickets", self.create)
        router.add_get("/api/v2/search/tickets", self.search)
        router.add_put("/api/v2/tickets/{id}", self.update)
        router.add_post("/api/v2/tickets/{id}/notes", self.create_note)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == self.auth

    def unauthorized(self) -> web.Response:
        message = "You have to be logged in to perform this action."
        return problem(401, {"code": "invalid_credentials", "message": message})

    @staticmethod
    def invalid(field_name: str, message: str, code: str = "invalid_value") -> web.Response:
        error = {"field": field_name, "message": message, "code": code}
        return problem(400, {"description": "Validation failed", "errors": [error]})

    # -- for tests -----------------------------------------------------------------------------
    def ticket_ids(self) -> list[str]:
        return [str(t) for t in self.tickets]

    def assignee(self, ticket: str) -> int | None:
        return self.tickets[int(ticket)]["responder_id"]  # type: ignore[no-any-return]

    def state(self, ticket: str) -> str:
        return {2: "open", 3: "pending", 4: "resolved", 5: "closed"}[
            self.tickets[int(ticket)]["status"]
        ]

    # -- handlers ------------------------------------------------------------------------------
    def _check(self, body: dict[str, Any], creating: bool) -> web.Response | None:
        extra = unknown_keys(body, self.TICKET_KEYS)
        if extra:
            return self.invalid(extra[0], "Unexpected/invalid field in request", "invalid_field")
        for key, allowed in (("priority", (1, 2, 3, 4)), ("status", (2, 3, 4, 5)),
                             ("source", (1, 2, 3, 5, 6, 7, 9, 10))):  # fmt: skip
            if key in body and body[key] not in allowed:
                return self.invalid(key, f"It should be one of these values: {allowed}")
        if "responder_id" in body and body["responder_id"] not in self.agents:
            return self.invalid("responder_id", "There is no agent matching the given id")
        if "tags" in body and not (isinstance(body["tags"], list)
                                   and all(isinstance(t, str) for t in body["tags"])):  # fmt: skip
            return self.invalid("tags", "It should be an Array of Strings", "datatype_mismatch")
        if not creating:
            return None
        if not any(body.get(k) for k in ("requester_id", "email", "phone", "unique_external_id")):
            return self.invalid("requester_id", "Please fill at least 1 of requester_id, email, "
                                "phone, unique_external_id fields", "missing_field")  # fmt: skip
        if "phone" in body and not body.get("name"):
            return self.invalid("name", "It should be a/an String", "missing_field")
        if "email" in body and not EMAIL.match(str(body["email"])):
            return self.invalid("email", "It should be in the 'valid email address' format")
        for key in ("subject", "description"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                return self.invalid(key, "It should be a/an String", "missing_field")
        return None

    async def create(self, request: web.Request) -> web.Response:
        body = request[BODY]
        refused = self._check(body, creating=True)
        if refused is not None:
            return refused
        ticket_id = next(self._ids)
        ticket = {"id": ticket_id, "responder_id": None, "status": 2, "priority": 1,
                  "source": 2, "tags": [], "created_at": "2026-11-24T09:00:00Z",
                  **body}  # fmt: skip
        self.tickets[ticket_id] = ticket
        self.notes[ticket_id] = []
        return web.json_response(ticket, status=201)

    def _ticket(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = request.match_info["id"]
        ticket = self.tickets.get(int(raw)) if raw.isdigit() else None
        return ticket if ticket is not None else problem(404, {"code": "not_found"})

    async def update(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        body = request[BODY]
        refused = self._check(body, creating=False)
        if refused is not None:
            return refused
        ticket.update(body)
        return web.json_response(ticket)

    async def create_note(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        body = request[BODY]
        extra = unknown_keys(body, self.NOTE_KEYS)
        if extra:
            return self.invalid(extra[0], "Unexpected/invalid field in request", "invalid_field")
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            return self.invalid("body", "It should be a/an String", "missing_field")
        for key in ("private", "incoming"):
            if key in body and not isinstance(body[key], bool):
                return self.invalid(key, "It should be a/an Boolean", "datatype_mismatch")
        note = {"id": 90000 + len(self.notes[ticket["id"]]), "ticket_id": ticket["id"],
                "private": True, "incoming": False, **body}  # fmt: skip
        self.notes[ticket["id"]].append(note)
        return web.json_response(note, status=201)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        tag = re.fullmatch(r"\"tag:'([^']+)'\"", query)
        if tag is None:
            return self.invalid("query", "It should be a valid query", "invalid_value")
        found = [t for t in self.tickets.values() if tag[1] in t.get("tags", [])]
        return web.json_response({"results": found, "total": len(found)})


# -- GLPI ----------------------------------------------------------------------------------------


class GlpiStandIn(StandIn):
    """GLPI's apirest.php (glpi-project/glpi apirest.md: initSession with App-Token and
    `Authorization: user_token`, Session-Token on every later call, errors as
    `["ERROR_...", "message"]`, 201 `{"id", "message"}` for an added item)."""

    TICKET_KEYS: ClassVar[set[str]] = {
        *("name", "content", "priority", "urgency", "impact", "type", "status"),
        *("itilcategories_id", "entities_id", "requesttypes_id", "_users_id_requester"),
    }

    def __init__(
        self, app_token: str = "glpi-app", user_token: str = "glpi-user",
        users: tuple[int, ...] = (41, 42),
    ) -> None:  # fmt: skip
        super().__init__()
        self.app_token = app_token
        self.user_token = user_token
        self.users = set(users)
        self.sessions: set[str] = set()
        self.killed: list[str] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.followups: dict[int, list[dict[str, Any]]] = {}
        self.links: list[dict[str, Any]] = []  # Ticket_User
        self._ids = iter(range(1, 10**6))

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/apirest.php/initSession", self.init_session)
        router.add_get("/apirest.php/killSession", self.kill_session)
        router.add_post("/apirest.php/Ticket", self.create)
        router.add_get("/apirest.php/Ticket", self.index)
        router.add_put("/apirest.php/Ticket/{id}", self.update)
        router.add_post("/apirest.php/Ticket/{id}/ITILFollowup", self.followup)
        router.add_post("/apirest.php/Ticket/{id}/Ticket_User", self.link_user)

    @staticmethod
    def error(status: int, code: str, message: str) -> web.Response:
        return problem(status, [code, message])

    def authorized(self, request: web.Request) -> bool:
        if request.headers.get("App-Token") != self.app_token:
            return False
        if request.path == "/apirest.php/initSession":
            return request.headers.get("Authorization") == f"user_token {self.user_token}"
        return request.headers.get("Session-Token") in self.sessions

    def unauthorized(self) -> web.Response:
        return self.error(401, "ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid")

    # -- for tests -----------------------------------------------------------------------------
    def expire_sessions(self) -> None:
        self.sessions.clear()

    def ticket_ids(self) -> list[str]:
        return [str(t) for t in self.tickets]

    def assignee(self, ticket: str) -> int | None:
        found = [x["users_id"] for x in self.links
                 if x["tickets_id"] == int(ticket) and x["type"] == 2]  # fmt: skip
        return found[-1] if found else None

    def state(self, ticket: str) -> str:
        names = {1: "new", 2: "assigned", 3: "planned", 4: "waiting", 5: "solved", 6: "closed"}
        return names[self.tickets[int(ticket)]["status"]]

    # -- handlers ------------------------------------------------------------------------------
    async def init_session(self, request: web.Request) -> web.Response:
        token = uuid.uuid4().hex
        self.sessions.add(token)
        return web.json_response({"session_token": token})

    async def kill_session(self, request: web.Request) -> web.Response:
        token = request.headers["Session-Token"]
        self.sessions.discard(token)
        self.killed.append(token)
        return web.json_response(True)

    def _input(self, request: web.Request) -> dict[str, Any] | web.Response:
        found = request[BODY].get("input")
        if not isinstance(found, dict):
            return self.error(400, "ERROR_BAD_ARRAY", "input parameter must be an array of objects")
        return found

    def _ticket(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = request.match_info["id"]
        ticket = self.tickets.get(int(raw)) if raw.isdigit() else None
        if ticket is None:
            return self.error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        return ticket

    def _check(self, fields: dict[str, Any]) -> web.Response | None:
        extra = unknown_keys(fields, self.TICKET_KEYS)
        if extra:
            return self.error(400, "ERROR_GLPI_ADD", f"unknown field {extra[0]}")
        for key, allowed in (("priority", range(1, 7)), ("urgency", range(1, 6)),
                             ("type", (1, 2)), ("status", range(1, 7))):  # fmt: skip
            if key in fields and fields[key] not in allowed:
                return self.error(400, "ERROR_GLPI_ADD", f"{key}: invalid value")
        return None

    async def create(self, request: web.Request) -> web.Response:
        fields = self._input(request)
        if isinstance(fields, web.Response):
            return fields
        refused = self._check(fields)
        if refused is not None:
            return refused
        if not str(fields.get("name") or "").strip() or not str(fields.get("content") or ""):
            return self.error(400, "ERROR_GLPI_ADD", "name and content are mandatory")
        ticket_id = next(self._ids)
        self.tickets[ticket_id] = {"id": ticket_id, "status": 1, **fields}
        self.followups[ticket_id] = []
        where = {"Location": f"{self.url}/apirest.php/Ticket/{ticket_id}"}
        return web.json_response({"id": ticket_id, "message": ""}, status=201, headers=where)

    async def index(self, request: web.Request) -> web.Response:
        text = request.query.get("searchText[content]", "")
        found = [t for t in self.tickets.values() if text in t["content"]]
        return web.json_response(found[:5])

    async def update(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        fields = self._input(request)
        if isinstance(fields, web.Response):
            return fields
        refused = self._check(fields)
        if refused is not None:
            return refused
        ticket.update(fields)
        return web.json_response([{str(ticket["id"]): True, "message": ""}])

    async def followup(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        fields = self._input(request)
        if isinstance(fields, web.Response):
            return fields
        if fields.get("itemtype") != "Ticket" or fields.get("items_id") != ticket["id"]:
            return self.error(400, "ERROR_GLPI_ADD", "itemtype and items_id must name the ticket")
        if not str(fields.get("content") or "").strip() or fields.get("is_private") not in (0, 1):
            return self.error(400, "ERROR_GLPI_ADD", "content and is_private are mandatory")
        self.followups[ticket["id"]].append(fields)
        return web.json_response({"id": 500 + len(self.followups[ticket["id"]]), "message": ""},
                                 status=201)  # fmt: skip

    async def link_user(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if isinstance(ticket, web.Response):
            return ticket
        fields = self._input(request)
        if isinstance(fields, web.Response):
            return fields
        if fields.get("tickets_id") != ticket["id"] or fields.get("type") not in (1, 2, 3):
            return self.error(400, "ERROR_GLPI_ADD", "tickets_id and type are mandatory")
        if fields.get("users_id") not in self.users:
            return self.error(400, "ERROR_GLPI_ADD", "users_id: no such user")
        self.links.append(fields)
        if fields["type"] == 2 and ticket["status"] == 1:
            ticket["status"] = 2  # GLPI moves a new ticket to "assigned"
        return web.json_response({"id": len(self.links), "message": ""}, status=201)
