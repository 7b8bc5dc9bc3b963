"""The social channel's pure parts: each platform's parser, signature and handshake checks, and
config. Payloads are built as the platforms document them; hypothesis throws arbitrary bytes,
arbitrary JSON and mutated real payloads at every parser: each answers with messages or a
DecodeError naming a field, never another exception."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from frontdesk.channels.social import generic as webhook_generic
from frontdesk.channels.social import meta, telegram, wechat
from frontdesk.channels.social.channel import SocialSettings
from frontdesk.queues.errors import DecodeError
from frontdesk.queues.request import Channel
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.intake.front import Inbound

WA_NUMBER = "15550783881"
PAGE_ID = "682498302938465"
IG_ID = "17841400008460056"
WECHAT_ACCOUNT = "gh_3d5f8a1b2c4e"


# -- payloads as the platforms document them -------------------------------------------------
def wa_text(wamid: str, wa_id: str, text: str) -> dict[str, Any]:
    return {"from": wa_id, "id": wamid, "timestamp": "1749416383", "type": "text",
            "text": {"body": text}}  # fmt: skip


def wa_contact(wa_id: str, name: str) -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def whatsapp_payload(
    messages: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
    statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A WhatsApp Cloud API `messages` notification (developers.facebook.com, messages webhook
    reference): entry[].changes[].value with metadata, contacts, messages and/or statuses."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WA_NUMBER, "phone_number_id": "106540352242922"},
    }
    if messages:
        value["contacts"] = contacts
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def wa_status(wamid: str, wa_id: str) -> dict[str, Any]:
    return {"id": wamid, "status": "read", "timestamp": "1749416390", "recipient_id": wa_id}


def fb_message(
    user: str, account: str, mid: str, text: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A Messenger / Instagram `messages` event (messages webhook event reference)."""
    message: dict[str, Any] = {"mid": mid, **extra}
    if text is not None:
        message["text"] = text
    return {"sender": {"id": user}, "recipient": {"id": account},
            "timestamp": 1458692752478, "message": message}  # fmt: skip


