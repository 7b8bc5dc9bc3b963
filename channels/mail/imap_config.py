"""The IMAP channel's config (`channels.imap`): the mailboxes to take requests from, how to reach
each (host, TLS, credentials inline or from a file read at every login), what to do with a
message once stored (flag it \\Seen or move it) and the timings of polling, IDLE and reconnects;
every problem reported with its YAML path and line. The pollers that use it are in imap.py."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath

from frontdesk.channels.mail.smtp import HOSTNAME, MAX_SIZE, parse_size
from frontdesk.router.conf.yaml import NAME, Checker, Path

AFTER = ("flag", "move")
MAX_IDLE_RENEW_S = 29 * 60  # servers may log an idle client out after 30 minutes (RFC 2177)
FIRST_RETRY_S = 1.0  # the first wait before a reconnect; reconnect_max is at least this

_KEYS = [
    *("name", "host", "port", "tls", "tls_ca_file", "user", "password", "password_file"),
    *("folder", "after", "move_to", "poll_interval", "idle", "idle_renew", "entry_point"),
    *("timeout", "reconnect_max", "max_attachment_size", "trusted_authserv_id"),
]


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """One mailbox to take requests from."""

    name: str
    host: str
    user: str
    password: str | None = field(default=None, repr=False)
    password_file: str | None = None  # read at every login, so a rotated secret is picked up
    port: int = 993
    tls: bool = True  # IMAPS (implicit TLS); false: plain IMAP, for a server on this host
    tls_ca_file: str | None = None  # trust this CA bundle instead of the system's
    folder: str = "INBOX"
    after: str = "flag"  # flag: set \Seen; move: move to move_to
    move_to: str | None = None
    poll_interval_s: float = 60.0  # without IDLE
    idle: bool = True  # IDLE when the server offers it
    idle_renew_s: float = 25 * 60.0  # IDLE is re-issued this often
    entry_point: str | None = None  # passed to parse_email as the recipient
    timeout_s: float = 30.0  # connecting, each IMAP command, and storing one message
    reconnect_max_s: float = 300.0  # the longest wait between two attempts
    max_attachment_size: int = 10 * 2**20  # larger attachments are listed, their content not kept
    # set: a sender is trusted only when the topmost Return-Path is the From address and our MX
    # (this authserv-id) says spf=pass or dkim=pass for it (channels/mail/trust.py); else claimed
    trusted_authserv_id: str | None = None

    def secret(self) -> str:
        """The password, read from password_file when that is how it is given."""
        if self.password_file is not None:
            return FilePath(self.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        return self.password or ""

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.tls_ca_file)


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """`channels.imap`."""

    mailboxes: tuple[MailboxSettings, ...]


def parse_config(check: Checker, raw: object, path: Path, queues: set[str]) -> ImapSettings | None:
    """`channels.imap`: `mailboxes`, a list of mailboxes; every problem with its path and line."""
    before = len(check.problems)
    body = check.mapping(path, raw, ["mailboxes"])
    where = (*path, "mailboxes")
    items = check.sequence(where, body.get("mailboxes"))
    if not items and isinstance(raw, Mapping) and isinstance(body.get("mailboxes"), list | None):
        check.error(where, "must list at least one mailbox")
    mailboxes: list[MailboxSettings] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        mailbox = _mailbox(check, item, (*where, i))
        if mailbox is not None:
            mailboxes.append(mailbox)
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name in names:
            check.error((*where, i, "name"), f"{name!r} is already mailboxes[{names[name]}]")
        elif isinstance(name, str):
            names[name] = i
    if len(check.problems) > before:
        return None
    return ImapSettings(tuple(mailboxes))


def _mailbox(check: Checker, raw: object, path: Path) -> MailboxSettings | None:
    before = len(check.problems)
    m = check.mapping(path, raw, _KEYS)
    if not isinstance(raw, Mapping):
        return None

    def at(key: str) -> Path:
        return (*path, key)

    def optional(key: str) -> str | None:
        return None if m.get(key) is None else check.string(at(key), m[key])

    def seconds(key: str, default: float, low: float, high: float | None = None) -> float:
        value = check.duration(at(key), m.get(key, default))
        if value is None:
            return default
        if value < low or (high is not None and value > high):
            limit = f"from {_human(low)} to {_human(high)}" if high else f"at least {_human(low)}"
            check.error(at(key), f"must be {limit}, got {m.get(key)!r}")
        return value

    name = check.string(at("name"), m.get("name"), NAME)
    host = check.string(at("host"), m.get("host"))
    user = check.string(at("user"), m.get("user"))
    tls = check.boolean(at("tls"), m.get("tls", True))
    port = check.integer(at("port"), m.get("port", 993 if tls is not False else 143), 1, 65535)
    password, password_file = optional("password"), optional("password_file")
    if "password" in m and "password_file" in m:
        check.error(at("password_file"), "give password or password_file, not both")
    elif "password" not in m and "password_file" not in m:
        check.error(path, "needs password or password_file")
    tls_ca_file = optional("tls_ca_file")
    if tls_ca_file is not None and tls is False:
        check.error(at("tls_ca_file"), "only with tls: true")
    folder = check.string(at("folder"), m.get("folder", "INBOX"))
    after = check.choice(at("after"), m.get("after", "flag"), AFTER)
    move_to = optional("move_to")
    if after == "move" and "move_to" not in m:
        check.error(at("move_to"), "required with after: move (the folder stored messages go to)")
    elif after == "flag" and "move_to" in m:
        check.error(at("move_to"), "only with after: move")
    elif move_to is not None and move_to == folder:
        check.error(at("move_to"), "must be another folder than `folder`")
    idle = check.boolean(at("idle"), m.get("idle", True))
    entry_point = optional("entry_point")
    poll = seconds("poll_interval", 60.0, 1.0)
    renew = seconds("idle_renew", 25 * 60.0, 1.0, MAX_IDLE_RENEW_S)
    timeout = seconds("timeout", 30.0, 1.0)
    reconnect_max = seconds("reconnect_max", 300.0, FIRST_RETRY_S)
    kept = parse_size(m.get("max_attachment_size", "10MB"))
    if kept is None or not 0 <= kept <= MAX_SIZE:
        shown = m.get("max_attachment_size")
        check.error(
            at("max_attachment_size"), f"must be a size up to 1GB such as 10MB, got {shown!r}"
        )
    authserv = optional("trusted_authserv_id")
    if authserv is not None and not re.fullmatch(HOSTNAME, authserv):
        check.error(at("trusted_authserv_id"), f"{authserv!r} is not a host name like "
                    "mx.example.com (the authserv-id your MX writes)")  # fmt: skip
    if len(check.problems) > before:
        return None
    assert name and host and user and folder and after and port is not None and kept is not None
    return MailboxSettings(
        name=name,
        host=host,
        user=user,
        password=password,
        password_file=password_file,
        port=port,
        tls=bool(tls),
        tls_ca_file=tls_ca_file,
        folder=folder,
        after=after,
        move_to=move_to,
        poll_interval_s=poll,
        idle=bool(idle),
        idle_renew_s=renew,
        entry_point=entry_point,
        timeout_s=timeout,
        reconnect_max_s=reconnect_max,
        max_attachment_size=kept,
        trusted_authserv_id=authserv or None,
    )


def _human(seconds: float) -> str:
    """30s, 29m, 2h."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
