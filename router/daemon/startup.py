"""What the daemon says when it is up: what listens where (the API, the screens, each channel),
which channels are not configured, and whether the API is open to anyone (its tokens)."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from frontdesk.channels.registry import MODULES
from frontdesk.router.daemon.settings import Settings

log = logging.getLogger("frontdesk")

SCREENS = (("agent desk", "/desk/"), ("supervisor wall", "/wall/"))


def startup_lines(settings: Settings, base: str) -> list[str]:
    """The lines, for the daemon serving `settings` at `base` (http://host:port)."""
    lines = [f"frontdesk listening on {base} (tenant {settings.tenant})"]
    lines.append(f"  API {base}/v1/ (described at {base}/v1/openapi.json), /healthz, /metrics")
    lines += [f"  {name} {base}{path}" for name, path in SCREENS]
    for name, channel in settings.channels.items():
        lines.append(f"  {name}: {_channel(name, channel, base)}")
    missing = [name for name in MODULES if name not in settings.channels]
    if missing:
        lines.append(f"  not configured (no channels.<name>): {', '.join(missing)}")
    lines.append(_tokens(settings))
    return lines


def log_startup(settings: Settings, host: str, port: int) -> None:
    for line in startup_lines(settings, f"http://{host}:{port}"):
        log.info("%s", line)


def _channel(name: str, channel: Any, base: str) -> str:
    if name == "chat":
        sites = channel.sites
        demo = f"; try it at {base}/chat/?site={sites[0].key}" if sites else ""
        ws = base.replace("http", "ws", 1)
        return f"WebSocket {ws}/v1/chat/ws, widget {base}/chat/chat.js{demo}"
    if name == "form":
        return f"POST {base}/v1/requests ({len(channel.sites)} site(s)), status pages"
    if name == "phone":
        return f"POST {base}/v1/callbacks, GET {base}/v1/customers/by-phone/{{number}}"
    if name == "social":
        hooks = sorted(channel.meta) + ["telegram"] * bool(channel.telegram)
        hooks += ["wechat"] * bool(channel.wechat) + [f"generic/{g}" for g in channel.generic]
        return f"POST {base}/v1/webhooks/{{{', '.join(hooks)}}}" if hooks else "no platform"
    if name == "smtp":
        return f"SMTP on {channel.host}:{channel.port} for {', '.join(channel.addresses)}"
    if name == "imap":
        boxes = ", ".join(f"{m.name} ({m.user} at {m.host})" for m in channel.mailboxes)
        return f"polling {boxes}"
    return "configured"


def _tokens(settings: Settings) -> str:
    tokens = settings.api_tokens
    if not tokens:
        return (
            "  no API tokens: the API is closed (make one with `frontdesk token create --name "
            "NAME --scope supervisor`, or play with `frontdesk demo`)"
        )
    scopes = Counter(t.scope.value for t in tokens)
    return "  API tokens: " + ", ".join(f"{n} {scope}" for scope, n in sorted(scopes.items()))
