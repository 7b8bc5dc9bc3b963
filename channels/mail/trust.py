"""Whether a mail proves its sender: the envelope sender is the From address and our own MX
(`trusted_authserv_id`, the authserv-id it writes) says in its Authentication-Results header
(RFC 8601) that SPF passed for that envelope sender or a DKIM signature of the From domain
passed. Only the topmost Authentication-Results header with our authserv-id counts (our MX
prepends its own, and must remove any that claim its id on arrival, as RFC 8601 section 5 asks).
A mail that proves nothing keeps its address as claimed (router/intake: no care-list standing,
not the proven customer's history)."""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import compat32

_RESULT = re.compile(r"^\s*([a-z0-9-]+)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(r"\b(smtp\.mailfrom|header\.d|header\.i|header\.from)\s*=\s*([^\s;()]+)",
                       re.IGNORECASE)  # fmt: skip
_COMMENT = re.compile(r"\([^()]*\)")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower()


def results(value: str, authserv_id: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """(method, result, properties) of one Authentication-Results value, None when another
    authserv-id wrote it."""
    text = _COMMENT.sub(" ", value.replace("\r", " ").replace("\n", " "))
    head, _, rest = text.partition(";")
    words = head.split()
    if not words or words[0].lower() != authserv_id.lower():
        return None
    found = []
    for part in rest.split(";"):
        m = _RESULT.match(part)
        if m is None:
            continue
        props = {k.lower(): v.strip('"').lower() for k, v in _PROPERTY.findall(m[3])}
        found.append((m[1].lower(), m[2].lower(), props))
    return found


def proven(raw: bytes, authserv_id: str, envelope_from: str | None, address: str | None) -> bool:
    """Whether the mail in `raw` proves `address` (its From) by our MX's verdict.
    `envelope_from` None (a mailbox polled over IMAP): the topmost Return-Path, which the
    delivering server wrote from the envelope."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:  # headers the parser cannot read prove nothing (the mail is still taken)
        return False
    if envelope_from is None:
        envelope_from = str(headers.get("Return-Path") or "")
    if not address or not envelope_from:
        return False
    sender = envelope_from.strip().strip("<>").lower()
    if sender != address.strip().lower():
        return False
    for value in headers.get_all("Authentication-Results") or []:  # topmost first
        verdicts = results(str(value), authserv_id)
        if verdicts is None:
            continue
        domain = _domain(address)
        for method, result, props in verdicts:
            if result != "pass":
                continue
            if method == "spf" and props.get("smtp.mailfrom", sender) in (sender, domain):
                return True
            signer = props.get("header.d") or _domain(props.get("header.i", ""))
            if method == "dkim" and signer == domain:
                return True
        return False  # the topmost of ours decides
    return False
