"""The channel modules the daemon knows, by their key under `channels:` in the config. A module
is imported only when its key is used."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from frontdesk.channels.base import ChannelModule

_PATHS = {
    "smtp": "frontdesk.channels.mail.smtp",
    "imap": "frontdesk.channels.mail.imap",
    "chat": "frontdesk.channels.chat.channel",
    "social": "frontdesk.channels.social.channel",
    "form": "frontdesk.channels.form",
    "phone": "frontdesk.channels.phone",
}


# The HTTP paths each channel serves on the daemon's listener (a trailing / : every path under
# it), so that a request to one whose channel is not configured is told which key serves it.
SERVES: Mapping[str, tuple[str, ...]] = {
    "chat": ("/v1/chat/",),
    "social": ("/v1/webhooks/",),
    "form": ("/v1/requests",),
    "phone": ("/v1/callbacks", "/v1/customers/by-phone/"),
}


def unserved(configured: set[str]) -> dict[str, str]:
    """Path (or path prefix) -> the `channels.<name>` key that would serve it, for every
    channel not in `configured`."""
    return {p: f"channels.{n}" for n, paths in SERVES.items() if n not in configured for p in paths}


class _Modules(Mapping[str, ChannelModule]):
    def __getitem__(self, name: str) -> ChannelModule:
        module: ChannelModule = importlib.import_module(_PATHS[name])
        return module

    def __iter__(self) -> Iterator[str]:
        return iter(_PATHS)

    def __len__(self) -> int:
        return len(_PATHS)


MODULES: Mapping[str, ChannelModule] = _Modules()