def messaging_payload(platform: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    obj, account = ("page", PAGE_ID) if platform == "messenger" else ("instagram", IG_ID)
    return {"object": obj, "entry": [{"id": account, "time": 1458692752478, "messaging": events}]}


def telegram_update(
    update_id: int,
    chat_id: int,
    message_id: int,
    text: str | None = "hello",
    from_id: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Telegram Bot API Update carrying a private-chat Message."""
    person = {"id": from_id or chat_id, "is_bot": False, "first_name": "Wei",
              "last_name": "Zhang", "username": "zhangwei", "language_code": "zh-hans"}  # fmt: skip
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": person,
        "chat": {"id": chat_id, "first_name": "Wei", "type": "private"},
        "date": 1767225600,
        **extra,
    }
    if text is not None:
        message["text"] = text
    return {"update_id": update_id, "message": message}


def wechat_xml(
    openid: str, msg_id: str | None, content: str, kind: str = "text", **more: str
) -> bytes:
    """A WeChat Official Account push (Receiving standard messages): CDATA as WeChat sends it."""
    fields = {"ToUserName": WECHAT_ACCOUNT, "FromUserName": openid, "CreateTime": "1348831860",
              "MsgType": kind, **({"Content": content} if kind == "text" else {})}  # fmt: skip
    fields.update(more)
    parts = [f"<{k}><![CDATA[{v}]]></{k}>" if k != "CreateTime" else f"<{k}>{v}</{k}>"
             for k, v in fields.items()]  # fmt: skip
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def generic_message(message_id: str, user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "from": {"id": user, "name": "Ann Lee"}, "text": text, **extra}


def encoded(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# -- invariants of what any parser returns ---------------------------------------------------
def well_formed(found: list[Inbound], prefix: str) -> None:
    """What every Inbound of the social channel looks like, whatever the input."""
    for inbound in found:
        r = inbound.request
        assert r.channel is Channel.SOCIAL and r.queue == "" and r.id == ""
        assert r.external_id and r.external_id.startswith(prefix + ":")
        assert r.body.strip() or r.subject.strip()
        assert len(r.customer.handles) == 1
        assert inbound.thread_refs and inbound.thread_refs == inbound.thread_keys
        assert r.encode()  # storable as it is (msgpack takes every value)


def refuses_cleanly(call: Any) -> list[Inbound]:
    """`call()`'s messages, or [] when it refused with a DecodeError naming a field."""
    try:
        return list(call())
    except DecodeError as exc:
        assert exc.what and isinstance(exc.cause, ValueError)
        return []


# -- WhatsApp --------------------------------------------------------------------------------
def test_whatsapp_text_names_the_customer_by_number() -> None:
    doc = whatsapp_payload([wa_text("wamid.HBgL1", "8613800138000", "我要退款")],
                           [wa_contact("8613800138000", "李娜")])  # fmt: skip
    (inbound,) = meta.parse("whatsapp", encoded(doc), received_at=5.0)
    r = inbound.request
    assert r.external_id == "whatsapp:wamid.HBgL1" and r.body == "我要退款"
    assert r.entry_point == f"whatsapp:{WA_NUMBER}" and r.received_at == 5.0
    assert r.customer.name == "李娜" and r.customer.phone == "+8613800138000"
    assert r.customer.handles == {"whatsapp": "8613800138000"}
    assert inbound.thread_refs == ("whatsapp:8613800138000",)


def test_whatsapp_batch_gives_each_message_and_ignores_statuses() -> None:
    doc = whatsapp_payload(
        [wa_text("wamid.A", "16505551234", "one"), wa_text("wamid.B", "447700900123", "two"),
         {"from": "16505551234", "id": "wamid.R", "type": "reaction",
          "reaction": {"message_id": "wamid.X", "emoji": "👍"}}],
        [wa_contact("16505551234", "Sheena Nelson"), wa_contact("447700900123", "Tom")],
        statuses=[wa_status("wamid.OUT", "16505551234")],
    )  # fmt: skip
    found = meta.parse("whatsapp", encoded(doc), entry_point="wa-sales")
    assert [i.request.body for i in found] == ["one", "two"]
    assert [i.request.customer.name for i in found] == ["Sheena Nelson", "Tom"]
    assert {i.request.entry_point for i in found} == {f"wa-sales:{WA_NUMBER}"}
    only_statuses = whatsapp_payload([], [], statuses=[wa_status("wamid.OUT", "16505551234")])
    assert meta.parse("whatsapp", encoded(only_statuses)) == []


def test_whatsapp_media_is_a_placeholder_with_the_attachment() -> None:
    image = {"from": "16505551234", "id": "wamid.I", "type": "image",
             "image": {"caption": "broken screen", "mime_type": "image/jpeg",
                       "sha256": "abc", "id": "1003383421387256"}}  # fmt: skip
    document = {"from": "16505551234", "id": "wamid.D", "type": "document",
                "document": {"filename": "invoice.pdf", "mime_type": "application/pdf",
                             "id": "77"}}  # fmt: skip
    found = meta.parse("whatsapp", encoded(whatsapp_payload([image, document], [])))
    assert [i.request.body for i in found] == ["[image] broken screen", "[document]"]
    (picture,) = found[0].request.attachments
    assert (picture.content_type, picture.ref) == ("image/jpeg", "whatsapp:media:1003383421387256")
    assert found[1].request.attachments[0].filename == "invoice.pdf"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(object="page"), "object"),
        (lambda d: d.update(entry={}), "entry"),
        (lambda d: d["entry"][0]["changes"][0]["value"]["messages"][0].pop("id"),
         "entry[0].changes[0].value.messages[0].id"),
        (lambda d: d["entry"][0]["changes"][0]["value"]["messages"][0].update({"from": 5.5}),
         "entry[0].changes[0].value.messages[0].from"),
    ],
)  # fmt: skip
def test_whatsapp_refusals_name_the_field(mutate: Any, field: str) -> None:
    doc = whatsapp_payload([wa_text("wamid.A", "16505551234", "hi")], [])
    mutate(doc)
    with pytest.raises(DecodeError) as caught:
        meta.parse("whatsapp", encoded(doc))
    assert caught.value.what == field


