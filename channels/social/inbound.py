"""How a message from a social platform becomes an `Inbound`, in one place for every parser of the
social channel (Meta's, Telegram's, WeChat's, the generic webhook's): a request of the social
channel, known by `<platform>:<message id>`, whose conversation `<platform>:<thread>` is both the
reference it may join and the key its follow-ups find it by. Also the two small text helpers the
parsers share for the decorative parts of a message (captions, titles, placeholders)."""

from __future__ import annotations

from collections.abc import Mapping

from frontdesk.channels.base import Inbound
from frontdesk.queues.request import Attachment, Channel, Customer, Request, Scalar


def social_inbound(
    platform: str,
    message_id: str,
    thread: str,
    *,
    entry_point: str,
    customer: Customer,
    body: str,
    subject: str = "",
    language: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    attributes: Mapping[str, Scalar] | None = None,
    received_at: float = 0.0,
) -> Inbound:
    """The Inbound of message `message_id` on `platform` (a platform's name, or a generic
    webhook's) in conversation `thread`: its queue is left to the rules, its external id is
    `<platform>:<message_id>` (what a redelivery is recognized by), and `<platform>:<thread>`
    leads follow-ups in the same conversation to its open request."""
    ref = f"{platform}:{thread}"
    request = Request(
        id="",
        channel=Channel.SOCIAL,
        queue="",
        external_id=f"{platform}:{message_id}",
        entry_point=entry_point,
        customer=customer,
        subject=subject,
        body=body,
        language=language,
        attachments=attachments,
        received_at=received_at,
        attributes=dict(attributes or {}),
    )
    return Inbound(request=request, thread_refs=(ref,), thread_keys=(ref,))


def string(value: object) -> str:
    """A string field of a decorative part (a caption, a title), stripped; "" when it is not a
    string."""
    return value.strip() if isinstance(value, str) else ""


def joined(*parts: str) -> str:
    """The non-empty parts, separated by one space: `joined("[photo]", caption)`."""
    return " ".join(p for p in parts if p)
