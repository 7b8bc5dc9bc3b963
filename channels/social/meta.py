"""Meta's webhooks: WhatsApp Cloud API, Messenger and Instagram messaging.

Meta checks a callback URL once with
`GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...` (answer the challenge when the
token is ours), then POSTs JSON notifications signed with the app
secret: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`. One notification
may carry many messages (`entry[].changes[].value.messages[]` for WhatsApp, `entry[].messaging[]`
for Messenger and Instagram); each becomes its own Inbound. Statuses, read and delivery receipts,
echoes of the business's own messages, reactions and other notification fields are acknowledged
and ignored: they are not requests."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from frontdesk.channels.base import Inbound
from frontdesk.channels.social.generic import Fields, decode_json
from frontdesk.channels.social.inbound import joined, social_inbound, string
from frontdesk.queues.request import Attachment, Customer

OBJECTS = {"whatsapp": "whatsapp_business_account", "messenger": "page", "instagram": "instagram"}
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_CHALLENGE = 256
_WA_NUMBER = re.compile(r"[1-9][0-9]{6,14}")
_MEDIA = ("image", "video", "audio", "document", "sticker")
_IGNORED_WA_TYPES = ("reaction", "system", "request_welcome")
_KIND_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*"}
OCTET = "application/octet-stream"


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends with `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, signature: str | None, body: bytes) -> bool:
    """`signature` is the app secret's HMAC of the raw body, compared in constant time."""
    if signature is None:
        return False
    presented = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(app_secret, body).encode(), presented)