# -- Messenger and Instagram -----------------------------------------------------------------
@pytest.mark.parametrize("platform", ["messenger", "instagram"])
def test_messaging_skips_echoes_reads_and_deliveries(platform: str) -> None:
    account = PAGE_ID if platform == "messenger" else IG_ID
    events = [
        fb_message("1254459154682919", account, "m_1", "where is my order?"),
        fb_message(account, "1254459154682919", "m_2", "we are on it", is_echo=True,
                   app_id=1517776481860111),
        {"sender": {"id": "1254459154682919"}, "recipient": {"id": account},
         "timestamp": 1458668856463, "read": {"watermark": 1458668856253}},
        {"sender": {"id": "1254459154682919"}, "recipient": {"id": account},
         "delivery": {"mids": ["m_2"], "watermark": 1458668856253}},
        fb_message("1254459154682919", account, "m_3",
                   attachments=[{"type": "image", "payload": {"url": "https://x.test/a.jpg"}}]),
    ]  # fmt: skip
    found = meta.parse(platform, encoded(messaging_payload(platform, events)))
    assert [i.request.external_id for i in found] == [f"{platform}:m_1", f"{platform}:m_3"]
    assert found[0].request.body == "where is my order?"
    assert found[1].request.body == "[image]"
    assert found[1].request.attachments[0].ref == "https://x.test/a.jpg"
    assert found[0].request.customer.handles == {platform: "1254459154682919"}
    assert found[0].request.entry_point == f"{platform}:{account}"
    assert found[0].thread_refs == (f"{platform}:1254459154682919",)


def test_meta_endpoint_takes_only_its_own_object() -> None:
    with pytest.raises(DecodeError) as caught:
        meta.parse("messenger", encoded(messaging_payload("instagram", [])))
    assert caught.value.what == "object"


def test_meta_signature_and_handshake() -> None:
    body = b'{"object":"page","entry":[]}'
    good = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert meta.verify("app-secret", good, body)
    assert meta.verify("app-secret", good.upper().replace("SHA256=", "sha256="), body)
    assert not meta.verify("app-secret", good, body + b" ")
    assert not meta.verify("other-secret", good, body)
    assert not meta.verify("app-secret", None, body)
    assert not meta.verify("app-secret", "sha256=é", body)
    query = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert meta.handshake(query, "tok") == "1158201444"
    assert meta.handshake({**query, "hub.verify_token": "tik"}, "tok") is None
    assert meta.handshake({**query, "hub.mode": "unsubscribe"}, "tok") is None
    assert meta.handshake({**query, "hub.verify_token": "tök"}, "tok") is None


# -- Telegram --------------------------------------------------------------------------------
def test_telegram_message_in_a_private_chat() -> None:
    (inbound,) = telegram.parse(
        encoded(telegram_update(10, 424242, 7, "发票开错了")), "support_bot"
    )
    r = inbound.request
    assert r.external_id == "telegram:424242:7" and r.body == "发票开错了"
    assert r.entry_point == "telegram:support_bot" and r.language == "zh-hans"
    assert r.customer.name == "Wei Zhang" and r.customer.handles == {"telegram": "424242"}
    assert inbound.thread_refs == ("telegram:424242",)


def test_telegram_group_chat_is_the_thread_and_the_person_the_handle() -> None:
    doc = telegram_update(11, -1001234567890, 8, "printer is down", from_id=99)
    (inbound,) = telegram.parse(encoded(doc), "support_bot")
    assert inbound.thread_refs == ("telegram:-1001234567890",)
    assert inbound.request.customer.handles == {"telegram": "99"}


