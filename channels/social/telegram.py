"""Telegram Bot API webhooks.

`setWebhook(url, secret_token=S)` makes Telegram send `X-Telegram-Bot-Api-Secret-Token: S` with
every update (Telegram signs nothing else: the secret header is the whole proof); the body is one
JSON Update. A `message` from a person becomes an Inbound; edits, channel posts, button presses,
membership changes, service messages and messages from other bots are acknowledged and ignored."""

from __future__ import annotations

import hmac
from typing import Any

from frontdesk.channels.base import Inbound
from frontdesk.channels.social.generic import Fields, decode_json, language
from frontdesk.channels.social.inbound import joined, social_inbound, string
from frontdesk.queues.request import Attachment, Customer

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_PATTERN = r"[A-Za-z0-9_-]{1,256}"  # what setWebhook accepts as secret_token
OCTET = "application/octet-stream"
# message fields that carry a file, with the content type to assume when Telegram gives none
_FILES = {
    "document": OCTET,
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "animation": "video/mp4",
}
_OTHER_CONTENT = ("sticker", "location", "venue", "contact", "poll", "dice", "game", "story")


def verify(secret_token: str, presented: str | None) -> bool:
    """The secret header is ours, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(secret_token.encode(), presented.encode("utf-8", "replace"))


def parse(raw: bytes, bot: str, received_at: float = 0.0) -> list[Inbound]:
    """The customer message in one Update (none for updates that are not one); DecodeError names
    the field at fault. The chat is the conversation: follow-ups in it join its open request."""
    f = Fields(raw)
    update = f.mapping(decode_json(raw), "")
    f.integer(update.get("update_id"), "update_id")
    if update.get("message") is None:
        return []
    message = f.mapping(update.get("message"), "message")
    message_id = f.integer(message.get("message_id"), "message.message_id")
    chat = f.mapping(message.get("chat"), "message.chat")
    chat_id = f.integer(chat.get("id"), "message.chat.id")
    sender = message.get("from")
    person = f.mapping(sender, "message.from") if sender is not None else {}
    if f.flag(person.get("is_bot")):
        return []
    user = f.integer(person.get("id"), "message.from.id") if person else chat_id
    body, attachments = _body(f, message)
    if not body:
        return []  # a service message: someone joined, a title changed, a message was pinned
    customer = Customer(name=_name(person, chat), handles={"telegram": str(user)})
    inbound = social_inbound(
        "telegram",
        f"{chat_id}:{message_id}",
        str(chat_id),
        entry_point=f"telegram:{bot}",
        customer=customer,
        body=body,
        language=language(person.get("language_code")),
        attachments=attachments,
        received_at=received_at,
    )
    return [inbound]


def _body(f: Fields, message: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    """The message's text, or a placeholder such as "[photo]" with its caption; "" when it has
    no content a person wrote."""
    text = message.get("text")
    if text is not None:
        if not isinstance(text, str):
            f.fail("message.text", "must be a string")
        return text.strip() or "[message]", ()
    caption = string(message.get("caption"))
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        largest = photo[-1] if isinstance(photo[-1], dict) else {}
        return joined("[photo]", caption), (_attachment(largest, "photo", "image/jpeg"),)
    for kind, content_type in _FILES.items():
        file = message.get(kind)
        if isinstance(file, dict):
            return joined(f"[{kind}]", caption), (_attachment(file, kind, content_type),)
    if isinstance(contact := message.get("contact"), dict):
        who = " ".join(string(contact.get(k)) for k in ("first_name", "last_name", "phone_number"))
        return joined("[contact]", who.strip()), ()
    if isinstance(sticker := message.get("sticker"), dict):
        return joined("[sticker]", string(sticker.get("emoji"))), ()
    for kind in _OTHER_CONTENT:
        if message.get(kind) is not None:
            return joined(f"[{kind}]", caption), ()
    return "", ()


def _attachment(file: dict[str, Any], kind: str, content_type: str) -> Attachment:
    size = file.get("file_size")
    file_id = string(file.get("file_id"))
    return Attachment(
        filename=string(file.get("file_name"))[:255] or kind,
        content_type=string(file.get("mime_type"))[:127] or content_type,
        size=size if isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**53
        else 0,
        ref=f"telegram:file:{file_id[:256]}" if file_id else None,
    )  # fmt: skip


def _name(person: dict[str, Any], chat: dict[str, Any]) -> str | None:
    source = person or chat
    name = " ".join(string(source.get(k)) for k in ("first_name", "last_name")).strip()
    return (name or string(source.get("username")))[:200] or None
