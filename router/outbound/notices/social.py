"""Social notices: one small connector per platform that sends a text to the customer through the
platform's documented send API, addressed from the request the platform's webhook made.

- WhatsApp Cloud API: `POST {api}/{version}/{phone_number_id}/messages` with a Bearer token and
  `{"messaging_product": "whatsapp", "to": <wa_id>, "type": "text", "text": {"body": ...}}`.
  Errors are `{"error": {"code", "message", "error_data": {"details"}}}`; handled by code.
- Telegram Bot API: `POST {api}/bot<token>/sendMessage` `{"chat_id", "text"}`; errors are
  `{"ok": false, "error_code", "description", "parameters": {"retry_after", "migrate_to_chat_id"}}`.
- WeChat Official Account customer service message: `POST {api}/cgi-bin/message/custom/send?
  access_token=...` `{"touser", "msgtype": "text", "text": {"content"}}`; the answer is 200 with
  `{"errcode", "errmsg"}`. The token comes from `POST {api}/cgi-bin/stable_token` (normal mode:
  every daemon gets the same token, none invalidates another's) and is kept until shortly before
  it expires, or until WeChat calls it invalid.
- Messenger Send API: `POST {api}/{version}/me/messages?access_token=<page token>`
  `{"recipient": {"id": <PSID>}, "messaging_type": "RESPONSE", "message": {"text"}}`.

Every platform lets a business write freely only for a while after the customer's last message
(WhatsApp and Messenger 24 hours, WeChat 48 hours); a notice after that is refused by the
platform and goes to the dead letters (Undeliverable), like an unknown recipient or a refused
token. Rate limits, 5xx, timeouts and "try again" codes are RetryLater.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import aiohttp

from frontdesk.queues.request import Request
from frontdesk.router.outbound.remote import error_text, retry_after_s
from frontdesk.router.outbound.sinks import DeliveryError, RetryLater, Undeliverable

GRAPH_API = "https://graph.facebook.com"
GRAPH_VERSION = "v21.0"
TELEGRAM_API = "https://api.telegram.org"
WECHAT_API = "https://api.weixin.qq.com"
_DIGITS = re.compile(r"[0-9]{4,20}")
_TOKEN_EARLY_S = 300.0  # a WeChat token is fetched again this long before it expires


# -- settings -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WhatsAppSettings:
    """`notices.whatsapp`."""

    access_token: str = field(repr=False)
    phone_number_id: str  # the number notices come from, unless `numbers` names another
    numbers: dict[str, str] = field(default_factory=dict)  # display number (digits) -> its id
    api_url: str = GRAPH_API
    api_version: str = GRAPH_VERSION


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """`notices.telegram`."""

    bot_token: str = field(repr=False)
    api_url: str = TELEGRAM_API


@dataclass(frozen=True, slots=True)
class WeChatSettings:
    """`notices.wechat`."""

    app_id: str
    app_secret: str = field(repr=False)
    api_url: str = WECHAT_API


@dataclass(frozen=True, slots=True)
class MessengerSettings:
    """`notices.messenger`."""

    page_token: str = field(repr=False)
    api_url: str = GRAPH_API
    api_version: str = GRAPH_VERSION


class Connector(Protocol):
    """Sends a text to a customer on one platform."""

    platform: str

    def address(self, request: Request) -> str | None:
        """Where on the platform the customer of `request` is reached; None when it cannot tell."""
        ...

    async def send(self, http: aiohttp.ClientSession, to: str, text: str, request: Request) -> None:
        """Send `text`; RetryLater or Undeliverable when the platform did not take it."""
        ...


def platform_of(request: Request) -> str | None:
    """The platform a social request came from: its external id reads `<platform>:...`."""
    head = (request.external_id or "").split(":", 1)[0]
    return head if head and head in request.customer.handles else None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- HTTP ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # the JSON answer, or None
    raw: bytes
    retry_after_s: float | None


async def post(
    http: aiohttp.ClientSession,
    platform: str,
    url: str,
    body: dict[str, Any],
    timeout_s: float,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """POST JSON (UTF-8, not escaped: WeChat shows \\u escapes as they are). Transport failures
    are RetryLater; their messages never carry the URL (a Telegram URL holds the bot token)."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        async with http.post(
            url,
            data=data,
            params=params,
            headers=sent,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            raw = await response.read()
            wait = retry_after_s(response.headers.get("Retry-After"))
            status = response.status
    except TimeoutError:
        raise RetryLater(f"{platform}: no answer within {timeout_s:g}s") from None
    except aiohttp.ClientConnectorError as exc:
        raise RetryLater(f"{platform}: cannot connect to {exc.host}:{exc.port}") from None
    except aiohttp.ClientError as exc:
        raise RetryLater(f"{platform}: the call failed ({type(exc).__name__})") from None
    try:
        parsed = json.loads(raw) if raw.strip() else None
    except ValueError:
        parsed = None
    return Reply(status, parsed, raw, wait)


