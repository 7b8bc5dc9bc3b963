"""`channels.chat` in the config: the sites that embed the widget (key, origins, entry point),
the message size limit and the idle timeout, every problem with its YAML path and line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from frontdesk.router.conf.yaml import Checker
from frontdesk.router.conf.yaml import Path as YamlPath

DEFAULT_MAX_MESSAGE_BYTES = 4096
DEFAULT_ENTRY_POINT = "web-chat"
_SITE_KEY = re.compile(r"[A-Za-z0-9_-]{8,128}")


@dataclass(frozen=True, slots=True)
class Site:
    """A web site that embeds the widget: its public key, where it may run, its entry point."""

    key: str
    origins: tuple[str, ...]  # normalized origins; empty: any origin
    entry_point: str

    def allows(self, origin: str | None) -> bool:
        return not self.origins or _origin(origin) in self.origins


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """`channels.chat`."""

    sites: tuple[Site, ...]
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    idle_timeout_s: float | None = None  # abandon a conversation after this long without activity

    @property
    def frame_limit(self) -> int:
        """Largest frame or body decoded: room for a full message however JSON escapes it."""
        return 6 * self.max_message_bytes + 4096

    @property
    def socket_limit(self) -> int:
        """Largest WebSocket frame read at all (answered `too_large`); a larger one closes the
        socket with 1009, Message Too Big."""
        return 4 * self.frame_limit


def _origin(value: object) -> str | None:
    """`scheme://host[:port]` in lower case, without a default port; None if not an origin."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if (
        parts.scheme not in ("http", "https")
        or not host
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        return None
    host = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def parse_config(check: Checker, raw: object, path: YamlPath, queues: set[str]) -> Any:
    """`channels.chat`: sites (key, origins, entry_point), max_message_bytes, idle_timeout."""
    before = len(check.problems)
    c = check.mapping(path, raw, ["sites", "max_message_bytes", "idle_timeout"])
    raw_sites = c.get("sites")
    if raw_sites is None or raw_sites == []:
        check.error((*path, "sites"), "list at least one site (key, origins, entry_point)")
    sites: list[Site] = []
    seen: dict[str, int] = {}
    for i, body in enumerate(check.sequence((*path, "sites"), raw_sites)):
        where: YamlPath = (*path, "sites", i)
        s = check.mapping(where, body, ["key", "origins", "entry_point"])
        if not isinstance(body, dict):
            continue
        key = check.string((*where, "key"), s.get("key"))
        if key is not None and not _SITE_KEY.fullmatch(key):
            check.error((*where, "key"), "must be 8 to 128 letters, digits, - or _")
            key = None
        if key is not None and key in seen:
            check.error((*where, "key"), f"is already the key of sites[{seen[key]}]")
        elif key is not None:
            seen[key] = i
        origins = []
        for j, value in enumerate(check.sequence((*where, "origins"), s.get("origins"))):
            origin = _origin(value)
            if origin is None:
                check.error(
                    (*where, "origins", j),
                    "must be an origin such as https://www.example.com (scheme, host, optional "
                    f"port; no path), got {value!r}",
                )
            else:
                origins.append(origin)
        entry = check.string((*where, "entry_point"), s.get("entry_point", DEFAULT_ENTRY_POINT))
        if key is not None and entry is not None:
            sites.append(Site(key, tuple(origins), entry))
    max_bytes = check.integer(
        (*path, "max_message_bytes"),
        c.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES),
        1,
        65536,
    )
    idle = None
    if c.get("idle_timeout") is not None:
        idle = check.duration((*path, "idle_timeout"), c["idle_timeout"])
        if idle is not None and idle < 1:
            check.error((*path, "idle_timeout"), "must be at least 1s (leave it out: never)")
    if len(check.problems) > before or max_bytes is None:
        return None
    return ChatSettings(tuple(sites), max_bytes, idle)
