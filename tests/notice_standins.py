"""Local stand-ins for what customer notices are sent through: an SMTP relay (a real aiosmtpd
server on a free loopback port) and the messaging platforms' send APIs (aiohttp apps on
127.0.0.1) that follow the documented paths, auth, payloads, answers and errors, are strict about
them, and record what they received. Sources:

- WhatsApp Cloud API (developers.facebook.com/docs/whatsapp/cloud-api): POST
  /{version}/{phone_number_id}/messages, `Authorization: Bearer`, {"messaging_product":
  "whatsapp", "recipient_type": "individual", "to", "type": "text", "text": {"body"}}; answers
  {"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]};
  errors {"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
  "fbtrace_id"}} (190 with 401, 100 with 400, 131047 outside the 24-hour window, 130429 with 429).
- Telegram Bot API (core.telegram.org/bots/api): POST /bot<token>/sendMessage {"chat_id",
  "text"}; {"ok": true, "result": Message}; {"ok": false, "error_code", "description",
  "parameters": {"retry_after" | "migrate_to_chat_id"}} (401 Unauthorized, 400 chat not found,
  403 blocked by the user, 429 Too Many Requests).
- WeChat Official Account (developers.weixin.qq.com): POST /cgi-bin/stable_token
  {"grant_type": "client_credential", "appid", "secret", "force_refresh"} -> {"access_token",
  "expires_in": 7200}; POST /cgi-bin/message/custom/send?access_token= {"touser", "msgtype":
  "text", "text": {"content"}}; always HTTP 200 with {"errcode", "errmsg"} (40001 invalid
  credential, 40003 invalid openid, 40013 invalid appid, 40125 invalid appsecret, 45015 response
  out of time limit).
- Messenger Send API (developers.facebook.com/docs/messenger-platform/reference/send-api): POST
  /{version}/me/messages?access_token=<page token> {"recipient": {"id"}, "messaging_type",
  "message": {"text"}} -> {"recipient_id", "message_id"}; errors as the Graph API's (190, 100,
  10 with subcode 2018278 outside the window, 551).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from standin import Received, StandIn


class PlatformStandIn(StandIn):
    """A messaging platform's send API; each checks its own credentials."""

    def posts(self, path: str | None = None) -> list[Received]:
        return self.calls("POST", path)


def _graph_error(
    status: int, code: int, message: str, details: str | None = None, subcode: int | None = None
) -> web.Response:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(8),
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status)


def _invalid_parameter(details: str) -> web.Response:
    return _graph_error(400, 100, "(#100) Invalid parameter", details)


# -- WhatsApp Cloud API -----------------------------------------------------------------------
class WhatsAppStandIn(PlatformStandIn):
    """One business with its phone numbers; customers inside or outside the 24-hour window."""

    def __init__(
        self,
        token: str = "wa-token",
        numbers: tuple[str, ...] = ("109876543210",),
        window: tuple[str, ...] = ("8613800138000",),
    ) -> None:
        super().__init__()
        self.token = token
        self.numbers = set(numbers)  # phone number ids
        self.window = set(window)  # wa_ids that wrote within 24 hours
        self.sent: list[tuple[str, str, str]] = []  # (phone number id, to, text)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(r"/{version:v[0-9]+\.[0-9]+}/{number}/messages", self.messages)

    async def messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        number = request.match_info["number"]
        if number not in self.numbers:
            return _graph_error(
                400, 100, f"Unsupported post request. Object with ID '{number}' does not exist"
            )
        body = self.received[-1].body
        if not isinstance(body, dict):
            return _invalid_parameter("the body must be a JSON object")
        if body.get("messaging_product") != "whatsapp":
            return _invalid_parameter("messaging_product must be whatsapp")
        unknown = set(body) - {
            "messaging_product",
            "recipient_type",
            "to",
            "type",
            "text",
            "context",
            "biz_opaque_callback_data",
        }
        if unknown:
            return _invalid_parameter(f"unknown parameters: {sorted(unknown)}")
        if body.get("recipient_type", "individual") != "individual" or body.get("type") != "text":
            return _invalid_parameter("recipient_type individual and type text expected")
        text = body.get("text")
        if not isinstance(text, dict) or set(text) - {"body", "preview_url"}:
            return _invalid_parameter("text must be {body, preview_url}")
        content, to = text.get("body"), body.get("to")
        if not isinstance(content, str) or not content.strip() or len(content) > 4096:
            return _invalid_parameter("text.body must be 1 to 4096 characters")
        if not isinstance(to, str) or not re.fullmatch(r"\+?[0-9]{5,20}", to):
            return _invalid_parameter("to must be a phone number or WhatsApp ID")
        if to.lstrip("+") not in self.window:
            return _graph_error(
                400,
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.",
            )
        self.sent.append((number, to, content))
        wamid = "wamid." + secrets.token_urlsafe(24)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid}],
            }
        )


