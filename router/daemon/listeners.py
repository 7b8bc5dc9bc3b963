"""Opening the daemon's listeners (its HTTP port, a channel's own server): an address that cannot
be listened on is one line naming the address and the config keys that set it."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from frontdesk.channels.base import ChannelRuntime
from frontdesk.queues.errors import FrontdeskError


class ListenerError(FrontdeskError):
    """A listener could not open its address (in use, not permitted): one line names both."""


async def listening(start: Callable[[], Awaitable[None]], address: str, keys: str) -> None:
    """Run `start`; an address it cannot listen on is a ListenerError naming the config keys."""
    try:
        await start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenerError(f"cannot listen on {address} ({keys}): {reason.lower()}") from None


def channel_address(channel: ChannelRuntime) -> tuple[str, str]:
    """Where a channel listens, as far as its settings say, and the config keys of it."""
    settings = getattr(channel, "settings", None)
    host, port = getattr(settings, "host", None), getattr(settings, "port", None)
    where = f"channels.{channel.name}"
    if host is None or port is None:
        return f"channel {channel.name}", where
    return f"{host}:{port}", f"{where}.host, {where}.port"
