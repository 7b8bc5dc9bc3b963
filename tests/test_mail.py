"""parse_email: MIME in, one normalized Inbound out; Chinese charsets, HTML, attachments,
threading, robots and bounces, and no exception on any bytes at all."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from frontdesk.channels.mail.parse import MAX_BODY_CHARS, mail_ref, normalize_id, parse_email
from frontdesk.channels.mail.text import decode_bytes, decode_header, html_to_text
from frontdesk.queues.request import Channel
from frontdesk.router.intake.front import Inbound


def _raw(headers: str, body: bytes, ctype: str = "text/plain; charset=utf-8") -> bytes:
    head = headers.strip("\n") + f"\nMIME-Version: 1.0\nContent-Type: {ctype}\n"
    return (head + "\n").replace("\n", "\r\n").encode() + body


def _b(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


HEAD = "From: Li Na <li@example.com>\nTo: support@example.com\nMessage-ID: <m1@mail.example>"


def test_a_plain_mail_becomes_a_request() -> None:
    m = EmailMessage()
    m["From"] = "李娜 <Li.Na@Example.com>"
    m["To"] = "support@example.com"
    m["Subject"] = "我的订单还没有发货"
    m["Message-ID"] = "<order-1@mail.example.cn>"
    m.set_content("你好\n\n订单 12345 还没有发货\n")
    inbound = parse_email(m.as_bytes(), recipient="Support@Example.com")
    r = inbound.request
    assert (r.channel, r.queue, r.language) == (Channel.EMAIL, "", None)
    assert r.subject == "我的订单还没有发货"
    assert r.body == "你好\n\n订单 12345 还没有发货"
    assert (r.customer.name, r.customer.email) == ("李娜", "Li.Na@Example.com")
    assert r.entry_point == "support@example.com"
    assert r.external_id == "support@example.com:order-1@mail.example.cn"
    assert r.attributes == {"message_id": "order-1@mail.example.cn", "auto_submitted": "no"}
    assert inbound.thread_keys == ("email:order-1@mail.example.cn",)
    assert inbound.thread_refs == () and not inbound.auto_submitted
    assert r.received_at > 0


def test_external_id_without_a_recipient_or_a_message_id() -> None:
    with_id = parse_email(_raw(HEAD, b"hi"))
    assert with_id.request.external_id == "m1@mail.example" and with_id.request.entry_point is None
    lf = b"From: a@example.com\nSubject: no id\n\nbody\n"
    first, crlf = parse_email(lf), parse_email(lf.replace(b"\n", b"\r\n"))
    assert first.request.external_id is not None
    assert first.request.external_id.startswith("sha256:")
    assert crlf.request.external_id == first.request.external_id  # re-delivered: same message
    assert parse_email(lf + b"x").request.external_id != first.request.external_id
    assert first.thread_keys == () and first.request.attributes["message_id"] == ""


def test_message_ids_are_normalized() -> None:
    assert normalize_id("  <abc@x.example>  (comment)") == "abc@x.example"
    assert normalize_id("bare@x.example") == "bare@x.example"
    assert normalize_id("no id here") is None
    assert mail_ref("<abc@x.example>") == mail_ref("abc@x.example") == "email:abc@x.example"


@pytest.mark.parametrize(
    ("label", "text", "codec"),
    [
        ("gb2312", "朱镕基说 请查收发票", "gbk"),  # 镕 is GBK, outside GB2312: real mail does it
        ("GBK", "账户被锁定 无法登录", "gbk"),
        ("gb18030", "生僻字𠀀和欧元€", "gb18030"),
        ("big5", "我的帳號無法登入 請協助", "big5"),
        ("big5", "價格€100", "cp950"),  # Microsoft's Big5 with the euro sign
        ("utf-8", "退款申请 ✓", "utf-8"),
        ("x-unknown-label", "未声明的编码", "gbk"),  # guessed
    ],
)
def test_chinese_charsets_decode(label: str, text: str, codec: str) -> None:
    for cte, body in (
        ("8bit", text.encode(codec)),
        ("base64", base64.b64encode(text.encode(codec))),
    ):
        headers = f"{HEAD}\nContent-Transfer-Encoding: {cte}"
        inbound = parse_email(_raw(headers, body, f"text/plain; charset={label}"))
        assert inbound.request.body == text


def test_undeclared_8bit_gbk_and_bad_bytes_never_raise() -> None:
    assert parse_email(_raw(HEAD, "没有字符集".encode("gbk"), "text/plain")).request.body == (
        "没有字符集"
    )
    garbled = parse_email(_raw(HEAD, b"ok \xff\xfe\x80 end", "text/plain; charset=utf-8"))
    assert garbled.request.body.startswith("ok ") and garbled.request.body.endswith(" end")
    assert "\ufffd" in garbled.request.body
    assert decode_bytes(b"ab\xff\xff", "gb2312") == "ab\ufffd\ufffd"


def test_encoded_word_subjects_in_chinese_charsets() -> None:
    word = "发票问题".encode("gbk")
    split = (  # a character split across two encoded words: joined before decoding
        f"=?GB2312?B?{base64.b64encode(word[:3]).decode()}?=\r\n"
        f" =?GB2312?B?{base64.b64encode(word[3:]).decode()}?="
    )
    assert decode_header(split) == "发票问题"
    assert decode_header(_b("繁體中文", "big5") + " and " + _b("简体", "gb18030")) == (
        "繁體中文 and 简体"
    )
    assert decode_header("=?utf-8?Q?=E9=80=80=E6=AC=BE_please?=") == "退款 please"
    raw_8bit = "Subject: 直接发送的中文\n".encode("gbk")  # no encoding at all
    inbound = parse_email(raw_8bit + f"{HEAD}\n\nbody".encode())
    assert inbound.request.subject == "直接发送的中文"
    subject = _b("账户问题", "gbk") + " " + _b("(緊急)", "big5")
    assert parse_email(_raw(f"{HEAD}\nSubject: {subject}", b"x")).request.subject == (
        "账户问题(緊急)"
    )
    sender = f"From: {_b('王伟', 'gb2312')} <wang@example.com>\nMessage-ID: <w@x>"
    assert parse_email(_raw(sender, b"x")).request.customer.name == "王伟"


def test_html_only_mail_becomes_readable_text() -> None:
    html = (
        "<html><head><title>ignored</title><style>p {color: red}</style></head><body>"
        "<p>您好</p><p>我无法&nbsp;登录<br>请帮忙</p><script>alert('x')</script>"
        "<ul><li>账号 li</li><li>错误 403</li></ul>"
        '<p>详情见 <a href="https://help.example.com/403">帮助页面</a> '
        '<a href="mailto:li@example.com">li@example.com</a></p>'
        "<pre>  line 1\n    line 2</pre></body></html>"
    )
    inbound = parse_email(_raw(HEAD, html.encode(), "text/html; charset=utf-8"))
    assert inbound.request.body == (
        "您好\n\n我无法 登录\n请帮忙\n\n- 账号 li\n- 错误 403\n\n"
        "详情见 帮助页面 (https://help.example.com/403) li@example.com\n\n  line 1\n    line 2"
    )


def test_html_to_text_drops_what_no_one_reads() -> None:
    text = html_to_text(
        '<div>a<img alt="截图"><style>x</style><td>b</td><a href="#top">c</a></div>'
    )
    assert text == "a[截图] b c"
    assert html_to_text("<p>unclosed <b>bold <a href='https://x.example'>x") == (
        "unclosed bold x (https://x.example)"
    )


def _alternative(plain: str) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["Message-ID"], m["Subject"] = "a@example.com", "<alt@x>", "alt"
    m.set_content(plain)
    m.add_alternative("<p>来自 <b>HTML</b></p>", subtype="html")
    return m


def test_multipart_alternative_prefers_plain_text_unless_it_is_empty() -> None:
    assert parse_email(_alternative("来自纯文本").as_bytes()).request.body == "来自纯文本"
    assert parse_email(_alternative("  \n").as_bytes()).request.body == "来自 HTML"


def test_attachments_listed_and_their_content_kept_up_to_the_limit() -> None:
    m = _alternative("见附件")
    m.make_mixed()
    m.add_attachment(b"%PDF" + b"x" * 2000, maintype="application", subtype="pdf",
                     filename="发票 2026.pdf")  # fmt: skip
    m.add_attachment(b"\x89PNG" + b"y" * 50, maintype="image", subtype="png")
    m.add_attachment("日志内容\n".encode(), maintype="text", subtype="plain", filename="log.txt")
    raw = m.as_bytes()
    rfc2231 = b"Content-Disposition: attachment; filename*=gbk''%D5%CB%BB%A7.docx"
    raw = raw.replace(b'Content-Disposition: attachment; filename="log.txt"', rfc2231)
    inbound = parse_email(raw, max_attachment_bytes=1000)
    found = [(a.filename, a.content_type, a.size) for a in inbound.request.attachments]
    assert found == [
        ("发票 2026.pdf", "application/pdf", 2004),
        ("attachment-2.png", "image/png", 54),
        ("账户.docx", "text/plain", len("日志内容\n".encode())),
    ]
    pdf, png, docx = inbound.request.attachments
    assert pdf.ref is None  # over max_attachment_bytes: listed, its content not kept
    assert png.ref == "sha256:" + hashlib.sha256(b"\x89PNG" + b"y" * 50).hexdigest()
    assert inbound.contents == {png.ref: b"\x89PNG" + b"y" * 50, docx.ref: "日志内容\n".encode()}
    assert inbound.request.body == "见附件"
    assert inbound.request.attributes["attachments_over_limit"] == 1


def test_encoded_word_filename_and_an_attached_message() -> None:
    m = EmailMessage()
    m["From"], m["Message-ID"] = "a@example.com", "<fw@x>"
    m.set_content("转发")
    inner = EmailMessage()
    inner["Subject"], inner["Message-ID"] = "原邮件", "<inner@x>"
    inner.set_content("inner")
    m.add_attachment(inner)
    m.add_attachment(b"z" * 10, maintype="application", subtype="zip", filename="x.zip")
    raw = m.as_bytes().replace(b'filename="x.zip"', f'filename="{_b("报表.zip", "gbk")}"'.encode())
    inbound = parse_email(raw)
    names = [a.filename for a in inbound.request.attachments]
    assert names == ["原邮件.eml", "报表.zip"]
    assert inbound.thread_refs == ()  # a forwarded mail is not a bounce: no threading on it


def test_replies_thread_by_in_reply_to_references_and_subject_token() -> None:
    headers = (
        f"{HEAD}\nSubject: Re: [#fd-123] 发票问题 [#FD-123] [#FD-7]"
        "\nIn-Reply-To: <ack-2@fd.example>"
        "\nReferences: <orig@mail.example>\n <ack-1@fd.example> <ack-2@fd.example>"
    )
    inbound = parse_email(_raw(headers, b"thanks"))
    assert inbound.thread_refs == (
        "email:ack-2@fd.example",
        "email:ack-1@fd.example",
        "email:orig@mail.example",
        "email:token:FD-123",
        "email:token:FD-7",
    )
    assert inbound.thread_keys == ("email:m1@mail.example",)


@pytest.mark.parametrize(
    ("headers", "envelope_from", "reason"),
    [
        ("Auto-Submitted: auto-replied", None, "auto-replied"),
        ("Auto-Submitted: auto-generated; owner-email=x@y", None, "auto-generated"),
        ("Precedence: bulk", None, "bulk"),
        ("Precedence: junk", None, "junk"),
        ("List-Id: <news.example.com>", None, "list"),
        ("List-Unsubscribe: <mailto:leave@example.com>", None, "list"),
        ("X-Autoreply: yes", None, "auto-replied"),
        ("X-Auto-Response-Suppress: OOF, AutoReply", None, "auto-replied"),
        ("Return-Path: <>", None, "null-sender"),
        ("X-Other: 1", "", "null-sender"),
        ("X-Other: 1", "<>", "null-sender"),
    ],
)
def test_robots_are_flagged_never_to_be_answered(
    headers: str, envelope_from: str | None, reason: str
) -> None:
    inbound = parse_email(_raw(f"{HEAD}\n{headers}", b"x"), envelope_from=envelope_from)
    assert inbound.auto_submitted
    assert inbound.request.attributes["auto_submitted"] == reason


@pytest.mark.parametrize("headers", ["Auto-Submitted: no", "Precedence: first-class", ""])
def test_people_are_not_robots(headers: str) -> None:
    inbound = parse_email(_raw(f"{HEAD}\n{headers}", b"x"), envelope_from="li@example.com")
    assert not inbound.auto_submitted and inbound.request.attributes["auto_submitted"] == "no"


def _dsn(original: str) -> bytes:
    return f"""Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: support@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.

