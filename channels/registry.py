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


class _Modules(Mapping[str, ChannelModule]):
    def __getitem__(self, name: str) -> ChannelModule:
        module: ChannelModule = importlib.import_module(_PATHS[name])
        return module

    def __iter__(self) -> Iterator[str]:
        return iter(_PATHS)

    def __len__(self) -> int:
        return len(_PATHS)


MODULES: Mapping[str, ChannelModule] = _Modules()