def test_telegram_photo_document_and_ignored_updates() -> None:
    photo = telegram_update(12, 5, 9, None, caption="error screen", photo=[
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large", "file_unique_id": "l", "width": 900, "height": 900,
         "file_size": 81234}])  # fmt: skip
    (inbound,) = telegram.parse(encoded(photo), "b")
    assert inbound.request.body == "[photo] error screen"
    (attachment,) = inbound.request.attachments
    assert (attachment.ref, attachment.size) == ("telegram:file:large", 81234)
    joined = telegram_update(13, 5, 10, None, new_chat_members=[{"id": 1, "is_bot": False}])
    edited = {"update_id": 14, "edited_message": telegram_update(0, 5, 9)["message"]}
    bot = telegram_update(15, 5, 11, "beep")
    bot["message"]["from"]["is_bot"] = True
    for update in (joined, edited, bot, {"update_id": 16, "callback_query": {"id": "1"}}):
        assert telegram.parse(encoded(update), "b") == []


def test_telegram_secret_and_refusals() -> None:
    assert telegram.verify("s3cret_-A", "s3cret_-A")
    assert not telegram.verify("s3cret_-A", "s3cret_-B")
    assert not telegram.verify("s3cret_-A", None)
    assert not telegram.verify("s3cret_-A", "s3cret_-Aé")
    with pytest.raises(DecodeError) as caught:
        telegram.parse(encoded({"message": {}}), "b")
    assert caught.value.what == "update_id"
    with pytest.raises(DecodeError) as caught:
        telegram.parse(encoded({"update_id": 1, "message": {"message_id": True}}), "b")
    assert caught.value.what == "message.message_id"


