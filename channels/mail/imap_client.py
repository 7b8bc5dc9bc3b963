"""A small IMAP session on top of aioimaplib's protocol: every command bounded in time and raced
against the loss of the connection, and a `changed` event set by every `* N EXISTS` the server
sends, whichever command it comes with (aioimaplib drops those that arrive during SEARCH or
FETCH), so that no new message is missed between a search and the next IDLE."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any

from aioimaplib import aioimaplib

from frontdesk.queues.errors import FrontdeskError

_EXISTS = re.compile(rb"^(?:\* )?\d+ EXISTS\b")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)\b")
_FETCH_START = re.compile(rb"^\d+ FETCH \(")
FIRST = asyncio.FIRST_COMPLETED


class ImapError(FrontdeskError):
    """The IMAP server could not be reached, dropped the connection, or refused a command."""


class ImapRefused(ImapError):
    """The server answered NO or BAD to a command."""

    def __init__(self, command: str, result: str, text: str) -> None:
        super().__init__(f"{command}: {result} {text}".strip())
        self.command = command
        self.result = result
        self.text = text


class ImapGone(ImapError):
    """The connection was lost, or the server did not answer in time."""


def mailbox_name(name: str) -> str:
    """`name` as a quoted IMAP mailbox name: modified UTF-7 (RFC 3501 5.1.3) for non-ASCII."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return aioimaplib.quoted("".join(out))  # type: ignore[no-any-return]


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol, telling us about new messages and a lost connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.changed = asyncio.Event()
        self.lost = asyncio.Event()

    def _untagged_response(self, line: bytes) -> Any:
        if _EXISTS.match(line):
            self.changed.set()
        return super()._untagged_response(line)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        super().connection_lost(exc)