def _by_status(platform: str, reply: Reply, detail: str) -> DeliveryError:
    said = f"{platform}: HTTP {reply.status}: {detail}"
    if reply.status in (408, 429) or reply.status >= 500:
        return RetryLater(said, reply.retry_after_s)
    return Undeliverable(said)


# -- Meta (WhatsApp and Messenger share the Graph API's error shape) -----------------------------
_GRAPH_RETRY = frozenset(
    {1, 2, 4, 17, 32, 341, 613, 1200, 80007, 130429, 131000, 131016, 131048, 131056, 133004}
)
_GRAPH_REASONS = {
    0: "the access token was refused",
    190: "the access token is invalid or expired",
    131047: "more than 24 hours passed since the customer's last message (only a template "
    "message may be sent now)",
    2018278: "more than 24 hours passed since the customer's last message",
    551: "this person is not available on Messenger",
    131026: "the message could not be delivered to this customer",
    131030: "the customer's number is not on the test number's allowed list",
}


def _graph_failure(platform: str, reply: Reply) -> DeliveryError:
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return _by_status(platform, reply, error_text(reply.raw))
    code: int = error["code"]
    subcode = error.get("error_subcode")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    text = "; ".join(str(p) for p in (error.get("message"), details) if p)
    reason = _GRAPH_REASONS.get(subcode if isinstance(subcode, int) else -1) or _GRAPH_REASONS.get(
        code
    )
    said = f"{platform}: HTTP {reply.status}, error {code}: {text}" + (
        f" ({reason})" if reason else ""
    )
    if code in _GRAPH_RETRY:
        return RetryLater(said, reply.retry_after_s)
    return Undeliverable(said)


class WhatsApp:
    platform = "whatsapp"
    max_chars: ClassVar[int] = 4096

    def __init__(self, settings: WhatsAppSettings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    def address(self, request: Request) -> str | None:
        wa_id = request.customer.handles.get("whatsapp", "")
        return wa_id if _DIGITS.fullmatch(wa_id) else None

    def sender(self, request: Request) -> str:
        """The phone number id to send from: the business number the customer wrote to (the
        last part of the entry point: a display number or a phone number id), else the
        configured one."""
        s = self.settings
        account = (request.entry_point or "").rsplit(":", 1)[-1]
        if account in s.numbers:
            return s.numbers[account]
        return account if account in s.numbers.values() else s.phone_number_id

    async def send(self, http: aiohttp.ClientSession, to: str, text: str, request: Request) -> None:
        s = self.settings
        url = f"{s.api_url}/{s.api_version}/{self.sender(request)}/messages"
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": clip(text, self.max_chars)},
        }
        headers = {"Authorization": f"Bearer {s.access_token}"}
        reply = await post(http, self.platform, url, body, self.timeout_s, headers=headers)
        if reply.status != 200:
            raise _graph_failure(self.platform, reply)


