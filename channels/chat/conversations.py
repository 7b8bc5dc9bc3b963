"""A web chat conversation and what both transports (the WebSocket and the REST fallback) do
with one: admit the widget by its site key and Origin, start a conversation through the front
door, open one by its token, append the customer's messages, end it, and the view a customer
is shown of where it stands.

A conversation is one request: the first message opens it (the rules pick the queue), follow-ups
join it by the thread key `chat:<conversation>`. Its token is an HMAC by the front door's secret
over the conversation id.
"""

from __future__ import annotations

import contextlib
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from frontdesk.channels.base import ChannelContext, Inbound
from frontdesk.channels.chat.config import ChatSettings, Site
from frontdesk.channels.chat.idle import IdleConversations
from frontdesk.channels.chat.protocol import ChatError, Send, Start
from frontdesk.queues.errors import QueueError
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.states import State

_CONVERSATION = re.compile(r"[0-9a-f]{24}")
_TOKEN = re.compile(r"[0-9a-f]{32}")
_SHOWN_AUTHORS = (
    "customer",
    "agent",
    "system",
)  # system: customer notices (router/outbound/notices/sink.py)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A customer's conversation and the request it is."""

    id: str
    request_id: str
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class Started:
    conversation: Conversation
    token: str
    created: bool  # False: the same start (same client id) was answered before


def customer_state(state: State) -> str:
    """What a customer is shown: an offer is still waiting, from where they sit."""
    return State.WAITING.value if state is State.OFFERED else state.value


def message_view(seq: int, message: Message, conversation: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "seq": seq,
        "from": message.author,
        "text": message.body,
        "at": message.received_at,
    }
    prefix = f"{conversation}:"
    if message.author == "customer" and (message.external_id or "").startswith(prefix):
        out["id"] = (message.external_id or "")[len(prefix) :]
    return out


