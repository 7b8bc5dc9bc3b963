"""The survey, pure: its signed link (an HMAC of the request id with the tenant's secret, as the
status link is; compared in constant time), and the score in a reply that says nothing else
("5", a full-width five, "4 分", "3!", with the quoted mail below it)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

TOKEN_CHARS = 32
_QUOTE_HEAD = re.compile(  # where a mail client starts quoting the original
    r"^(on .{1,200} wrote:|在.{1,200}写道[:：]?|-{2,} ?original message ?-{2,}|"  # noqa: RUF001
    r"from: .*|发件人[:：].*)$",  # noqa: RUF001
    re.IGNORECASE,
)
_SCORE = re.compile(r"^([1-5])\s*(分|星|stars?|points?|/\s*5)?\s*[.!。！]*$", re.IGNORECASE)  # noqa: RUF001


def survey_token(secret: bytes, request_id: str) -> str:
    mac = hmac.new(secret, b"survey:" + request_id.encode(), hashlib.sha256).hexdigest()
    return mac[:TOKEN_CHARS]


def check_token(secret: bytes, request_id: str, token: str) -> bool:
    """Constant time; any text is safe to pass."""
    return hmac.compare_digest(survey_token(secret, request_id).encode(), token.encode())


def survey_path(request_id: str, token: str) -> str:
    return f"/v1/requests/{request_id}/survey?token={token}"


def lone_score(text: str) -> int | None:
    """The score 1-5 when `text` is only that (and what a mail client quotes below a reply);
    None for anything else: a reply that says more is a message for an agent."""
    said: str | None = None
    for raw in text.splitlines():  # read as far as needed: every message comes this way
        line = unicodedata.normalize("NFKC", raw).strip()
        if line.startswith(">") or _QUOTE_HEAD.match(line):
            break  # the quoted original from here on
        if line and said is not None:
            return None  # says more than a score
        said = line or said
    m = _SCORE.match(said) if said is not None else None
    return int(m.group(1)) if m else None
