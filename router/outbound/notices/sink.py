"""Customer notices: a sink that tells the customer, on the request's own channel, that their
request was received (`enqueued`: its number and where to see it), that an agent is on it
(`assigned` and `accepted`, with the agent's display name), that it is done (`completed`, with
the resolution code in words) and, when configured, that it was closed (`abandoned`); after
`completed`, the satisfaction survey (`survey`, with its signed link) when `surveys:` asks.

- email: a threaded automatic reply through the configured SMTP relay (`notice_mail`); never to
  automatic, bulk or list mail, nor to a robot's or a missing address.
- chat: a message with author "system" appended to the request, which the chat channel relays to
  the customer's socket. A closed chat takes no message (the widget shows that it closed), so
  `completed` and `abandoned` say nothing there.
- social: the platform's send API (`notice_social`: WhatsApp, Telegram, WeChat, Messenger).
- chat, once closed: the `completed` (or `abandoned`) notice joins the closed conversation's
  thread; an open socket shows it before it closes (channels/chat/watch.py waits for it). When
  no socket showed it within `CHAT_SHOWN_WAIT_S` and the customer gave an email address, it
  goes by email as well.
- phone and form: by email, when the customer gave an address (every notice but `enqueued`:
  the call's or the form's answer carries the number and the status link already).

A notice that was wanted but cannot reach the customer (no address, a chat gone with no email,
a platform without its connector) is Undeliverable: it shows in the outbox's dead letters with
its reason (`frontdesk outbox dead`, GET /v1/outbox/dead), never only in a log line. A notice
left out on purpose (automatic mail, a robot's address, a kind not enabled) is only logged.

An `assigned` event whose request has moved on (another agent, transferred, finished) by the time
it is delivered sends nothing: the customer hears the newer news instead.

Never twice for one event: each notice is claimed in Redis (`queues.notices.NoticeLog`) before it
is sent and marked sent after; the chat message is appended idempotently by the event's id. If
the daemon dies between a send and its mark, the claim expires and the event's redelivery sends
again: at most one duplicate per crash, never a lost notice (an acknowledgement that never comes
leaves a customer without the number of their request; a second copy costs a glance, and an
email duplicate carries the same Message-ID, which mail clients show once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from redis.exceptions import RedisError

from frontdesk.channels.base import mail_ref
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import RequestNotFound, WrongState
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.notices import ClaimState, NoticeLog, closing_tag
from frontdesk.queues.request import Channel, Message, Request
from frontdesk.queues.states import TERMINAL_STATES, State
from frontdesk.queues.store import RequestRecord
from frontdesk.router import __version__
from frontdesk.router.http.views import status_path
from frontdesk.router.outbound.notices import mail as notice_mail
from frontdesk.router.outbound.notices import progress, supervisors
from frontdesk.router.outbound.notices.config import NoticeSettings, parse_notices
from frontdesk.router.outbound.notices.social import (
    Connector,
    Messenger,
    Telegram,
    WeChat,
    WhatsApp,
    platform_of,
)
from frontdesk.router.outbound.notices.templates import KIND_OF, Language, Rendered
from frontdesk.router.outbound.notices.words import LATE_WORDS
from frontdesk.router.outbound.outbox import Policy, Target
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable

log = logging.getLogger("frontdesk.notices")

SINK_NAME = "notices"
LEASE_MARGIN_S = 30.0
SMTP_COMMANDS = 7  # connect, EHLO, STARTTLS, EHLO, AUTH, MAIL/RCPT, DATA: each up to the timeout
CHANNEL_OF = {Channel.EMAIL: "email", Channel.CHAT: "chat", Channel.SOCIAL: "social"}
CHAT_SHOWN_WAIT_S = 5.0  # a closed chat's notice: how long an open socket has to show it

Settings = Callable[[], NoticeSettings | None]


class SurveyHook(Protocol):
    """What the sink asks of the surveys: is this completed request asked, its link's path, and
    that its notice went out."""

    def wants(self, record: RequestRecord) -> bool: ...

    def path(self, request_id: str) -> str: ...

    async def opened(self, record: RequestRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a notice is not sent: on purpose (logged), or `failed` (wanted, but it cannot reach
    the customer: Undeliverable, shown in the outbox's dead letters with this reason)."""

    reason: str
    failed: bool = False