# -- Telegram Bot API -------------------------------------------------------------------------
class TelegramStandIn(PlatformStandIn):
    def __init__(
        self,
        token: str = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345",
        chats: tuple[int, ...] = (5550001,),
        blocked: tuple[int, ...] = (),
        migrated: dict[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.chats = set(chats)
        self.blocked = set(blocked)
        self.migrated = migrated or {}
        self.sent: list[tuple[int, str]] = []
        self._ids = itertools.count(100)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/bot{token}/{method}", self.call)

    @staticmethod
    def error(status: int, description: str, **parameters: int) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self.error(401, "Unauthorized")
        if request.match_info["method"].lower() != "sendmessage":
            return self.error(404, "Not Found: method not found")
        body = self.received[-1].body
        if not isinstance(body, dict):
            return self.error(400, "Bad Request: message text is empty")
        chat, text = body.get("chat_id"), body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self.error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self.error(400, "Bad Request: message is too long")
        if not isinstance(chat, int | str) or not re.fullmatch(r"-?[0-9]+", str(chat)):
            return self.error(400, "Bad Request: chat not found")
        chat = int(chat)
        if chat in self.migrated:
            return self.error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat],
            )
        if chat in self.blocked:
            return self.error(403, "Forbidden: bot was blocked by the user")
        if chat not in self.chats:
            return self.error(400, "Bad Request: chat not found")
        self.sent.append((chat, text))
        kind = "private" if chat > 0 else "supergroup"
        return web.json_response(
            {
                "ok": True,
                "result": {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "text": text,
                    "from": {
                        "id": 123456,
                        "is_bot": True,
                        "first_name": "Desk",
                        "username": "desk_bot",
                    },
                    "chat": {"id": chat, "type": kind},
                },
            }
        )


# -- WeChat Official Account -------------------------------------------------------------------
class WeChatStandIn(PlatformStandIn):
    def __init__(
        self,
        app_id: str = "wx1234567890abcdef",
        secret: str = "wechat-app-secret",
        followers: tuple[str, ...] = ("oUser123",),
        lapsed: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.secret = secret
        self.followers = set(followers)
        self.lapsed = set(lapsed)  # followers who have not written within 48 hours
        self.token = ""
        self.tokens_issued = 0
        self.sent: list[tuple[str, str]] = []

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/cgi-bin/stable_token", self.stable_token)
        router.add_post("/cgi-bin/message/custom/send", self.custom_send)

    def expire_token(self) -> None:
        """The current access token stops working (it expired, or was refreshed elsewhere)."""
        self.token = ""

    @staticmethod
    def answer(code: int, message: str) -> web.Response:
        return web.json_response(
            {"errcode": code, "errmsg": f"{message} rid: {secrets.token_hex(4)}"}
        )

    async def stable_token(self, request: web.Request) -> web.Response:
        body = self.received[-1].body
        if not isinstance(body, dict) or body.get("grant_type") != "client_credential":
            return self.answer(40002, "invalid grant_type")
        if body.get("appid") != self.app_id:
            return self.answer(40013, "invalid appid")
        if body.get("secret") != self.secret:
            return self.answer(40125, "invalid appsecret")
        if not self.token or body.get("force_refresh") is True:
            self.token = "ACCESS_" + secrets.token_hex(16)
            self.tokens_issued += 1
        return web.json_response({"access_token": self.token, "expires_in": 7200})

    async def custom_send(self, request: web.Request) -> web.Response:
        if not self.token or request.query.get("access_token") != self.token:
            return self.answer(40001, "invalid credential, access_token is invalid or not latest")
        body = self.received[-1].body
        if not isinstance(body, dict):
            return self.answer(44002, "empty post data")
        if body.get("msgtype") != "text":
            return self.answer(40008, "invalid message type")
        text, to = body.get("text"), body.get("touser")
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str) or not content:
            return self.answer(44003, "empty news data")
        if to not in self.followers:
            return self.answer(40003, "invalid openid")
        if to in self.lapsed:
            return self.answer(45015, "response out of time limit or subscription is canceled")
        self.sent.append((to, content))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