def handshake(query: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo when `query` is Meta's subscription check with our verify token;
    None when it is not (the token is compared in constant time)."""
    token = query.get("hub.verify_token", "").encode("utf-8", "replace")
    challenge = query.get("hub.challenge", "")
    good = hmac.compare_digest(token, verify_token.encode())
    if query.get("hub.mode") != "subscribe" or not good:
        return None
    if not challenge or len(challenge) > MAX_CHALLENGE or not challenge.isprintable():
        return None
    return challenge


def parse(
    platform: str, raw: bytes, entry_point: str | None = None, received_at: float = 0.0
) -> list[Inbound]:
    """Every customer message in one notification to the `platform` endpoint (whatsapp,
    messenger, instagram); DecodeError names the field at fault. `entry_point` is the prefix of
    the request's entry point (default: the platform), followed by the business account."""
    f = Fields(raw)
    top = f.mapping(decode_json(raw), "")
    expected = OBJECTS[platform]
    if top.get("object") != expected:
        f.fail("object", f"the {platform} endpoint takes {expected!r} notifications")
    prefix = entry_point or platform
    out: list[Inbound] = []
    for i, item in enumerate(f.items(top.get("entry"), "entry")):
        where = f"entry[{i}]"
        entry = f.mapping(item, where)
        if platform == "whatsapp":
            out += _whatsapp_entry(f, entry, where, prefix, received_at)
        else:
            out += _messaging_entry(f, platform, entry, where, prefix, received_at)
    return out


# -- WhatsApp --------------------------------------------------------------------------------
def _whatsapp_entry(
    f: Fields, entry: dict[str, Any], where: str, prefix: str, received_at: float
) -> list[Inbound]:
    out = []
    for j, item in enumerate(f.items(entry.get("changes"), f"{where}.changes", required=False)):
        at = f"{where}.changes[{j}]"
        change = f.mapping(item, at)
        if change.get("field") != "messages":
            continue  # account, template and quality updates: not messages
        value = f.mapping(change.get("value"), f"{at}.value")
        account = _whatsapp_account(value, entry)
        names = _whatsapp_names(value)
        messages = f.items(value.get("messages"), f"{at}.value.messages", required=False)
        for k, message in enumerate(messages):
            found = _whatsapp_message(
                f, message, f"{at}.value.messages[{k}]", names, f"{prefix}:{account}", received_at
            )
            if found is not None:
                out.append(found)
    return out


def _whatsapp_account(value: dict[str, Any], entry: dict[str, Any]) -> str:
    """The business number the customer wrote to (digits), else its id, else the account's."""
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        number = metadata.get("display_phone_number")
        if isinstance(number, str) and (digits := re.sub(r"\D", "", number)):
            return digits[:20]
        number_id = metadata.get("phone_number_id")
        if isinstance(number_id, str) and number_id.isalnum():
            return number_id[:64]
    account = entry.get("id")
    return account[:64] if isinstance(account, str) and account.isalnum() else "unknown"


def _whatsapp_names(value: dict[str, Any]) -> dict[str, str]:
    """wa_id -> profile name, from the notification's contacts (whatever is well formed)."""
    names = {}
    contacts = value.get("contacts")
    for contact in contacts if isinstance(contacts, list) else []:
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        wa_id = contact.get("wa_id")
        if isinstance(wa_id, str) and isinstance(name, str) and name.strip():
            names[wa_id] = name.strip()[:200]
    return names


def _whatsapp_message(
    f: Fields,
    item: object,
    at: str,
    names: dict[str, str],
    entry_point: str,
    received_at: float,
) -> Inbound | None:
    message = f.mapping(item, at)
    message_id = f.text(message.get("id"), f"{at}.id", 256)
    wa_id = f.text(message.get("from"), f"{at}.from", 128)
    kind = message.get("type")
    kind = kind if isinstance(kind, str) and kind else "unknown"
    if kind in _IGNORED_WA_TYPES:
        return None
    body, attachments = _whatsapp_body(f, message, kind, at)
    customer = Customer(
        name=names.get(wa_id),
        phone=f"+{wa_id}" if _WA_NUMBER.fullmatch(wa_id) else None,
        handles={"whatsapp": wa_id},
    )
    return social_inbound(
        "whatsapp",
        message_id,
        wa_id,
        entry_point=entry_point,
        customer=customer,
        body=body,
        attachments=attachments,
        received_at=received_at,
    )


def _whatsapp_body(
    f: Fields, message: dict[str, Any], kind: str, at: str
) -> tuple[str, tuple[Attachment, ...]]:
    content = message.get(kind)
    part = content if isinstance(content, dict) else {}
    if kind == "text":
        text = f.mapping(content, f"{at}.text").get("body")
        if not isinstance(text, str):
            f.fail(f"{at}.text.body", "must be a string")
        return text.strip() or "[message]", ()
    if kind in _MEDIA:
        caption = string(part.get("caption"))
        media_id = string(part.get("id"))
        attachment = Attachment(
            filename=string(part.get("filename"))[:255] or kind,
            content_type=string(part.get("mime_type"))[:127] or OCTET,
            size=0,
            ref=f"whatsapp:media:{media_id[:128]}" if media_id else None,
        )
        return joined(f"[{kind}]", caption), (attachment,)
    if kind == "location":
        place = " ".join(string(part.get(k)) for k in ("name", "address")).strip()
        lat, lon = part.get("latitude"), part.get("longitude")
        numbers = all(isinstance(n, int | float) and not isinstance(n, bool) for n in (lat, lon))
        return joined("[location]", place, f"({lat}, {lon})" if numbers else ""), ()
    if kind == "contacts":
        cards = content if isinstance(content, list) else []
        shared = [string(c.get("name", {}).get("formatted_name")) for c in cards
                  if isinstance(c, dict) and isinstance(c.get("name"), dict)]  # fmt: skip
        return joined("[contacts]", ", ".join(s for s in shared if s)), ()
    if kind == "interactive":
        for reply in ("button_reply", "list_reply"):
            chosen = part.get(reply)
            if isinstance(chosen, dict):
                return joined(string(chosen.get("title")) or "[choice]",
                              string(chosen.get("description"))), ()  # fmt: skip
        return "[interactive reply]", ()
    if kind == "button":
        return string(part.get("text")) or "[button]", ()
    if kind in ("unsupported", "unknown"):
        return "[unsupported message]", ()
    return f"[{kind[:32]}]", ()


# -- Messenger and Instagram -----------------------------------------------------------------
def _messaging_entry(
    f: Fields, platform: str, entry: dict[str, Any], where: str, prefix: str, received_at: float
) -> list[Inbound]:
    out = []
    account = entry.get("id")
    for j, item in enumerate(f.items(entry.get("messaging"), f"{where}.messaging", False)):
        at = f"{where}.messaging[{j}]"
        event = f.mapping(item, at)
        message = event.get("message")
        if message is None:
            continue  # deliveries, reads, postbacks, reactions, referrals, opt-ins
        message = f.mapping(message, f"{at}.message")
        if f.flag(message.get("is_echo")) or f.flag(message.get("is_deleted")):
            continue  # our own messages, or one the customer took back
        sender = f.mapping(event.get("sender"), f"{at}.sender")
        user = f.text(sender.get("id"), f"{at}.sender.id", 128)
        mid = f.text(message.get("mid"), f"{at}.message.mid", 512)
        if not (isinstance(account, str) and account.isalnum()):
            recipient = event.get("recipient")
            account = recipient.get("id") if isinstance(recipient, dict) else None
        label = str(account)[:64] if isinstance(account, str | int) else "unknown"
        body, attachments = _messaging_body(f, message, f"{at}.message")
        customer = Customer(handles={platform: user})
        out.append(
            social_inbound(
                platform,
                mid,
                user,
                entry_point=f"{prefix}:{label}",
                customer=customer,
                body=body,
                attachments=attachments,
                received_at=received_at,
            )
        )
    return out


def _messaging_body(
    f: Fields, message: dict[str, Any], at: str
) -> tuple[str, tuple[Attachment, ...]]:
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        f.fail(f"{at}.text", "must be a string")
    parts, attachments = [], []
    for i, item in enumerate(f.items(message.get("attachments"), f"{at}.attachments", False)):
        attachment = f.mapping(item, f"{at}.attachments[{i}]")
        kind = string(attachment.get("type"))[:32] or "attachment"
        payload = attachment.get("payload")
        url = string(payload.get("url")) if isinstance(payload, dict) else ""
        title = string(attachment.get("title"))
        parts.append(joined(f"[{kind}]", title))
        attachments.append(
            Attachment(
                filename=title[:255] or kind,
                content_type=_KIND_TYPES.get(kind, OCTET),
                size=0,
                ref=url if url and len(url) <= 2048 else None,
            )
        )
    if f.flag(message.get("is_unsupported")):
        parts.append("[unsupported message]")
    body = joined(text or "", *parts)
    return body or "[message]", tuple(attachments)