def send_budget_s(settings: NoticeSettings) -> float:
    """The longest one notice may take to send: a delivery's lease and a claim's hold."""
    mail = settings.mail.relay.timeout_s * SMTP_COMMANDS if settings.mail else 0.0
    return max(mail, settings.timeout_s * 4) + LEASE_MARGIN_S  # WeChat: token, send, again


class NoticeSink:
    """Sends customer notices; a Sink for the outbox engine."""

    name = SINK_NAME

    def __init__(
        self, settings: NoticeSettings | Settings, status_token: Callable[[str], str],
        surveys: SurveyHook | None = None,
    ) -> None:  # fmt: skip
        """`settings` may be a function, read at every delivery (a reloaded config applies at
        once); `status_token` is the Front's, for the status link; `surveys` decides which
        completed requests get the survey notice (router/feedback/service.py)."""
        self._settings: Settings = settings if callable(settings) else (lambda: settings)
        self.status_token = status_token
        self.surveys = surveys
        self._http: aiohttp.ClientSession | None = None
        self._connectors: dict[str, tuple[object, Connector]] = {}

    # -- Sink -------------------------------------------------------------------------------------
    def wants(self, event: Event) -> bool:
        s = self._settings()
        kind = KIND_OF.get(event.type)
        if s is not None and kind == "completed" and self._surveying(s):
            return True
        if s is not None and progress.arms(s.progress, event):
            return True  # its long wait is armed (and its own notice sent, if any)
        if s is None or kind not in s.events:
            return False
        if kind == "late":  # only when the service-level policy asks for it
            asked = event.data.get("actions", "").split(",")
            return "notify_customer" in asked or supervisors.wanted(s, event)
        if kind == "progress":
            return progress.wanted(s.progress, event)
        if event.type is EventType.ENQUEUED:  # the only event that names its channel
            return event.data.get("channel", "") in s.channels
        return True

    def _surveying(self, s: NoticeSettings) -> bool:
        return self.surveys is not None and "survey" in s.events

    async def deliver(self, event: Event, context: DeliveryContext) -> None:
        s = self._settings()
        kind = KIND_OF.get(event.type)
        if s is not None and s.progress is not None and progress.arms(s.progress, event):
            await progress.arm(context.store, s.progress, event)
        if s is None or kind is None:
            return
        kinds = [kind] if kind in s.events else []
        if kind == "progress" and not progress.wanted(s.progress, event):
            kinds = []
        if kind == "completed" and self._surveying(s):
            kinds.append("survey")  # after the completed notice, its own claim
        if not kinds:
            return
        record = await context.store.get(event.request)
        if record is None:
            log.info("notice for %s (%s) not sent: the request is gone", event.request, event.id)
            return
        for one in kinds:
            if one == "survey" and (self.surveys is None or not self.surveys.wants(record)):
                continue
            await self._notice(s, one, event, record, context)

    async def _notice(
        self, s: NoticeSettings, kind: str, event: Event, record: RequestRecord,
        context: DeliveryContext,
    ) -> None:  # fmt: skip
        if kind == "late":
            if supervisors.wanted(s, event):
                await supervisors.tell(s, event, record, context.store, send_budget_s(s))
            if "notify_customer" not in event.data.get("actions", "").split(","):
                return
        found = self._route(s, record, event, kind)
        if isinstance(found, Skip):
            log.info("notice %s of %s not sent: %s", kind, event.request, found.reason)
            if found.failed:
                raise Undeliverable(f"notice {kind} of {event.request} not sent: {found.reason}")
            return
        request = record.request
        language = s.templates.choose(
            request.language, f"{request.subject}\n{request.body}", s.guess_language
        )
        values = await self.values(s, language, kind, event, record, context)
        rendered = s.templates.render(language, kind, values)
        notices = NoticeLog.of(context.store)
        # one "late" notice per target, whether its warning or its breach asked for it first
        once = f"late:{event.data.get('target', '')}" if kind == "late" else event.id
        once = "survey" if kind == "survey" else once
        once = "progress" if kind == "progress" else once  # at most one per at_most_every
        claim = await notices.claim(request.id, once, send_budget_s(s))
        if claim.state is ClaimState.SENT:
            if kind == "progress":
                log.info("notice progress of %s not sent: one went out lately", request.id)
            return
        if claim.state is ClaimState.PENDING:
            raise RetryLater(
                f"the notice for event {event.id} is held by another delivery (or one that "
                "died sending it); looking again when its hold ends",
                claim.retry_in_s + 1,
            )
        try:
            sent = await self._send(s, found, rendered, event, record, context)
        except Exception:  # (cancelled mid-send, the claim is left to run out by itself)
            with contextlib.suppress(RedisError, OSError):
                await notices.release(request.id, once, claim.token)
            raise
        if sent:
            if kind == "survey" and self.surveys is not None:
                await self.surveys.opened(record)  # a bare digit answers it from now on
            every = s.progress.at_most_every_s if s.progress and kind == "progress" else None
            await notices.mark_sent(request.id, once, every)
            log.info("notice %s of %s sent by %s (%s)", kind, request.id, found, rendered.language)
        else:
            with contextlib.suppress(RedisError, OSError):
                await notices.release(request.id, once, claim.token)

    async def tick(self, context: DeliveryContext) -> float:
        """The long waits that fell due become events (the outbox engine asks, every second)."""
        s = self._settings()
        return await progress.tick(context.store, s.progress if s is not None else None)

    async def aclose(self) -> None:
        """Close the HTTP client (the outbox engine calls this when it stops)."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- where it goes ----------------------------------------------------------------------------
    def _route(
        self, s: NoticeSettings, record: RequestRecord, event: Event, kind: str
    ) -> str | Skip:
        """`email`, `chat` or a platform's name; or why nothing is sent."""
        request = record.request
        if kind == "assigned" and (
            record.state is not State.ASSIGNED or record.agent != event.agent
        ):
            return Skip(f"the request moved on (now {record.state.value}) before it went out")
        channel = CHANNEL_OF.get(request.channel)
        if channel is None and request.customer.email and kind != "enqueued":
            channel = "email"  # a form's or a caller's notices go to their email, if known
        if channel is None:
            return Skip(f"no notices on the {request.channel.value} channel without an email")
        if channel not in s.channels:
            return Skip(f"{channel} notices are not enabled")
        if channel == "email":
            assert s.mail is not None
            _, why = notice_mail.recipient(request, s.mail)
            return Skip(why, notice_mail.unreachable(why)) if why else "email"
        if channel == "chat":
            if kind == "survey":
                return Skip("a chat is rated in the widget")
            if record.state in TERMINAL_STATES and kind not in ("completed", "abandoned"):
                return Skip("the chat has closed")
            return "chat"
        platform = platform_of(request)
        connector = self._connector(s, platform) if platform else None
        if connector is None:
            return Skip(f"no connector for {platform or 'this platform'} under notices", True)
        if connector.address(request) is None:
            return Skip(f"no {platform} address for the customer", True)
        return connector.platform

    def _connector(self, s: NoticeSettings, platform: str) -> Connector | None:
        """The platform's connector, made again when its settings changed (a reload)."""
        wanted: object = getattr(s, platform, None)
        if wanted is None:
            return None
        known = self._connectors.get(platform)
        if known is not None and known[0] == wanted:
            return known[1]
        connector: Connector
        if platform == "whatsapp" and s.whatsapp is not None:
            connector = WhatsApp(s.whatsapp, s.timeout_s)
        elif platform == "telegram" and s.telegram is not None:
            connector = Telegram(s.telegram, s.timeout_s)
        elif platform == "wechat" and s.wechat is not None:
            connector = WeChat(s.wechat, s.timeout_s)
        elif platform == "messenger" and s.messenger is not None:
            connector = Messenger(s.messenger, s.timeout_s)
        else:
            return None
        self._connectors[platform] = (wanted, connector)
        return connector

    # -- what it says -----------------------------------------------------------------------------
    async def values(
        self,
        s: NoticeSettings,
        language: Language,
        kind: str,
        event: Event,
        record: RequestRecord,
        context: DeliveryContext,
    ) -> dict[str, str]:
        """The placeholders' values for one notice."""
        request = record.request
        status = ""
        if s.status_base_url:
            status = s.status_base_url + status_path(request.id, self.status_token(request.id))
        values = {
            "request_id": request.id,
            "subject": notice_mail.customer_subject(request),
            "status_url": status,
            "customer_name": (request.customer.name or "").strip() or language.customer_fallback,
            "queue": request.queue,
        }
        if kind in ("assigned", "completed"):
            agent = await context.agents.get(event.agent) if event.agent else None
            values["agent"] = agent.name if agent is not None else language.agent_fallback
        if kind == "completed":
            values["resolution"] = language.resolution(
                event.data.get("resolution") or record.resolution
            )
            values["summary"] = language.summary_text(event.data.get("summary") or record.summary)
        if kind == "progress":
            what = progress.progress_of(event)
            values["progress"] = language.progress.get(what, what.replace("_", " "))
        if kind == "survey" and self.surveys is not None:
            values["survey_url"] = (s.status_base_url or "") + self.surveys.path(request.id)
        if kind == "late":
            words = LATE_WORDS["zh" if language.code.startswith("zh") else "en"]
            target = event.data.get("target", "")
            values["target"] = words.get(target, target.replace("_", " "))
            escalated = "escalate" in event.data.get("actions", "").split(",")
            values["next_step"] = words["escalated" if escalated else "hurried"]
        return values

    # -- sending ----------------------------------------------------------------------------------
    async def _send(
        self,
        s: NoticeSettings,
        route: str,
        rendered: Rendered,
        event: Event,
        record: RequestRecord,
        context: DeliveryContext,
    ) -> bool:
        """Send the notice; False when it turned out there was nothing to send it to."""
        request = record.request
        if route == "email":
            assert s.mail is not None
            return await self._mail(s, rendered, request, event, context)
        if route == "chat":
            message = Message(body=rendered.message, author="system", received_at=time.time())
            if record.state in TERMINAL_STATES:
                return await self._closed_chat(s, rendered, message, event, record, context)
            try:
                await context.store.append_message(
                    request.id, message, f"notice:{request.id}:{event.id}"
                )
            except (WrongState, RequestNotFound):
                log.info("notice for %s not appended: the chat closed meanwhile", request.id)
                return False
            return True
        connector = self._connector(s, route)
        to = connector.address(request) if connector is not None else None
        if connector is None or to is None:
            return False
        await connector.send(self._session(), to, rendered.message, request)
        return True

    async def _closed_chat(
        self, s: NoticeSettings, rendered: Rendered, message: Message, event: Event,
        record: RequestRecord, context: DeliveryContext,
    ) -> bool:  # fmt: skip
        """A closed chat's notice: into its thread (an open socket shows it before it closes);
        by email too when no socket showed it and the customer gave an address."""
        request, notices = record.request, NoticeLog.of(context.store)
        tag = closing_tag(record)
        message = Message(message.body, "system", received_at=message.received_at,
                          external_id=f"notice:{tag}")  # fmt: skip
        try:
            await notices.append(request.id, message, tag)
        except RequestNotFound:
            return False
        deadline = time.monotonic() + CHAT_SHOWN_WAIT_S
        while not await notices.shown(request.id, tag) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if await notices.shown(request.id, tag):
            return True
        if s.mail is not None and "email" in s.channels:
            _, why = notice_mail.recipient(request, s.mail)
            if not why:
                return await self._mail(s, rendered, request, event, context)
        else:
            why = "email notices are not enabled"
        await notices.mark_sent(request.id, event.id)  # in the thread: never appended again
        raise Undeliverable(
            f"notice {KIND_OF.get(event.type)} of {request.id}: the chat had closed (no socket "
            f"showed it; it is in the conversation's thread) and no email went: {why}"
        )

    async def _mail(
        self,
        s: NoticeSettings,
        rendered: Rendered,
        request: Request,
        event: Event,
        context: DeliveryContext,
    ) -> bool:
        assert s.mail is not None
        to, _ = notice_mail.recipient(request, s.mail)
        if to is None:
            return False
        ours = notice_mail.message_id(context.store.tenant, request.id, event.id, s.mail.domain)
        message = notice_mail.build(rendered, request, s.mail, to, ours)
        # a reply to the notice leads back to the request, even when it carries neither the
        # customer's first Message-ID nor the [#FD-n] token
        await CustomerStore(context.store).remember((mail_ref(ours),), request.id)
        await notice_mail.send(s.mail, to, message)
        return True

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(headers={"User-Agent": f"frontdesk/{__version__}"})
        return self._http


def notice_target(
    settings: NoticeSettings | Settings, status_token: Callable[[str], str],
    surveys: SurveyHook | None = None,
) -> Target:  # fmt: skip
    """The outbox target for customer notices: a delivery's lease outlasts the longest send."""
    current = settings() if callable(settings) else settings
    if current is None:
        raise ValueError("notices are not configured")
    policy = Policy(max_attempts=current.max_attempts, lease_s=send_budget_s(current))
    return Target(NoticeSink(settings, status_token, surveys), policy)


__all__ = [
    "SINK_NAME",
    "NoticeSettings",
    "NoticeSink",
    "notice_target",
    "parse_notices",
    "send_budget_s",
]