# -- WeChat ----------------------------------------------------------------------------------
def test_wechat_text_message() -> None:
    raw = wechat_xml("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "1234567890123456", "我的订单还没到")
    (inbound,) = wechat.parse(raw, "wx1234567890abcdef", received_at=3.0)
    r = inbound.request
    assert r.external_id == "wechat:1234567890123456" and r.body == "我的订单还没到"
    assert r.entry_point == "wechat:wx1234567890abcdef"
    assert r.customer.handles == {"wechat": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
    assert inbound.thread_refs == ("wechat:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",)
    assert wechat.parse(raw)[0].request.entry_point == f"wechat:{WECHAT_ACCOUNT}"


def test_wechat_media_events_and_menu_clicks() -> None:
    image = wechat_xml("o1", "22", "", kind="image", PicUrl="http://x.test/p", MediaId="media1")
    (inbound,) = wechat.parse(image)
    assert inbound.request.body == "[image]"
    assert inbound.request.attachments[0].ref == "wechat:media:media1"
    voice = wechat_xml("o1", "23", "", kind="voice", MediaId="m2", Format="amr",
                       Recognition="腾讯微信团队")  # fmt: skip
    assert wechat.parse(voice)[0].request.body == "[voice] 腾讯微信团队"
    subscribe = wechat_xml("o1", None, "", kind="event", Event="subscribe")
    assert wechat.parse(subscribe) == []
    click = wechat_xml("o1", None, "", kind="event", Event="CLICK", EventKey="CONTACT_SUPPORT")
    (menu,) = wechat.parse(click)
    assert menu.request.body == "[menu] CONTACT_SUPPORT"
    assert menu.request.external_id == "wechat:o1:1348831860"  # FromUserName + CreateTime


@pytest.mark.parametrize(
    "raw",
    [
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]><xml>&a;</xml>',
        b'<!DOCTYPE xml SYSTEM "http://x.test/evil.dtd"><xml></xml>',
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % p SYSTEM "file:///etc/passwd">%p;]><xml/>',
        b'<!DOCTYPE xml [<!ENTITY a "1"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml>&b;</xml>',
        "<?xml version='1.0' encoding='utf-16'?><!DOCTYPE x []><xml/>".encode("utf-16"),
        b"<xml>&undefined;</xml>",
        b"<notxml><MsgType>text</MsgType></notxml>",
        b"<xml>" + b"<a>" * 20 + b"</a>" * 20 + b"</xml>",
        b"<xml>" + b"<a/>" * 300 + b"</xml>",
        b"<xml><MsgType>text</MsgType><MsgType>event</MsgType></xml>",
        b"<xml><ToUserName>gh</ToUserName>",
        b"",
        b"\xff\xfe\x00",
    ],
)
def test_wechat_refuses_declarations_and_unbounded_trees(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        wechat.parse(raw)


def test_wechat_refusals_name_the_field() -> None:
    encrypted = b"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[abc]]></Encrypt></xml>"
    with pytest.raises(DecodeError) as caught:
        wechat.parse(encrypted)
    assert caught.value.what == "Encrypt"
    no_sender = wechat_xml("", "1", "x")
    with pytest.raises(DecodeError) as caught:
        wechat.parse(no_sender)
    assert caught.value.what == "FromUserName"
    bad_time = wechat_xml("o1", "1", "x").replace(b"1348831860", b"yesterday")
    with pytest.raises(DecodeError) as caught:
        wechat.parse(bad_time)
    assert caught.value.what == "CreateTime"


def test_wechat_signature_is_sha1_of_the_sorted_values() -> None:
    token, stamp, nonce = "wechatToken1", "1714112445", "415670741"
    expected = hashlib.sha1("".join(sorted([token, stamp, nonce])).encode()).hexdigest()
    assert wechat.signature(token, stamp, nonce) == expected
    assert wechat.verify(token, expected, stamp, nonce)
    assert not wechat.verify(token, expected, stamp, "415670742")
    assert not wechat.verify("otherToken", expected, stamp, nonce)
    assert not wechat.verify(token, None, stamp, nonce)


# -- generic ---------------------------------------------------------------------------------
def test_generic_message_with_contact_details_and_attributes() -> None:
    attributes = {"order": "A-1", "impact": "many-users", "vip": True}
    doc = generic_message("evt-1", "c-42", "my parcel is late", subject="Order A-1",
                          thread="case-7", language="en", attributes=attributes)  # fmt: skip
    doc["from"].update(email="ann@example.com", phone="+8613800138000")
    (inbound,) = webhook_generic.parse(encoded(doc), "partner-crm", 2.0)
    r = inbound.request
    assert r.external_id == "partner-crm:evt-1" and r.entry_point == "generic:partner-crm"
    assert (r.subject, r.body, r.language) == ("Order A-1", "my parcel is late", "en")
    assert r.customer.email == "ann@example.com" and r.customer.phone == "+8613800138000"
    assert r.customer.handles == {"partner-crm": "c-42"}
    assert r.attributes == {"order": "A-1", "impact": "many-users", "vip": True}
    assert inbound.thread_refs == ("partner-crm:case-7",)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ""}, "id"),
        ({"from": "c-42"}, "from"),
        ({"text": "", "subject": None}, "text"),
        ({"colour": "red"}, "colour"),
        ({"attributes": {"x": [1]}}, "attributes.x"),
        ({"attributes": {"x": 2**60}}, "attributes.x"),
        ({"language": "not a language"}, "language"),
    ],
)
def test_generic_refusals_name_the_field(change: dict[str, Any], field: str) -> None:
    doc = {**generic_message("evt-1", "c-42", "hi"), **change}
    with pytest.raises(DecodeError) as caught:
        webhook_generic.parse(encoded(doc), "partner-crm")
    assert caught.value.what == field


def test_generic_refuses_a_bad_phone_and_email() -> None:
    for key, value in (("phone", "13800138000"), ("email", "not-an-address")):
        doc = generic_message("evt-1", "c-42", "hi")
        doc["from"][key] = value
        with pytest.raises(DecodeError) as caught:
            webhook_generic.parse(encoded(doc), "partner-crm")
        assert caught.value.what == f"from.{key}"