class Conversations:
    """The conversations of one daemon's web chat, whichever transport they come by."""

    def __init__(self, settings: ChatSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.store = context.store
        self.sites = {s.key: s for s in settings.sites}
        idle = settings.idle_timeout_s
        self.idle = IdleConversations(self.store, idle) if idle is not None else None

    def site(self, request: web.Request, origin: bool = True) -> Site:
        """The site named by `?site=`, if the request's Origin is one of its origins. With
        `origin` False (calls that carry a conversation token, the real credential) a missing
        Origin is let through: browsers send none on a same-origin GET. The daemon's own origin
        (its demo page at /chat/) is always let through: its pages are its own."""
        key = request.query.get("site")
        if not key:
            raise ChatError("missing", "the site key is required: ?site=KEY", "site")
        site = self.sites.get(key)
        if site is None:
            raise ChatError("unknown_site", "no site has that key", "site")
        sent = request.headers.get("Origin")
        own = sent is not None and sent == f"{request.scheme}://{request.host}"
        if not own and not site.allows(sent) and (origin or sent is not None):
            shown = (sent or "(none)")[:200]
            raise ChatError(
                "origin_not_allowed", f"this site key is not for origin {shown!r}", "Origin"
            )
        return site

    async def start_conversation(self, site: Site, frame: Start, peer: str | None) -> Started:
        """Open a conversation with the customer's first message; durable on return."""
        if frame.id is not None:  # the client's own id: a resent start is the same conversation
            conversation = self.context.status_token(f"chat-start:{site.key}:{frame.id}")[:24]
        else:
            conversation = secrets.token_hex(12)
        request = Request(
            id="",
            channel=Channel.CHAT,
            queue="",
            external_id=f"{conversation}:start",
            entry_point=site.entry_point,
            # typed into the chat, proven by nothing: kept as claimed (no VIP standing, no
            # history of the customer who proved the address)
            customer=Customer(
                name=frame.name, email=frame.email, phone=frame.phone, claimed=("email", "phone")
            ),
            subject=frame.topic or "",
            body=frame.text,
            language=frame.language,
            received_at=time.time(),
        )
        receipt = await self.context.receive(
            Inbound(
                request,
                thread_keys=(f"chat:{conversation}",),
                admit=(frame.email or frame.phone, peer),  # counted in the same call
            )
        )
        self._refuse_if_limited(receipt.retry_after)
        found = Conversation(conversation, receipt.request_id, receipt.customer_id)
        self.touch(found)
        token = self.context.status_token(f"chat:{conversation}")
        return Started(found, token, receipt.created)

    async def open_conversation(self, conversation: str, token: str) -> Conversation:
        """The conversation `token` opens; refused alike whether it exists or not."""
        if not (
            _CONVERSATION.fullmatch(conversation)
            and _TOKEN.fullmatch(token)
            and self.context.check_status_token(f"chat:{conversation}", token)
        ):
            raise ChatError("bad_token", "this token does not open that conversation", "token")
        request_id = await self.context.customers.thread(f"chat:{conversation}")
        record = await self.store.get(request_id) if request_id else None
        if record is None:
            raise ChatError("not_found", "that conversation is gone", "conversation")
        found = Conversation(conversation, record.request.id, record.request.customer.id)
        self.touch(found)
        return found

    async def send_message(self, conv: Conversation, frame: Send, peer: str | None) -> bool:
        """Append the customer's message to the conversation's request; True for a resend (not
        counted against the limits, never appended twice). One call: the limits, the resend
        check and the append (a message of an ended conversation opens nothing)."""
        request = Request(
            id="",
            channel=Channel.CHAT,
            queue="",
            external_id=f"{conv.id}:{frame.id}",
            customer=Customer(id=conv.customer_id),
            body=frame.text,
            received_at=time.time(),
        )
        inbound = Inbound(
            request,
            thread_refs=(f"chat:{conv.id}",),
            admit=(f"chat:{conv.id}", peer),
            admit_again=False,
            join_only=True,
        )
        try:
            receipt = await self.context.receive(inbound)
        except QueueError:  # it closed between our look and the append
            raise ChatError("closed", "this conversation has ended", id=frame.id) from None
        self._refuse_if_limited(receipt.retry_after, frame.id)
        if receipt.closed:
            raise ChatError("closed", "this conversation has ended", id=frame.id)
        self.touch(conv)
        return receipt.duplicate

    async def end_conversation(self, conv: Conversation) -> None:
        with contextlib.suppress(QueueError):  # already closed
            await self.store.abandon(conv.request_id, "the customer ended the chat")

    async def view(self, conv: Conversation, after: int) -> dict[str, Any]:
        """Where the conversation stands, and its messages after `after` (from the start, with
        the opening topic and text)."""
        record = await self.store.get(conv.request_id)
        if record is None:
            raise ChatError("not_found", "that conversation is gone", "conversation")
        messages = await self.store.messages(conv.request_id) if record.messages > after else []
        shown = [
            message_view(seq, m, conv.id)
            for seq, m in enumerate(messages, start=1)
            if seq > after and m.author in _SHOWN_AUTHORS
        ]
        opening = {"topic": record.request.subject, "text": record.request.body}
        return {
            "conversation": conv.id,
            "request": conv.request_id,
            "state": customer_state(record.state),
            **(opening if after == 0 else {}),
            **await self.context.standing(record),
            "agent": self.agent_name(record.agent) if record.state is State.ASSIGNED else None,
            "messages": shown,
            "next": max(after, len(messages)),
        }

    def _refuse_if_limited(self, wait: float | None, msg_id: str | None = None) -> None:
        if wait is not None:
            raise ChatError(
                "rate_limited",
                f"too many messages; try again in {max(1, math.ceil(wait))}s",
                retry_after_s=wait,
                id=msg_id,
            )

    def agent_name(self, agent_id: str | None) -> str | None:
        if agent_id is None:
            return None
        return self.context.agent_name(agent_id)

    def touch(self, conv: Conversation, sockets: int = 0) -> None:
        """The customer of `conv` was just heard from (a socket opened or closed: `sockets`)."""
        if self.idle is not None:
            self.idle.touch(conv.id, conv.request_id, sockets)
