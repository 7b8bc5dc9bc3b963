"""GLPI (the REST API of `apirest.php`, GLPI 9.5 / 10: "apirest.md" in glpi-project/glpi).

- session: `GET /apirest.php/initSession` with `App-Token: <app_token>` and
  `Authorization: user_token <token>` answers `{"session_token"}`; every later call sends
  `Session-Token` and `App-Token`; a session GLPI no longer knows (401
  `["ERROR_SESSION_TOKEN_INVALID", ...]`) is opened again, once per call; `GET killSession` when
  the connector stops;
- create: `POST /apirest.php/Ticket` with `{"input": {name, content, priority (1 very low ..
  5 very high, 6 major), urgency, type (1 incident, 2 request), itilcategories_id,
  entities_id}}`; answer 201 `{"id", "message"}`. The content ends with the line
  `[frontdesk <request id>]`, by which a create of unknown outcome is looked for
  (`GET /apirest.php/Ticket?searchText[content]=...`);
- assign: `POST /apirest.php/Ticket/{id}/Ticket_User` with `{"input": {tickets_id, users_id,
  type: 2}}` (2: assigned technician); state: `PUT /apirest.php/Ticket/{id}` with
  `{"input": {"status"}}` (1 new, 2 assigned, 3 planned, 4 waiting, 5 solved, 6 closed);
- follow-ups: `POST /apirest.php/Ticket/{id}/ITILFollowup` with `{"input": {itemtype:
  "Ticket", items_id, content, is_private}}` (0 for the customer's and the agent's words);
- errors are `["ERROR_...", "message"]`.
"""

from __future__ import annotations

import contextlib
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
    ticket_title,
)
from frontdesk.router.outbound.helpdesks.notes import Note
from frontdesk.router.outbound.sinks import RetryLater, Undeliverable

API = "/apirest.php"
PRIORITIES = {"very low": 1, "low": 2, "medium": 3, "high": 4, "very high": 5, "major": 6}
STATUSES = {"new": 1, "assigned": 2, "planned": 3, "waiting": 4, "solved": 5, "closed": 6}
TYPES = {"incident": 1, "request": 2}
ASSIGNED_TECHNICIAN = 2


@dataclass(frozen=True, slots=True)
class GlpiOptions:
    app_token: str
    ticket_type: str = "incident"
    entity_id: int | None = None
    category_id: int | None = None


def marker(request: Request) -> str:
    return f"[frontdesk {request.id}]"


class Glpi:
    """Tickets in GLPI (a `Helpdesk`)."""

    steps: tuple[str, ...] = ()

    def __init__(self, settings: HelpdeskSettings[GlpiOptions]) -> None:
        self.settings = settings
        self.options = settings.options
        self.http = HelpdeskClient(settings, {"App-Token": settings.options.app_token})
        self.session: str | None = None

    async def _open(self) -> str:
        auth = {"Authorization": f"user_token {self.settings.token}"}
        reply = await self.http.call("GET", f"{API}/initSession", headers=auth)
        self.session = str(self.http.answer(reply, "session_token", what="GET initSession"))
        return self.session

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call in the session (opened first when there is none; again, once, when GLPI
        no longer knows it)."""
        for attempt in range(2):
            session = self.session or await self._open()
            try:
                return await self.http.call(
                    method, API + path, headers={"Session-Token": session}, **kwargs
                )
            except Refused as refused:
                if refused.status != 401 or attempt == 1:
                    raise
                self.session = None
        raise AssertionError("unreachable")

    def payload(self, request: Request) -> dict[str, Any]:
        """The documented create body for `request`."""
        o = self.options
        who = customer_name(request)
        content = f"{ticket_body(request)}\n\n({who}, via frontdesk {request.channel.value})"
        ticket: dict[str, Any] = {
            "name": ticket_title(request),
            "content": f"{content}\n{marker(request)}",
            "priority": PRIORITIES[self.settings.priorities[request.priority.value]],
            "urgency": PRIORITIES[self.settings.priorities[request.priority.value]],
            "type": TYPES[o.ticket_type],
        }
        if o.entity_id is not None:
            ticket["entities_id"] = o.entity_id
        if o.category_id is not None:
            ticket["itilcategories_id"] = o.category_id
        return {"input": ticket}

    async def create_ticket(self, request: Request, tickets: TicketMap) -> str:
        reply = await self.call("POST", "/Ticket", body=self.payload(request))
        return str(self.http.answer(reply, "id", what="POST /apirest.php/Ticket"))

    async def find_ticket(self, request: Request, tickets: TicketMap) -> str | None:
        params = {"searchText[content]": marker(request), "range": "0-4"}
        found = await self.call("GET", "/Ticket", params=params)
        ids = [t["id"] for t in found or [] if isinstance(t, dict) and "id" in t]
        return str(min(ids)) if ids else None

    async def follow_up(self, step: str, request: Request, ticket: str, tickets: TicketMap) -> None:
        pass  # no steps

    async def set_assignee(self, ticket: str, user: int) -> None:
        link = {"tickets_id": int(ticket), "users_id": user, "type": ASSIGNED_TECHNICIAN}
        await self.call("POST", f"/Ticket/{ticket}/Ticket_User", body={"input": link})

    async def set_state(self, ticket: str, state: str) -> None:
        body = {"input": {"status": STATUSES[state]}}
        await self.call("PUT", f"/Ticket/{ticket}", body=body)

    async def set_satisfaction(self, ticket: str, score: int, note: str) -> None:
        await self.add_note(ticket, Note(note, public=False))

    async def add_note(self, ticket: str, note: Note) -> None:
        followup = {"itemtype": "Ticket", "items_id": int(ticket), "content": note.text,
                    "is_private": 0 if note.public else 1}  # fmt: skip
        await self.call("POST", f"/Ticket/{ticket}/ITILFollowup", body={"input": followup})

    async def aclose(self) -> None:
        if self.session is not None:
            with contextlib.suppress(RetryLater, Undeliverable):  # GLPI expires it anyway
                await self.http.call(
                    "GET", f"{API}/killSession", headers={"Session-Token": self.session}
                )
            self.session = None
        await self.http.aclose()


def _options(check: Checker, where: Path, h: dict[str, Any]) -> GlpiOptions | None:
    before = len(check.problems)
    app = check.string((*where, "app_token"), h.get("app_token"))
    kind = check.choice((*where, "ticket_type"), h.get("ticket_type", "incident"), tuple(TYPES))
    entity, category = h.get("entity_id"), h.get("category_id")
    if entity is not None:
        check.integer((*where, "entity_id"), entity, 0)
    if category is not None:
        check.integer((*where, "category_id"), category, 1)
    if len(check.problems) > before or not app or not kind:
        return None
    return GlpiOptions(app, kind, entity, category)


KIND: Kind[GlpiOptions] = Kind(
    name="glpi",
    options=("app_token", "ticket_type", "entity_id", "category_id"),
    priorities={"high": "high", "medium": "medium", "low": "low"},
    priority_choices=tuple(PRIORITIES),
    state_choices=tuple(STATUSES),
    parse_options=_options,
    connector=Glpi,
)
