"""The IMAP channel (`channels.imap`, its config read by imap_config.py): one task per configured
mailbox fetches each new message, hands it to the front door, and only once `Front.receive`
returned (the request is in Redis) flags it \\Seen or moves it to another folder. IDLE where the
server offers it, polling otherwise; reconnects with bounded exponential backoff, logging once per
outage.

What is still to be done is read from the server itself (unseen messages for `after: flag`,
every message left in the folder for `after: move`), so nothing needs remembering across
restarts: a message stored but not yet acknowledged when the daemon died is fetched again, and the
front door's idempotency (channel + Message-ID) answers with the request it already made."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from frontdesk.channels.base import ChannelContext, Inbound, Receipt
from frontdesk.channels.mail.imap_client import ImapError, ImapSession
from frontdesk.channels.mail.imap_config import (
    FIRST_RETRY_S,
    ImapSettings,
    MailboxSettings,
    parse_config,
)
from frontdesk.channels.mail.parse import parse_email
from frontdesk.channels.mail.trust import proven

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0  # stop() waits this long for the pollers, then cancels them
LOGOUT_GRACE_S = 2.0
_LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}
GIVEN_UP_MEMORY = 10_000  # messages that could not be taken, remembered so as not to loop on them


@dataclass(slots=True)
class PollerStats:
    """What one mailbox's poller has done since it started."""

    connects: int = 0  # sessions that got as far as selecting the folder
    connect_failures: int = 0  # sessions that failed or were lost
    passes: int = 0  # searches for new messages
    idles: int = 0  # IDLE commands that ended normally (renewed or woken)
    stored: int = 0  # messages acknowledged after the front door took them
    duplicates: int = 0  # of those, messages the front door had already taken
    store_failures: int = 0  # messages left in place because Redis could not be reached
    given_up: int = 0  # messages that could not be parsed or taken (logged, left in place)