def test_generic_signature_and_freshness() -> None:
    body, stamp = b'{"id":"1"}', "1767225600"
    mac = hmac.new(b"s" * 32, b"1767225600." + body, hashlib.sha256).hexdigest()
    assert webhook_generic.verify("s" * 32, stamp, f"sha256={mac}", body)
    assert not webhook_generic.verify("s" * 32, "1767225601", f"sha256={mac}", body)
    assert not webhook_generic.verify("s" * 32, stamp, f"sha256={mac}", body + b"\n")
    assert not webhook_generic.verify("s" * 32, None, f"sha256={mac}", body)
    assert webhook_generic.fresh(stamp, 1767225600 + 300, 300)
    assert not webhook_generic.fresh(stamp, 1767225600 + 301, 300)
    assert not webhook_generic.fresh(stamp, 1767225600 - 301, 300)
    for bad in ("", "-5", "1e9", "١٢٣", "9" * 40):
        assert not webhook_generic.fresh(bad, 1767225600, 300)


# -- fuzzing ---------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _paths(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `doc` a value could be replaced."""
    found = [at]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*at, i))
    return found


def _replaced(doc: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    copy = json.loads(json.dumps(doc))
    parent = copy
    for step in at[:-1]:
        parent = parent[step]
    parent[at[-1]] = value
    return copy


def mutations(doc: Any) -> st.SearchStrategy[bytes]:
    """`doc` with one of its values (anywhere, the whole included) replaced by arbitrary JSON."""
    return st.tuples(st.sampled_from(_paths(doc)), JSON).map(
        lambda pair: encoded(_replaced(doc, pair[0], pair[1]))
    )


SAMPLES: dict[str, Any] = {
    "whatsapp": whatsapp_payload(
        [wa_text("wamid.A", "16505551234", "hi"),
         {"from": "16505551234", "id": "wamid.L", "type": "location",
          "location": {"latitude": 1.5, "longitude": 2, "name": "HQ"}},
         {"from": "16505551234", "id": "wamid.C", "type": "contacts",
          "contacts": [{"name": {"formatted_name": "Li"}}]},
         {"from": "16505551234", "id": "wamid.X", "type": "interactive",
          "interactive": {"type": "button_reply", "button_reply": {"id": "1", "title": "Yes"}}}],
        [wa_contact("16505551234", "Sheena")], [wa_status("wamid.O", "16505551234")]),
    "messenger": messaging_payload("messenger", [
        fb_message("1254", PAGE_ID, "m_1", "hi"),
        fb_message("1254", PAGE_ID, "m_2", attachments=[
            {"type": "file", "title": "a.pdf", "payload": {"url": "https://x.test/a"}}])]),
    "instagram": messaging_payload("instagram", [
        fb_message("1789", IG_ID, "m_1", "hi", is_unsupported=True)]),
    "telegram": telegram_update(1, 5, 9, None, caption="c",
                                document={"file_id": "f", "file_name": "a.pdf", "file_size": 3}),
    "generic": generic_message("evt-1", "c-42", "hi", attributes={"a": 1}, thread="t"),
}  # fmt: skip
PARSERS: dict[str, Any] = {
    "whatsapp": lambda raw: meta.parse("whatsapp", raw),
    "messenger": lambda raw: meta.parse("messenger", raw),
    "instagram": lambda raw: meta.parse("instagram", raw),
    "telegram": lambda raw: telegram.parse(raw, "bot"),
    "generic": lambda raw: webhook_generic.parse(raw, "partner-crm"),
}
PREFIXES = {"generic": "partner-crm"}


@pytest.mark.parametrize("platform", sorted(PARSERS))
def test_samples_parse(platform: str) -> None:
    found = PARSERS[platform](encoded(SAMPLES[platform]))
    assert found
    well_formed(found, PREFIXES.get(platform, platform))


@pytest.mark.parametrize("platform", sorted(PARSERS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_json_parsers_never_fail_uncleanly(platform: str, data: st.DataObject) -> None:
    raw = data.draw(
        st.binary(max_size=300)
        | JSON.map(encoded)
        | mutations(SAMPLES[platform])
        | st.sampled_from([b"[" * 100_000, b'{"a":NaN}', b"1e999", b"\xef\xbb\xbf{}", b"9" * 5000])
    )
    well_formed(refuses_cleanly(lambda: PARSERS[platform](raw)), PREFIXES.get(platform, platform))


WECHAT_SAMPLE = wechat_xml("oUpF8uMuAJO", "1234567890123456", "hello")
XML_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


@st.composite
def wechat_like(draw: st.DrawFn) -> bytes:
    """WeChat-shaped XML with arbitrary tags, text (escaped or raw) and structure."""
    tags = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content",
                            "MsgId", "Event", "EventKey", "MediaId", "Encrypt", "x"])  # fmt: skip
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        tag, text = draw(tags), draw(XML_TEXT)
        escaped = draw(st.booleans())
        body = text.replace("&", "&amp;").replace("<", "&lt;") if escaped else text
        parts.append(f"<{tag}>{body}</{tag}>")
    root = draw(st.sampled_from(["xml", "xml", "root"]))
    return f"<{root}>{''.join(parts)}</{root}>".encode(draw(st.sampled_from(["utf-8", "utf-16"])))


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | wechat_like() | st.just(WECHAT_SAMPLE))
@example(raw=b"<xml><MsgType>text</MsgType></xml>")
@example(raw=b'<?xml version="1.0" encoding="x-bogus"?><xml/>')
@example(raw=b'<?xml version="1.0" encoding="rot13"?><xml/>')
@example(raw=b'<?xml version="1.0" encoding="gbk"?><xml/>')
@example(raw=WECHAT_SAMPLE.replace(b"hello", b"]]><!DOCTYPE x>"))
def test_wechat_parser_never_fails_uncleanly(raw: bytes) -> None:
    well_formed(refuses_cleanly(lambda: wechat.parse(raw)), "wechat")


