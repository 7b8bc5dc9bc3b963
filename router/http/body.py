"""Reading API request bodies: JSON objects checked field by field, each refusal naming its field.

body = await json_body(request, allowed={"presence", "reason"})
presence = choice(body, "presence", [p.value for p in Presence])
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from frontdesk.queues.request import is_text
from frontdesk.router.http.errors import ApiError, Refusal, invalid

MAX_BODY = 64 * 1024


async def json_body(request: web.Request, allowed: Iterable[str]) -> dict[str, Any]:
    """The request's JSON object; unknown fields are refused by name."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(16 * 1024):  # a body may come in pieces
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    if (where := not_text(body)) is not None:
        raise invalid(where, "is not valid Unicode text (a lone surrogate)")
    known = set(allowed)
    for key in body:
        if key not in known:
            raise invalid(str(key), f"unknown field; expected one of {', '.join(sorted(known))}")
    return body


def not_text(document: Any) -> str | None:
    """The path (`attributes.order`, `entry[0].id`) of the first string in a decoded JSON
    document, a value or a name, that does not encode as UTF-8: a `\\ud800` escape decodes to a
    lone surrogate, which neither msgpack nor Redis can keep. None when every string is text.
    Iterative: nesting depth costs no stack."""
    todo: list[tuple[Any, str]] = [(document, "")]
    while todo:
        value, path = todo.pop()
        if isinstance(value, str):
            if not is_text(value):
                return path or "(body)"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not is_text(str(key)):
                    return f"{path}.(name)" if path else "(name)"
                todo.append((item, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list):
            todo.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    return None


def text(body: dict[str, Any], name: str, required: bool = True, max_len: int = 2000) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(name, "must be a non-empty string")
    if len(value) > max_len:
        raise invalid(name, f"must be at most {max_len} characters")
    return value


def choice(body: dict[str, Any], name: str, options: list[str], required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if value not in options:
        raise invalid(name, f"must be one of {', '.join(options)}")
    return str(value)


def number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise invalid(name, f"must be a number from {low:g} to {high:g}")
    return float(value)


def int_map(
    body: dict[str, Any], name: str, keys: Iterable[str], low: int, high: int
) -> dict[str, int]:
    """A JSON object of whole numbers, keys from `keys`."""
    value = body.get(name)
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    known = set(keys)
    out = {}
    for key, n in value.items():
        if key not in known:
            raise invalid(f"{name}.{key}", f"unknown; expected one of {', '.join(sorted(known))}")
        if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
            raise invalid(f"{name}.{key}", f"must be a whole number from {low} to {high}")
        out[key] = n
    return out


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is longer than `limit` bytes."""
    too_large = Refusal(413, "too_large", f"the body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(min(limit + 1 - size, 65536)):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