class _Backoff:
    """1 s, 2 s, 4 s, ... up to `cap_s`."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s
        self.next_s = FIRST_RETRY_S

    def reset(self) -> None:
        self.next_s = FIRST_RETRY_S

    def step(self) -> float:
        delay = self.next_s
        self.next_s = min(self.cap_s, delay * 2)
        return delay


async def _sleep(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stopping` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class _RedisDown(Exception):
    """The front door could not store a message; the rest waits for the next pass."""


class MailboxPoller:
    """One mailbox: connect, take what is new, wait for more (IDLE or polling), reconnect."""

    def __init__(self, settings: MailboxSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.stats = PollerStats()
        self._given_up: dict[tuple[int, int], None] = {}  # (UIDVALIDITY, UID), oldest first
        self._imap_down = False
        self._redis_down = False
        self.state = "stopped"  # connecting, taking, idle, polling, retrying, stopped

    async def run(self, stopping: asyncio.Event) -> None:
        """Until `stopping` is set; never raises for an outage."""
        s = self.settings
        backoff = _Backoff(s.reconnect_max_s)
        while not stopping.is_set():
            session: ImapSession | None = None
            self.state = "connecting"
            try:
                session = await self._open()
                if self._imap_down:
                    log.info("imap %s: connected again to %s:%d", s.name, s.host, s.port)
                    self._imap_down = False
                backoff.reset()
                await self._serve(session, stopping, backoff)
            except (ImapError, OSError, TimeoutError) as exc:
                self.stats.connect_failures += 1
                if not self._imap_down:
                    log.warning(
                        "imap %s: %s:%d as %s: %s; retrying with backoff (up to %gs)",
                        *(s.name, s.host, s.port, s.user, exc, s.reconnect_max_s),
                    )
                    self._imap_down = True
            except Exception:
                self.stats.connect_failures += 1
                if not self._imap_down:
                    log.exception("imap %s: unexpected failure; reconnecting with backoff", s.name)
                    self._imap_down = True
            finally:
                if session is not None:
                    await session.close(LOGOUT_GRACE_S)
            if not stopping.is_set():
                self.state = "retrying"
                await _sleep(stopping, backoff.step())
        self.state = "stopped"

    async def _open(self) -> ImapSession:
        s = self.settings
        session = await ImapSession.connect(s.host, s.port, s.ssl_context(), s.timeout_s)
        try:
            await session.login(s.user, s.secret())
            if s.after == "move" and s.move_to and await session.ensure_folder(s.move_to):
                log.info("imap %s: created folder %s", s.name, s.move_to)
            await session.select(s.folder)
        except BaseException:
            session.abort()
            raise
        self.stats.connects += 1
        mode = "IDLE" if s.idle and session.has("IDLE") else f"polling every {s.poll_interval_s:g}s"
        log.info(
            "imap %s: %s of %s on %s:%d selected (UIDVALIDITY %d), %s",
            *(s.name, s.folder, s.user, s.host, s.port, session.uidvalidity, mode),
        )
        return session

    async def _serve(
        self, session: ImapSession, stopping: asyncio.Event, backoff: _Backoff
    ) -> None:
        """Take what is new, then wait for more, until stopping; an IMAP failure raises."""
        s = self.settings
        while not stopping.is_set():
            session.changed.clear()
            self.state = "taking"
            try:
                await self._take_new(session, stopping)
            except _RedisDown:
                self.state = "retrying"
                await _sleep(stopping, backoff.step())
                continue
            backoff.reset()
            if session.changed.is_set() or stopping.is_set():
                continue  # more arrived while we were busy
            if s.idle and session.has("IDLE"):
                self.state = "idle"
                await session.idle(s.idle_renew_s, [stopping])
                self.stats.idles += 1
            else:
                self.state = "polling"
                await _sleep(stopping, s.poll_interval_s)
                if not stopping.is_set():
                    await session.noop()

    async def _take_new(self, session: ImapSession, stopping: asyncio.Event) -> None:
        """One pass: every message still to be taken, oldest first."""
        s = self.settings
        criteria = ("UNSEEN", "UNDELETED") if s.after == "flag" else ("UNDELETED",)
        uids = await session.search(*criteria)
        self.stats.passes += 1
        for uid in uids:
            if stopping.is_set():
                return
            if (session.uidvalidity, uid) in self._given_up:
                continue
            raw = await session.fetch(uid)
            if raw is None:
                continue  # gone meanwhile (another client moved or expunged it)
            inbound = self._parse(session, uid, raw)
            if inbound is None:
                continue
            receipt = await self._store(uid, inbound)
            if receipt is None:
                self._give_up(session, uid)
                continue
            if s.after == "move" and s.move_to:
                await session.move(uid, s.move_to)
            else:
                await session.flag_seen(uid)
            self.stats.stored += 1
            self.stats.duplicates += receipt.duplicate

    def _parse(self, session: ImapSession, uid: int, raw: bytes) -> Inbound | None:
        try:
            inbound = parse_email(
                raw,
                recipient=self.settings.entry_point,
                max_attachment_bytes=self.settings.max_attachment_size,
            )
            authserv = self.settings.trusted_authserv_id
            if authserv and not proven(raw, authserv, None, inbound.request.customer.email):
                claimed = dataclasses.replace(inbound.request.customer, claimed=("email",))
                request = dataclasses.replace(inbound.request, customer=claimed)
                inbound = dataclasses.replace(inbound, request=request)
            return inbound
        except Exception:
            log.exception(
                "imap %s: cannot read message UID %d in %s; left in place, unacknowledged",
                *(self.settings.name, uid, self.settings.folder),
            )
            self._give_up(session, uid)
            return None

    async def _store(self, uid: int, inbound: Inbound) -> Receipt | None:
        """The front door's receipt (durable), or None when it refused the message; raises
        _RedisDown when it could not reach Redis."""
        s = self.settings
        try:
            receipt = await asyncio.wait_for(self.context.receive(inbound), s.timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            self.stats.store_failures += 1
            if not self._redis_down:
                log.warning(
                    "imap %s: cannot store message UID %d (%s); it stays in %s and is retried",
                    *(s.name, uid, exc, s.folder),
                )
                self._redis_down = True
            raise _RedisDown from exc
        except Exception:
            log.exception(
                "imap %s: the front door refused message UID %d in %s; left in place",
                *(s.name, uid, s.folder),
            )
            return None
        if self._redis_down:
            log.info("imap %s: storing messages again", s.name)
            self._redis_down = False
        log.debug(
            "imap %s: UID %d is request %s%s",
            *(s.name, uid, receipt.request_id, " (already taken)" if receipt.duplicate else ""),
        )
        return receipt

    def _give_up(self, session: ImapSession, uid: int) -> None:
        self.stats.given_up += 1
        self._given_up[(session.uidvalidity, uid)] = None
        while len(self._given_up) > GIVEN_UP_MEMORY:
            del self._given_up[next(iter(self._given_up))]


class ImapChannel:
    """The running IMAP channel: one poller task per mailbox."""

    name = "imap"

    def __init__(self, settings: ImapSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.pollers: list[MailboxPoller] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def routes(self) -> list[web.RouteDef]:
        return []

    async def start(self) -> None:
        """Start one poller per mailbox (fresh ones, after a stop)."""
        if self._tasks:
            return
        self._stopping = asyncio.Event()
        self.pollers = [MailboxPoller(m, self.context) for m in self.settings.mailboxes]
        for m in self.settings.mailboxes:
            if not m.tls and m.host not in _LOCAL_HOSTS:
                log.warning(
                    "imap %s: tls is off: the password crosses the network in clear", m.name
                )
        self._tasks = [
            asyncio.create_task(p.run(self._stopping), name=f"imap:{p.settings.name}")
            for p in self.pollers
        ]

    async def stop(self) -> None:
        """Let each poller finish the message in hand and log out; cancel what is still
        running after STOP_TIMEOUT_S."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        for task in pending:
            log.warning("imap: %s did not stop in time; cancelled", task.get_name())
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT_S)


def create(settings: Any, context: ChannelContext) -> ImapChannel:
    assert isinstance(settings, ImapSettings)
    return ImapChannel(settings, context)


__all__ = [
    "ImapChannel",
    "ImapSettings",
    "MailboxPoller",
    "MailboxSettings",
    "create",
    "parse_config",
]