--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; li@example.com
Action: failed
Status: 5.1.1

--R
{original}
--R--
""".replace("\n", "\r\n").encode()


@pytest.mark.parametrize(
    "original",
    [
        "Content-Type: message/rfc822\n\nFrom: support@example.com\nMessage-ID: <ack-7@fd.example>"
        "\nSubject: [#FD-7] received\n\nWe received your request.\n",
        "Content-Type: text/rfc822-headers\n\nFrom: support@example.com\n"
        "Message-ID: <ack-7@fd.example>\nSubject: [#FD-7] received\n",
    ],
)
def test_a_bounce_refers_to_the_message_it_returns(original: str) -> None:
    inbound = parse_email(_dsn(original), recipient="support@example.com", envelope_from="")
    assert inbound.thread_refs[0] == "email:ack-7@fd.example"
    assert inbound.auto_submitted
    attributes = inbound.request.attributes
    assert attributes["auto_submitted"] == "bounce"
    assert (attributes["bounce_action"], attributes["bounce_status"]) == ("failed", "5.1.1")
    assert attributes["bounce_recipient"] == "li@example.com"
    assert inbound.request.body == "Your message could not be delivered."


def test_a_null_sender_failure_without_a_report_quotes_the_original() -> None:
    qmail = (
        b"From: MAILER-DAEMON@old.example.org\nTo: support@example.com\nSubject: failure notice\n\n"
        b"Hi. This is the qmail-send program at old.example.org.\n"
        b"<wang@old.example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        b"--- Below this line is a copy of the message.\n\n"
        b"Return-Path: <support@example.com>\nMessage-ID: <ack-9@fd.example>\nSubject: hi\n"
    )
    inbound = parse_email(qmail, envelope_from="")
    assert inbound.thread_refs == ("email:ack-9@fd.example",)
    assert inbound.request.attributes["auto_submitted"] == "bounce"


def test_a_read_receipt_refers_to_the_original() -> None:
    mdn = _raw(
        "From: li@example.com\nMessage-ID: <mdn@x>",
        b"--M\r\nContent-Type: text/plain\r\n\r\nDisplayed.\r\n--M\r\n"
        b"Content-Type: message/disposition-notification\r\n\r\n"
        b"Original-Message-ID: <ack-3@fd.example>\r\nDisposition: manual-action/MDN-sent-manually;"
        b" displayed\r\n--M--\r\n",
        'multipart/report; report-type=disposition-notification; boundary="M"',
    )
    inbound = parse_email(mdn)
    assert inbound.thread_refs == ("email:ack-3@fd.example",)
    assert inbound.request.attributes["auto_submitted"] == "receipt"


def test_customer_from_from_reply_to_kept_and_envelope_as_fallback() -> None:
    headers = "From: 李娜 <li@example.com>\nReply-To: Team <team@example.com>\nMessage-ID: <r@x>"
    inbound = parse_email(_raw(headers, b"x"), envelope_from="bounces+123@esp.example")
    assert inbound.request.customer.email == "li@example.com"
    assert inbound.request.attributes["reply_to"] == "team@example.com"
    no_from = parse_email(
        _raw("Message-ID: <n@x>\nFrom: undisclosed", b"x"), envelope_from="w@x.cn"
    )
    assert (no_from.request.customer.email, no_from.request.customer.name) == ("w@x.cn", None)
    nobody = parse_email(_raw("Message-ID: <n2@x>", b"x"), envelope_from="")
    assert nobody.request.customer.email is None


def test_a_huge_body_is_truncated_and_says_so() -> None:
    inbound = parse_email(_raw(HEAD, b"a" * (MAX_BODY_CHARS + 500)))
    assert inbound.request.body.startswith("a" * MAX_BODY_CHARS)
    assert inbound.request.body.endswith("[… 500 more characters not shown]")
    assert inbound.request.attributes["body_truncated"] is True


def test_structure_too_deep_for_the_parser_keeps_headers_and_text() -> None:
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(3000)
    )
    raw = f"Message-ID: <deep@x>\r\nFrom: {_b('深', 'gbk')} <deep@example.com>\r\n".encode()
    inbound = parse_email(raw + nested + b"Content-Type: text/plain\r\n\r\nhello\r\n")
    r = inbound.request
    assert (r.external_id, r.customer.email, r.customer.name) == (
        "deep@x",
        "deep@example.com",
        "深",
    )
    assert r.attributes["parse_error"] is True and "hello" in r.body


# -- fuzzing ---------------------------------------------------------------------------------------
def _check(inbound: Inbound) -> None:
    assert isinstance(inbound, Inbound)
    r = inbound.request
    assert r.channel is Channel.EMAIL and r.queue == "" and r.external_id
    assert isinstance(r.body, str) and isinstance(r.subject, str)
    assert all(ref.startswith("email:") for ref in inbound.thread_refs + inbound.thread_keys)
    r.encode()  # storable as it is


@settings(deadline=None, max_examples=300)
@given(raw=st.binary(max_size=3000), envelope_from=st.sampled_from([None, "", "<>", "a@b.c"]))
@example(raw=b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n",
         envelope_from="")  # fmt: skip
def test_any_bytes_become_an_inbound(raw: bytes, envelope_from: str | None) -> None:
    _check(parse_email(raw, recipient="support@example.com", envelope_from=envelope_from))


_CTYPES = [
    "text/plain", "text/html", "multipart/mixed", "multipart/alternative", "multipart/related",
    "multipart/report; report-type=delivery-status", "message/rfc822", "message/delivery-status",
    "text/rfc822-headers", "message/disposition-notification", "application/octet-stream",
    "image/png", "multipart/signed", "text/calendar", "", "garbage",
]  # fmt: skip
_CHARSETS = ["utf-8", "gb2312", "gbk", "gb18030", "big5", "us-ascii", "x-unknown", "base64",
             "utf-16", "undefined", "unicode_escape", "idna", "", '"gbk"', "utf-8''"]  # fmt: skip
_CTES = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus", ""]
_HEADERS = ["From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Reply-To",
            "Return-Path", "Auto-Submitted", "Precedence", "List-Id", "Content-Disposition",
            "X-Auto-Response-Suppress", "Original-Message-ID", "Action"]  # fmt: skip
_TRICKY = [b"<a@b>", b"<>", b"=?gbk?B?1tDOxA==?=", b"=?big5?Q?=A4=A4?=", b"=?x?B?!!?=",
           b"attachment; filename*=gbk''%D6%D0", b'inline; filename="=?utf-8?B?5Lit?="',
           b"[#FD-1] =?utf-8?B?", b"a@b.c, =?gb2312?B?zfW=?= <w@x>"]  # fmt: skip
_VALUES = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(_TRICKY),
)


@st.composite
def _mime(draw: st.DrawFn, depth: int = 0) -> bytes:
    ctype = draw(st.sampled_from(_CTYPES))
    boundary = draw(st.sampled_from(["b", "b", "", "a b", "--", '"'])) + str(depth)
    lines = [
        f'Content-Type: {ctype}; charset={draw(st.sampled_from(_CHARSETS))}; boundary="{boundary}"',
        f"Content-Transfer-Encoding: {draw(st.sampled_from(_CTES))}",
    ]
    head = b"\r\n".join(line.encode() for line in lines)
    for name, value in draw(st.lists(st.tuples(st.sampled_from(_HEADERS), _VALUES), max_size=5)):
        head += b"\r\n" + name.encode() + b": " + value.replace(b"\n", b" ")
    if ctype.startswith(("multipart/", "message/")) and depth < 3:
        parts = draw(st.lists(_mime(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        body += draw(st.sampled_from([b"--" + boundary.encode() + b"--\r\n", b"", b"--"]))
    else:
        body = draw(st.one_of(st.binary(max_size=300), _VALUES))
    return head + b"\r\n\r\n" + body


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_mime(), envelope_from=st.sampled_from([None, "", "li@example.com"]))
@example(raw=b"Content-Type: text/plain\r\nAuto-Submitted: \x80\r\n\r\n", envelope_from=None)
def test_broken_mime_becomes_an_inbound_without_the_last_resort(
    raw: bytes, envelope_from: str | None
) -> None:
    inbound = parse_email(raw, recipient="support@example.com", envelope_from=envelope_from)
    _check(inbound)
    assert "parse_error" not in inbound.request.attributes  # the MIME walk itself coped
