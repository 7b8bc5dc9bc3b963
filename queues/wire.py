"""Turning redis-py replies (bytes, as the client is not asked to decode) into Python values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def text(value: Any) -> str:
    """A reply value as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def as_bytes(value: Any) -> bytes:
    """A reply value as bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


def texts(values: Iterable[Any]) -> list[str]:
    return [text(v) for v in values]


def fields(reply: Mapping[Any, Any]) -> dict[str, bytes]:
    """A hash reply with text field names and the raw bytes of each value."""
    return {text(k): as_bytes(v) for k, v in reply.items()}
