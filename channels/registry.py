"""The channel modules the daemon knows, by their key under `channels:` in the config."""

from __future__ import annotations

from .base import ChannelModule

MODULES: dict[str, ChannelModule] = {}
