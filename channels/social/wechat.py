"""WeChat Official Account messages (plaintext mode).

WeChat checks the server URL with `GET ?signature=&timestamp=&nonce=&echostr=`: when
`signature == sha1("".join(sorted([token, timestamp, nonce])))` the answer is `echostr`. Every
message then comes as `POST ?signature=&timestamp=&nonce=&openid=...` with an XML body:

    <xml><ToUserName>gh_...</ToUserName><FromUserName>openid</FromUserName>
    <CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>...</Content>
    <MsgId>1234567890123456</MsgId></xml>

and wants `success` back within five seconds. The signature covers the query, not the body, so
the timestamp must also be recent (a tolerance window against replay). The XML is read with
expat and refused outright when it declares a DOCTYPE or an entity; element count and depth are
bounded. Encrypted (safe mode) messages are refused: use plaintext or compatible mode."""

from __future__ import annotations

import hashlib
import hmac
from xml.parsers import expat

from frontdesk.channels.base import Inbound
from frontdesk.channels.social.inbound import joined, social_inbound
from frontdesk.queues.errors import DecodeError
from frontdesk.queues.request import Attachment, Customer

TOKEN_PATTERN = r"[A-Za-z0-9]{3,32}"  # what the Official Accounts Platform accepts as Token
MAX_ELEMENTS = 256
MAX_DEPTH = 8
MAX_ECHO = 256
_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
_MEDIA = {
    "image": "image/jpeg",
    "voice": "audio/amr",
    "video": "video/mp4",
    "shortvideo": "video/mp4",
}


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature of a callback: sha1 of the three values sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def verify(token: str, presented: str | None, timestamp: str | None, nonce: str | None) -> bool:
    """`presented` is the signature `token` gives `timestamp` and `nonce`, compared in constant
    time. Whether the timestamp is recent is checked apart."""
    if presented is None or timestamp is None or nonce is None:
        return False
    expected = signature(token, timestamp, nonce).encode()
    return hmac.compare_digest(expected, presented.strip().lower().encode("utf-8", "replace"))


def read_xml(raw: bytes) -> dict[str, str]:
    """The children of the `<xml>` root and their text (CDATA included); deeper elements are
    skipped. DOCTYPE and entity declarations, other roots, repeated fields and trees beyond the
    bounds are refused with DecodeError."""
    parser = expat.ParserCreate("utf-8")  # WeChat sends UTF-8; no declared encoding is followed
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    fields: dict[str, str] = {}
    text: list[str] = []
    state = {"depth": 0, "count": 0}

    def refused(why: object) -> DecodeError:  # raised in expat's callbacks, out of Parse
        return DecodeError("(body)", raw, ValueError(f"not a WeChat XML message: {why}"))

    def start(name: str, attrs: object) -> None:
        state["depth"] += 1
        state["count"] += 1
        if state["count"] > MAX_ELEMENTS or state["depth"] > MAX_DEPTH:
            raise refused(f"more than {MAX_ELEMENTS} elements or {MAX_DEPTH} levels")
        if state["depth"] == 1 and name != "xml":
            raise refused(f"the root element must be <xml>, got <{name[:40]}>")
        if state["depth"] == 2:
            text.clear()

    def end(name: str) -> None:
        if state["depth"] == 2:
            if name in fields:
                raise refused(f"<{name[:40]}> appears twice")
            fields[name] = "".join(text).strip()
        state["depth"] -= 1

    def characters(data: str) -> None:
        if state["depth"] == 2:
            text.append(data)

    def declared(*args: object) -> None:
        raise refused("DOCTYPE and ENTITY declarations are refused")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = declared
    parser.EntityDeclHandler = declared
    parser.UnparsedEntityDeclHandler = declared
    parser.ExternalEntityRefHandler = declared  # type: ignore[assignment]
    try:
        parser.Parse(raw, True)
    except (expat.ExpatError, ValueError, LookupError) as exc:
        raise refused(exc) from None
    return fields


def parse(raw: bytes, app_id: str | None = None, received_at: float = 0.0) -> list[Inbound]:
    """The customer message in one POST (none for events other than a menu click); DecodeError
    names the field at fault. The entry point is `wechat:<app_id>` (else the account's own id)."""
    fields = read_xml(raw)

    def fail(field: str, message: str) -> DecodeError:
        return DecodeError(field, raw, ValueError(message))

    if "Encrypt" in fields and "MsgType" not in fields:
        raise fail("Encrypt", "encrypted (safe mode) messages are not supported; use plaintext "
                              "or compatible mode")  # fmt: skip
    for name in _REQUIRED:
        if not fields.get(name):
            raise fail(name, "is required")
    created = fields["CreateTime"]
    if not (created.isascii() and created.isdigit() and len(created) <= 12):
        raise fail("CreateTime", "must be Unix seconds")
    openid, kind = fields["FromUserName"][:128], fields["MsgType"]
    found = _body(fields, kind)
    if found is None:
        return []
    body, attachments = found
    msg_id = fields.get("MsgId", "")
    if msg_id and not (msg_id.isascii() and msg_id.isdigit() and len(msg_id) <= 24):
        raise fail("MsgId", "must be a whole number")
    inbound = social_inbound(
        "wechat",
        msg_id or f"{openid}:{created}",
        openid,
        entry_point=f"wechat:{app_id or fields['ToUserName'][:64]}",
        customer=Customer(handles={"wechat": openid}),
        body=body,
        attachments=attachments,
        received_at=received_at,
    )
    return [inbound]


def _body(fields: dict[str, str], kind: str) -> tuple[str, tuple[Attachment, ...]] | None:
    """The text for a message kind, with a placeholder for media; None for ignored events."""
    if kind == "text":
        return fields.get("Content", "") or "[message]", ()
    if kind in _MEDIA:
        media = fields.get("MediaId", "")[:256]
        attachment = Attachment(kind, _MEDIA[kind], 0, f"wechat:media:{media}" if media else None)
        return joined(f"[{kind}]", fields.get("Recognition", "")), (attachment,)
    if kind == "location":
        where = f"({fields.get('Location_X', '')}, {fields.get('Location_Y', '')})"
        return joined("[location]", fields.get("Label", ""), where), ()
    if kind in ("link", "file"):
        return joined(f"[{kind}]", fields.get("Title", ""), fields.get("Url", "")), ()
    if kind == "event":
        if fields.get("Event", "").upper() == "CLICK":  # a menu item such as "contact support"
            return joined("[menu]", fields.get("EventKey", "")), ()
        return None  # subscribe, unsubscribe, scan, location report, view: not requests
    return f"[{kind[:32]}]", ()
