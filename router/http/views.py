"""The JSON views of a request that the API, the webhooks and the channels all show, and where a
customer looks their request up."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from frontdesk.queues.blobs import is_reference
from frontdesk.queues.clocks import clock_views
from frontdesk.queues.request import Attachment, Message
from frontdesk.queues.store import RequestRecord


def iso_ms(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms is not None else None


def attachment_view(request_id: str, attachment: Attachment) -> dict[str, Any]:
    """An attachment's metadata, and where its content is: `url` while the desk keeps it (None
    when it was over the channel's size limit), else `source`, the platform's own reference (a
    WhatsApp media id, a Messenger file URL) when the channel gave one."""
    ref = attachment.ref
    ours = ref is not None and is_reference(ref)
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": f"/v1/requests/{request_id}/attachments/{ref}" if ours else None,
        "source": None if ours else ref,
    }


def message_view(request_id: str, message: Message, max_chars: int | None = None) -> dict[str, Any]:
    """One message of a thread: its author, when it came, its text (cut to `max_chars`, saying
    so in `truncated`), its attachments, and `auto` (why a robot sent it; None: a person)."""
    body = message.body
    cut = max_chars is not None and len(body) > max_chars
    return {
        "author": message.author,
        "body": body[:max_chars] if cut else body,
        "received_at": message.received_at,
        "at": iso_ms(int(message.received_at * 1000)) if message.received_at else None,
        "auto": message.auto,
        "attachments": [attachment_view(request_id, a) for a in message.attachments],
    } | ({"truncated": True} if cut else {})


def thread_view(
    record: RequestRecord, messages: list[Message], max_chars: int | None = None, omitted: int = 0
) -> dict[str, Any]:
    """What the customer wrote and the replies: `body` (the opening message, its `attachments`
    in the request view), `received_at`, `attributes`, and `thread`, the messages after the
    opening one, oldest first. `omitted`: how many older messages the caller left out (listed
    as `thread_omitted`); with `max_chars` every text is cut to that length (a message cut says
    `truncated`; `body_truncated` for the opening one)."""
    r = record.request
    body_cut = max_chars is not None and len(r.body) > max_chars
    return {
        "body": r.body[:max_chars] if body_cut else r.body,
        "received_at": r.received_at,
        "attributes": dict(r.attributes),
        "thread": [message_view(r.id, m, max_chars) for m in messages],
        "thread_omitted": omitted,
    } | ({"body_truncated": True} if body_cut else {})


def describe(record: RequestRecord) -> dict[str, Any]:
    r = record.request
    return {
        "id": r.id,
        "state": record.state.value,
        "queue": r.queue,
        "channel": r.channel.value,
        "priority": r.priority.value,
        "tier": r.tier,
        "category": r.category,
        "skills": [
            {"name": s.name, "min_level": s.min_level, "optional": s.optional} for s in r.skills
        ],
        "agent": record.agent,
        "subject": r.subject,
        "customer": {
            "id": r.customer.id,
            "name": r.customer.name,
            "email": r.customer.email,
            "phone": r.customer.phone,
            "claimed": [k for k in r.customer.claimed if getattr(r.customer, k, None)],
        },
        "enqueued_at": iso_ms(record.enqueued_ms),
        "offer_deadline": iso_ms(record.deadline_ms),
        "messages": record.messages,
        "attachments": [attachment_view(r.id, a) for a in r.attachments],
        "resolution": record.resolution,
        "routing": record.why,
        "sla": clock_views(record.clocks, int(time.time() * 1000)),
        "feedback": _feedback(record.feedback),
        "follow_up_of": r.attributes.get("follow_up_of"),
        "follow_up": record.follow_up,
    }


def _feedback(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """The survey answer, as the request view shows it."""
    if found is None:
        return None
    return {
        "score": found.get("score"),
        "dimensions": found.get("dimensions") or {},
        "comment": found.get("comment") or None,
        "via": found.get("via"),
        "at": iso_ms(found.get("at")),
    }


def status_path(request_id: str, token: str) -> str:
    """Where the customer looks the request up (relative to the daemon's public address)."""
    return f"/v1/requests/{request_id}/status?{urlencode({'token': token})}"