# -- Messenger ---------------------------------------------------------------------------------
class MessengerStandIn(PlatformStandIn):
    def __init__(
        self,
        token: str = "page-token",
        users: tuple[str, ...] = ("2400000000000001",),
        lapsed: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.token = token
        self.users = set(users)
        self.lapsed = set(lapsed)
        self.sent: list[tuple[str, str]] = []

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(r"/{version:v[0-9]+\.[0-9]+}/me/messages", self.messages)

    async def messages(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != self.token:
            return _graph_error(400, 190, "Invalid OAuth access token.")
        body = self.received[-1].body
        if not isinstance(body, dict):
            return _invalid_parameter("the body must be a JSON object")
        kind = body.get("messaging_type")
        if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return _graph_error(400, 100, "(#100) messaging_type is required")
        recipient, message = body.get("recipient"), body.get("message")
        psid = recipient.get("id") if isinstance(recipient, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or not text or len(text) > 2000:
            return _graph_error(
                400, 100, "(#100) Length of param message[text] must be less than or equal to 2000"
            )
        if psid not in self.users:
            return _graph_error(400, 100, "(#100) No matching user found", subcode=2018001)
        if psid in self.lapsed and kind == "RESPONSE":
            return _graph_error(
                400, 10, "(#10) This message is sent outside of allowed window.", subcode=2018278
            )
        self.sent.append((psid, text))
        return web.json_response({"recipient_id": psid, "message_id": "m_" + secrets.token_hex(12)})


# -- SMTP relay --------------------------------------------------------------------------------
@dataclass
class Relayed:
    """One mail the relay took."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RelayHandler:
    """An aiosmtpd handler: refuses the recipients it is told to, records what it takes."""

    received: list[Relayed] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> the reply to RCPT TO
    logins: list[tuple[str, str]] = field(default_factory=list)
    require_auth: bool = False

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode()
        self.received.append(Relayed(envelope.mail_from or "", list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK: queued"


class SmtpRelay:
    """A real aiosmtpd server on a free loopback port, in the test's own event loop. With
    `credentials`, AUTH PLAIN/LOGIN is required before MAIL (over plain text: loopback only)."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.handler = RelayHandler(require_auth=credentials is not None)
        self.credentials = credentials
        self.port = 0
        self._server: asyncio.Server | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            given = (auth_data.login.decode(), auth_data.password.decode())
            self.handler.logins.append(given)
            return AuthResult(success=given == self.credentials, handled=False)
        return AuthResult(success=False, handled=False)

    def _session(self) -> SMTP:
        return SMTP(
            self.handler,
            hostname="relay.test",
            auth_require_tls=False,
            authenticator=self._authenticate,
            loop=asyncio.get_running_loop(),
        )

    @property
    def received(self) -> list[Relayed]:
        return self.handler.received

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, host="127.0.0.1", port=0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
