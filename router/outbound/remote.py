"""What every outbound connector (helpdesks, customer notices) shares about the far end: its
configured base address checked, its credential read from a file, a short readable version of
its error body, and how long its Retry-After asks us to wait."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from frontdesk.router.conf.files import beside_config
from frontdesk.router.conf.yaml import Checker, Path


def base_url(check: Checker, path: Path, value: object) -> str | None:
    """An http:// or https:// address that paths go under: a host, no query or fragment; given
    back without surrounding blanks or a trailing slash."""
    url = check.string(path, value)
    if url is None:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        check.error(path, f"must be an http:// or https:// address, got {url!r}")
        return None
    if parts.query or parts.fragment:
        check.error(path, "must not carry a query or a fragment")
        return None
    return url.strip().rstrip("/")


def secret_file(check: Checker, path: Path, value: object) -> str | None:
    """The secret held in the file named at `path` (relative to the config file), without its
    surrounding blanks; an unreadable or empty file is reported. Secrets never appear in a
    message."""
    name = check.string(path, value)
    if name is None:
        return None
    target = beside_config(check.lines.source, name)
    try:
        secret = target.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError) as exc:
        check.error(path, f"cannot read {str(target)!r}: {getattr(exc, 'strerror', None) or exc}")
        return None
    if not secret:
        check.error(path, f"{str(target)!r} is empty")
        return None
    return secret


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_text(raw: bytes) -> str:
    """A short, readable version of a helpdesk's error body (JSON or text)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()[:300] or "(no body)"
    if isinstance(body, dict):
        parts = [
            str(body[k])
            for k in ("error_human", "error", "description", "message", "errors")
            if body.get(k)
        ]
        if body.get("details"):
            parts.append(json.dumps(body["details"], ensure_ascii=False))
        if parts:
            return "; ".join(dict.fromkeys(parts))[:300]
    return json.dumps(body, ensure_ascii=False)[:300]