class ImapSession:
    """One logged-in connection with one selected folder."""

    def __init__(self, protocol: _Protocol, transport: asyncio.Transport, timeout_s: float) -> None:
        self._p = protocol
        self._transport = transport
        self.timeout_s = timeout_s
        self.uidvalidity = 0

    @classmethod
    async def connect(
        cls, host: str, port: int, ssl_context: ssl.SSLContext | None, timeout_s: float
    ) -> ImapSession:
        """Connect and read the server's greeting; OSError (TLS errors included) or ImapGone."""
        loop = asyncio.get_running_loop()
        protocol = _Protocol(loop)
        connecting = loop.create_connection(lambda: protocol, host, port, ssl=ssl_context)
        try:
            transport, _ = await asyncio.wait_for(connecting, timeout_s)
        except TimeoutError as exc:
            raise ImapGone(f"no connection to {host}:{port} within {timeout_s:g}s") from exc
        session = cls(protocol, transport, timeout_s)
        try:
            await session._bounded(protocol.wait("AUTH|NONAUTH"), "greeting")
        except BaseException:
            session.abort()
            raise
        return session

    @property
    def changed(self) -> asyncio.Event:
        """Set whenever the server announces a new message count (`* N EXISTS`)."""
        return self._p.changed

    @property
    def lost(self) -> bool:
        return self._p.lost.is_set()

    def has(self, capability: str) -> bool:
        return capability in self._p.capabilities

    async def _bounded(
        self, work: Awaitable[Any], what: str, timeout_s: float | None = None
    ) -> Any:
        """`work`'s result, or ImapGone if the connection drops or it takes too long."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._p.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=timeout_s or self.timeout_s, return_when=FIRST
            )
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            try:
                return task.result()
            except aioimaplib.AioImapException as exc:
                raise ImapGone(f"{what}: {exc!r}") from exc
        raise ImapGone(f"{what}: " + ("connection lost" if lost in done else "no answer in time"))

    async def _ok(self, work: Awaitable[Any], what: str) -> list[Any]:
        """The response lines of a command that must answer OK."""
        response = await self._bounded(work, what)
        if response.result != "OK":
            text = b" ".join(x for x in response.lines if isinstance(x, bytes))
            raise ImapRefused(what, str(response.result), text.decode(errors="replace"))
        return list(response.lines)

    async def login(self, user: str, password: str) -> None:
        """LOGIN, then read the capabilities the server offers to a logged-in user."""
        if self.has("LOGINDISABLED"):
            raise ImapRefused("LOGIN", "NO", "the server refuses LOGIN without TLS (tls: true)")
        await self._ok(self._p.login(aioimaplib.quoted(user), password), "LOGIN")
        await self._bounded(self._p.capability(), "CAPABILITY")

    async def select(self, folder: str) -> int:
        """SELECT `folder`; its UIDVALIDITY."""
        lines = await self._ok(self._p.select(mailbox_name(folder)), f"SELECT {folder}")
        for line in lines:
            if isinstance(line, bytes) and (m := _UIDVALIDITY.search(line)):
                self.uidvalidity = int(m[1])
        return self.uidvalidity

    async def ensure_folder(self, folder: str) -> bool:
        """Create `folder` unless it exists; True when it was created."""
        name = mailbox_name(folder)
        lines = await self._ok(self._p.simple_command("LIST", '""', name), f"LIST {folder}")
        if any(isinstance(x, bytes) and x.startswith(b"(") for x in lines[:-1]):
            return False  # aioimaplib keeps `(flags) "/" name` of each `* LIST` line
        try:
            await self._ok(self._p.simple_command("CREATE", name), f"CREATE {folder}")
        except ImapRefused as exc:
            if "[ALREADYEXISTS]" not in exc.text:  # another client was quicker
                raise
            return False
        return True

    async def noop(self) -> None:
        await self._ok(self._p.simple_command("NOOP"), "NOOP")

    async def search(self, *criteria: str) -> list[int]:
        """UID SEARCH: the matching UIDs, ascending."""
        work = self._p.search(*criteria, charset=None, by_uid=True)
        lines = await self._ok(work, "UID SEARCH")
        uids: set[int] = set()
        for line in lines[:-1]:  # aioimaplib keeps what follows `* SEARCH`; last: the tagged OK
            if isinstance(line, bytes):
                uids.update(int(x) for x in line.split() if x.isdigit())
        return sorted(uids)

    async def fetch(self, uid: int) -> bytes | None:
        """The whole message with this UID, without setting \\Seen; None if it is gone."""
        work = self._p.fetch(str(uid), "(UID BODY.PEEK[])", by_uid=True)
        return _literal_of(await self._ok(work, f"UID FETCH {uid}"), uid)

    async def flag_seen(self, uid: int) -> None:
        work = self._p.store(str(uid), "+FLAGS.SILENT", r"(\Seen)", by_uid=True)
        await self._ok(work, f"UID STORE {uid}")

    async def move(self, uid: int, folder: str) -> None:
        """MOVE where the server has it; else COPY, flag \\Deleted and (with UIDPLUS) expunge
        this one message; without UIDPLUS the copy stays behind flagged \\Deleted."""
        name = mailbox_name(folder)
        if self.has("MOVE"):
            await self._ok(self._p.move(str(uid), name, by_uid=True), f"UID MOVE {uid}")
            return
        await self._ok(self._p.copy(str(uid), name, by_uid=True), f"UID COPY {uid}")
        work = self._p.store(str(uid), "+FLAGS.SILENT", r"(\Deleted \Seen)", by_uid=True)
        await self._ok(work, f"UID STORE {uid}")
        if self.has("UIDPLUS"):
            await self._ok(self._p.expunge(str(uid), by_uid=True), f"UID EXPUNGE {uid}")

    async def idle(self, period_s: float, wake: Iterable[asyncio.Event]) -> None:
        """IDLE until the server reports a new message, any of `wake` is set, or `period_s`
        passes; then DONE. Without IDLE on the server, raises ImapRefused."""
        if not self.has("IDLE"):
            raise ImapRefused("IDLE", "NO", "the server does not offer IDLE")
        idle = asyncio.ensure_future(self._p.idle())
        waiters: list[asyncio.Future[Any]] = []
        try:
            started = asyncio.ensure_future(self._p.wait_for_idle_response())
            waiters.append(started)
            await self._bounded(asyncio.wait({idle, started}, return_when=FIRST), "IDLE")
            if idle.done():  # answered without a continuation: refused
                response = await self._bounded(idle, "IDLE")
                raise ImapRefused("IDLE", str(response.result), repr(response.lines))
            events = [self._p.changed, self._p.lost, *wake]
            waiters.extend(asyncio.ensure_future(e.wait()) for e in events)
            await asyncio.wait([idle, *waiters[1:]], timeout=period_s, return_when=FIRST)
            if self.lost:
                raise ImapGone("IDLE: connection lost")
            if not idle.done():
                self._p.idle_done()
            response = await self._bounded(asyncio.shield(idle), "DONE")
            if response.result != "OK":
                raise ImapRefused("IDLE", str(response.result), repr(response.lines))
        finally:
            for waiter in waiters:
                waiter.cancel()
            if not idle.done():
                idle.cancel()

    async def close(self, grace_s: float) -> None:
        """LOGOUT within `grace_s`, then drop the connection whatever happened, and wait (as
        long again at most) until the socket is closed: a TLS connection left to shut down
        gracefully could outlive a stopping event loop."""
        try:
            if not self.lost:
                await self._bounded(self._p.logout(), "LOGOUT", grace_s)
        except (ImapError, aioimaplib.AioImapException, OSError):
            pass
        finally:
            self.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._p.lost.wait(), grace_s)

    def abort(self) -> None:
        """Drop the connection at once (no TLS close_notify: after LOGOUT, or on a failure)."""
        self._transport.abort()
        for task in list(self._p.tasks):
            task.cancel()


def _literal_of(lines: list[Any], uid: int) -> bytes | None:
    """The message literal of the FETCH response for `uid` among aioimaplib's response lines
    (a FETCH line ending in {n}, the literal as a bytearray, then the closing line)."""
    for i, line in enumerate(lines):
        if not (isinstance(line, bytes) and _FETCH_START.match(line)):
            continue
        if i + 1 >= len(lines) or not isinstance(lines[i + 1], bytearray):
            continue
        tail = lines[i + 2] if i + 2 < len(lines) and isinstance(lines[i + 2], bytes) else b""
        found = _FETCH_UID.search(line) or _FETCH_UID.search(tail)
        if found and int(found[1]) == uid:
            return bytes(lines[i + 1])
    return None