class Messenger:
    platform = "messenger"
    max_chars: ClassVar[int] = 2000

    def __init__(self, settings: MessengerSettings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    def address(self, request: Request) -> str | None:
        return request.customer.handles.get("messenger") or None

    async def send(self, http: aiohttp.ClientSession, to: str, text: str, request: Request) -> None:
        s = self.settings
        url = f"{s.api_url}/{s.api_version}/me/messages"
        body = {
            "recipient": {"id": to},
            "messaging_type": "RESPONSE",
            "message": {"text": clip(text, self.max_chars)},
        }
        params = {"access_token": s.page_token}
        reply = await post(http, self.platform, url, body, self.timeout_s, params=params)
        if reply.status != 200:
            raise _graph_failure(self.platform, reply)


# -- Telegram ------------------------------------------------------------------------------------
class Telegram:
    platform = "telegram"
    max_chars: ClassVar[int] = 4096

    def __init__(self, settings: TelegramSettings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    def address(self, request: Request) -> str | None:
        """The chat the customer wrote in (from the message's id, `telegram:<chat>:<message>`),
        else the customer's own id (a private chat has the user's id)."""
        parts = (request.external_id or "").split(":")
        if len(parts) == 3 and re.fullmatch(r"-?[0-9]{1,20}", parts[1]):
            return parts[1]
        user = request.customer.handles.get("telegram", "")
        return user if re.fullmatch(r"[0-9]{1,20}", user) else None

    async def send(self, http: aiohttp.ClientSession, to: str, text: str, request: Request) -> None:
        url = f"{self.settings.api_url}/bot{self.settings.bot_token}/sendMessage"
        chat: int | str = int(to)
        for _ in range(2):  # once more when a group became a supergroup
            body = {"chat_id": chat, "text": clip(text, self.max_chars)}
            reply = await post(http, self.platform, url, body, self.timeout_s)
            answer = reply.body if isinstance(reply.body, dict) else {}
            if reply.status == 200 and answer.get("ok") is True:
                return
            parameters = answer.get("parameters")
            parameters = parameters if isinstance(parameters, dict) else {}
            moved = parameters.get("migrate_to_chat_id")
            if isinstance(moved, int) and moved != chat:
                chat = moved
                continue
            raise self._failure(reply, answer, parameters)
        raise Undeliverable("telegram: the chat moved more than once")

    def _failure(
        self, reply: Reply, answer: dict[str, Any], parameters: dict[str, Any]
    ) -> DeliveryError:
        description = answer.get("description") or error_text(reply.raw)
        said = f"telegram: HTTP {reply.status}: {description}"
        wait = parameters.get("retry_after")
        if reply.status == 429 or isinstance(wait, int | float):
            after = float(wait) if isinstance(wait, int | float) else reply.retry_after_s
            return RetryLater(said, after)
        if reply.status >= 500:
            return RetryLater(said, reply.retry_after_s)
        if reply.status == 401:
            return Undeliverable(f"{said} (check notices.telegram.bot_token)")
        return Undeliverable(said)


# -- WeChat --------------------------------------------------------------------------------------
_WECHAT_TOKEN_INVALID = frozenset({40001, 40014, 42001})
_WECHAT_RETRY = {-1: None, 45009: 3600.0, 45011: 60.0, 45033: 60.0}  # errcode -> wait (s)
_WECHAT_REASONS = {
    45015: "the customer has not written to the account within the allowed time (48 hours)",
    45047: "too many messages since the customer's last one",
    40003: "the openid is not a follower of this account",
    43004: "the customer does not follow the account",
    48001: "the account may not use the customer service message API",
    40013: "the app_id is invalid (check notices.wechat.app_id)",
    40125: "the app_secret is invalid (check notices.wechat.app_secret)",
    40164: "this server's IP address is not on the account's IP allowlist",
}


class WeChat:
    platform = "wechat"
    max_chars: ClassVar[int] = 2000

    def __init__(self, settings: WeChatSettings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._token: tuple[str, float] | None = None  # access token, monotonic expiry
        self._lock = asyncio.Lock()

    def address(self, request: Request) -> str | None:
        return request.customer.handles.get("wechat") or None

    async def send(self, http: aiohttp.ClientSession, to: str, text: str, request: Request) -> None:
        url = f"{self.settings.api_url}/cgi-bin/message/custom/send"
        body = {"touser": to, "msgtype": "text", "text": {"content": clip(text, self.max_chars)}}
        for _ in range(2):
            token = await self.access_token(http)
            reply = await post(
                http, self.platform, url, body, self.timeout_s, params={"access_token": token}
            )
            code = self._errcode(reply)
            if code == 0:
                return
            if code in _WECHAT_TOKEN_INVALID:
                self._token = None  # expired early, or replaced: fetch it again, once
                continue
            raise self._failure("custom/send", reply, code)
        raise RetryLater("wechat: a fresh access token was refused too; trying again later")

    async def access_token(self, http: aiohttp.ClientSession) -> str:
        """The account's access token, fetched when there is none or it is about to expire."""
        async with self._lock:
            now = time.monotonic()
            if self._token is not None and self._token[1] > now:
                return self._token[0]
            s = self.settings
            body = {
                "grant_type": "client_credential",
                "appid": s.app_id,
                "secret": s.app_secret,
                "force_refresh": False,
            }
            reply = await post(
                http, self.platform, f"{s.api_url}/cgi-bin/stable_token", body, self.timeout_s
            )
            answer = reply.body if isinstance(reply.body, dict) else {}
            token, expires = answer.get("access_token"), answer.get("expires_in")
            if not (isinstance(token, str) and token and isinstance(expires, int)):
                raise self._failure("stable_token", reply, self._errcode(reply))
            self._token = (token, now + max(expires - _TOKEN_EARLY_S, expires / 2))
            return token

    @staticmethod
    def _errcode(reply: Reply) -> int | None:
        if reply.status != 200 or not isinstance(reply.body, dict):
            return None
        code = reply.body.get("errcode", 0)
        return code if isinstance(code, int) else None

    def _failure(self, what: str, reply: Reply, code: int | None) -> DeliveryError:
        if code is None:
            return _by_status(f"wechat {what}", reply, error_text(reply.raw))
        message = reply.body.get("errmsg", "") if isinstance(reply.body, dict) else ""
        reason = _WECHAT_REASONS.get(code)
        said = f"wechat {what}: errcode {code}: {message}" + (f" ({reason})" if reason else "")
        if code in _WECHAT_RETRY:
            return RetryLater(said, _WECHAT_RETRY[code])
        return Undeliverable(said)