# -- config ----------------------------------------------------------------------------------
BASE = "queues: {general: {}}\ndefault_queue: general\nchannels:\n  social:\n"


def test_config_reads_inline_and_file_secrets(tmp_path: Path) -> None:
    secret_file = tmp_path / "wa.secret"
    secret_file.write_text("  wa-app-secret-from-file\n")
    text = BASE + (
        "    max_body: 512KB\n"
        f"    whatsapp: {{app_secret_file: {secret_file}, verify_token: v1, entry_point: wa}}\n"
        "    telegram: {secret_token: tg_Secret-1, bot: support_bot}\n"
        "    wechat: {token: wechatToken1}\n"
        "    generic: {partner-crm: {secret: 0123456789abcdef0123, tolerance: 2m}}\n"
    )
    social = parse_settings(text, "s.yaml").channels["social"]
    assert isinstance(social, SocialSettings) and social.max_body == 512 * 1024
    wa = social.meta["whatsapp"]
    assert (wa.app_secret, wa.verify_token, wa.entry_point) == (
        "wa-app-secret-from-file",
        "v1",
        "wa",
    )
    assert social.telegram is not None and social.telegram.bot == "support_bot"
    assert social.wechat is not None and social.wechat.tolerance_s == 300
    assert social.wechat.app_id is None
    assert social.generic["partner-crm"].tolerance_s == 120
    assert "wa-app-secret-from-file" not in repr(social)  # secrets stay out of logs


def test_config_max_body_defaults_to_1mb_and_takes_bytes() -> None:
    text = BASE + "    telegram: {secret_token: t, bot: b}\n"
    assert parse_settings(text, "s.yaml").channels["social"].max_body == 1024 * 1024
    text = BASE + "    max_body: 2048\n    telegram: {secret_token: t, bot: b}\n"
    assert parse_settings(text, "s.yaml").channels["social"].max_body == 2048


def test_config_problem_never_prints_the_secret() -> None:
    text = BASE + "    telegram: {secret_token: 'not allowed here!', bot: b}\n"
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "s.yaml")
    assert "not allowed here" not in str(caught.value)


def test_signature_helpers_agree_with_the_documented_schemes() -> None:
    body = b'{"update_id":1}'
    assert meta.sign("k", body) == "sha256=" + hmac.new(b"k", body, "sha256").hexdigest()
    stamp = str(int(time.time()))
    expected = hmac.new(b"k", stamp.encode() + b"." + body, "sha256").hexdigest()
    assert webhook_generic.sign("k", stamp, body) == f"sha256={expected}"
