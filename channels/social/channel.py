"""The social channel (config key `social`): signed webhooks from WhatsApp, Messenger,
Instagram, Telegram, WeChat and generic HMAC-signed senders, each message handed to the Front.

    GET  /v1/webhooks/whatsapp | messenger | instagram   Meta's subscription check
    POST /v1/webhooks/whatsapp | messenger | instagram   notifications (X-Hub-Signature-256)
    POST /v1/webhooks/telegram                           updates (X-Telegram-Bot-Api-Secret-Token)
    GET  /v1/webhooks/wechat                             WeChat's server check (echostr)
    POST /v1/webhooks/wechat                             XML messages (signed query)
    POST /v1/webhooks/generic/{name}                     X-Frontdesk-Signature + -Timestamp

Every request is checked in this order: the body's size (413 above `max_body`), the platform's
signature or secret in constant time (401, nothing read further), then the payload (400 naming
the field), the sender's rate limit (429 with Retry-After), and each message's durable
`Front.receive`. Only then the platform's own acknowledgement (200). Redis down is 503 with
Retry-After, so that the platform delivers again; the messages of a delivery stored before the
failure are recognized as duplicates then. A platform that is not configured answers 404."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from aiohttp import web

from frontdesk.channels.base import ChannelContext, Inbound, Receipt
from frontdesk.channels.social import generic as webhook_generic
from frontdesk.channels.social import meta, telegram, wechat
from frontdesk.queues.errors import DecodeError, RequestNotFound, WrongState
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.http import openapi
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import Refusal

log = logging.getLogger("frontdesk.social")

META_PLATFORMS = ("whatsapp", "messenger", "instagram")
PLATFORMS = (*META_PLATFORMS, "telegram", "wechat")
# generic webhook names become handle kinds (`<name>:<sender id>`): never one that means
# something else already
RESERVED_NAMES = frozenset({*PLATFORMS, "generic", "email", "phone", "chat", "form", "social"})
GENERIC_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"
LABEL = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"
DEFAULT_MAX_BODY = 1024 * 1024
MIN_BODY, MAX_BODY = 1024, 64 * 1024 * 1024
DEFAULT_TOLERANCE_S = 300.0
MAX_TOLERANCE_S = 86400.0
MIN_GENERIC_SECRET = 16
PREFIX = "/v1/webhooks"
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KIB|MB|MIB)?\s*$", re.IGNORECASE)
_UNIT = {None: 1, "B": 1, "KB": 1024, "KIB": 1024, "MB": 1024**2, "MIB": 1024**2}
_READ_CHUNK = 64 * 1024
_RECEIVE_ATTEMPTS = 3

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- settings --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MetaApp:
    """A Meta app's webhook for one of WhatsApp, Messenger, Instagram."""

    platform: str
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    entry_point: str  # prefix of the requests' entry point, before ":<business account>"


@dataclass(frozen=True, slots=True)
class TelegramBot:
    secret_token: str = field(repr=False)
    bot: str  # the bot's name in entry points: telegram:<bot>


@dataclass(frozen=True, slots=True)
class WeChatAccount:
    token: str = field(repr=False)
    app_id: str | None  # entry points read wechat:<app_id> (else the account's gh_ id)
    tolerance_s: float  # how far the signed timestamp may be from our clock


@dataclass(frozen=True, slots=True)
class GenericHook:
    name: str
    secret: str = field(repr=False)
    tolerance_s: float


@dataclass(frozen=True, slots=True)
class SocialSettings:
    """`channels.social`: the platforms configured, and the body size every webhook accepts."""

    max_body: int = DEFAULT_MAX_BODY
    meta: dict[str, MetaApp] = field(default_factory=dict)
    telegram: TelegramBot | None = None
    wechat: WeChatAccount | None = None
    generic: dict[str, GenericHook] = field(default_factory=dict)


def parse_config(
    check: Checker, raw: object, path: Path, queues: set[str]
) -> SocialSettings | None:
    """Check `channels.social`; every problem is reported with its path and line. Secrets are
    given inline (`app_secret: ...`) or as a file that holds them (`app_secret_file: path`,
    relative to the directory frontdesk runs in; surrounding whitespace is dropped)."""
    before = len(check.problems)
    top = check.mapping(path, raw, ["max_body", *PLATFORMS, "generic"])
    if raw is not None and not isinstance(raw, dict):
        return None
    configured = [k for k in (*PLATFORMS, "generic") if top.get(k) is not None]
    if not configured:
        check.error(path, f"configure at least one of {', '.join((*PLATFORMS, 'generic'))}")
    max_body = _size(check, (*path, "max_body"), top.get("max_body", DEFAULT_MAX_BODY))
    apps = {}
    for platform in META_PLATFORMS:
        if top.get(platform) is not None:
            app = _meta_app(check, (*path, platform), platform, top[platform])
            if app is not None:
                apps[platform] = app
    bot = _telegram(check, (*path, "telegram"), top.get("telegram"))
    account = _wechat(check, (*path, "wechat"), top.get("wechat"))
    hooks = _generic(check, (*path, "generic"), top.get("generic"))
    if len(check.problems) > before or max_body is None:
        return None
    return SocialSettings(max_body, apps, bot, account, hooks)


def _section(check: Checker, path: Path, raw: object, allowed: list[str]) -> dict[str, Any] | None:
    """A platform's mapping, or None (reported) when it is not one."""
    if not isinstance(raw, dict):
        check.mapping(path, raw, allowed)
        return None
    return check.mapping(path, raw, allowed)


def _secret(
    check: Checker, path: Path, body: dict[str, Any], key: str, pattern: str | None = None
) -> str | None:
    """`key` inline or in the file named by `key_file`; never both. Secrets never appear in a
    message."""
    inline, file = body.get(key), body.get(f"{key}_file")
    if inline is not None and file is not None:
        check.error((*path, f"{key}_file"), f"give {key} or {key}_file, not both")
        return None
    if inline is None and file is None:
        check.error(path, f"needs {key} (or {key}_file, a file that holds it)")
        return None
    where = (*path, key) if inline is not None else (*path, f"{key}_file")
    if inline is not None:
        if not isinstance(inline, str) or not inline.strip():
            check.error(where, "must be a non-empty string (quote a secret made of digits)")
            return None
        value = inline.strip()
    else:
        name = check.string(where, file)
        if name is None:
            return None
        try:
            value = FilePath(name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            check.error(where, f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}")
            return None
        if not value:
            check.error(where, f"{name} is empty")
            return None
    if pattern is not None and not re.fullmatch(pattern, value):
        check.error(where, f"must match {pattern}")
        return None
    return value


def _meta_app(check: Checker, path: Path, platform: str, raw: object) -> MetaApp | None:
    keys = ["app_secret", "app_secret_file", "verify_token", "verify_token_file", "entry_point"]
    body = _section(check, path, raw, keys)
    if body is None:
        return None
    secret = _secret(check, path, body, "app_secret")
    token = _secret(check, path, body, "verify_token")
    prefix = check.string((*path, "entry_point"), body.get("entry_point", platform), LABEL)
    if secret is None or token is None or prefix is None:
        return None
    return MetaApp(platform, secret, token, prefix)


def _telegram(check: Checker, path: Path, raw: object) -> TelegramBot | None:
    if raw is None:
        return None
    body = _section(check, path, raw, ["secret_token", "secret_token_file", "bot"])
    if body is None:
        return None
    secret = _secret(check, path, body, "secret_token", telegram.SECRET_PATTERN)
    if body.get("bot") is None:
        check.error(path, "needs bot, the bot's name in entry points (telegram:<bot>)")
        return None
    bot = check.string((*path, "bot"), body.get("bot"), LABEL)
    return TelegramBot(secret, bot) if secret and bot else None


def _wechat(check: Checker, path: Path, raw: object) -> WeChatAccount | None:
    if raw is None:
        return None
    body = _section(check, path, raw, ["token", "token_file", "app_id", "tolerance"])
    if body is None:
        return None
    token = _secret(check, path, body, "token", wechat.TOKEN_PATTERN)
    raw_id = body.get("app_id")
    app_id = check.string((*path, "app_id"), raw_id, LABEL) if raw_id is not None else None
    tolerance = _tolerance(check, (*path, "tolerance"), body.get("tolerance"))
    if token is None or tolerance is None or (raw_id is not None and app_id is None):
        return None
    return WeChatAccount(token, app_id, tolerance)


def _generic(check: Checker, path: Path, raw: object) -> dict[str, GenericHook]:
    hooks: dict[str, GenericHook] = {}
    for name, value in check.mapping(path, raw).items():
        where = (*path, name)
        if not re.fullmatch(GENERIC_NAME, name):
            check.error(where, f"a webhook name must match {GENERIC_NAME}")
            continue
        if name in RESERVED_NAMES:
            check.error(where, f"{name!r} is reserved; choose another name")
            continue
        body = _section(check, where, value, ["secret", "secret_file", "tolerance"])
        if body is None:
            continue
        secret = _secret(check, where, body, "secret")
        if secret is not None and len(secret) < MIN_GENERIC_SECRET:
            check.error(
                (*where, "secret" if "secret" in body else "secret_file"),
                f"must be at least {MIN_GENERIC_SECRET} characters (e.g. openssl rand -hex 32)",
            )
            secret = None
        tolerance = _tolerance(check, (*where, "tolerance"), body.get("tolerance"))
        if secret is not None and tolerance is not None:
            hooks[name] = GenericHook(name, secret, tolerance)
    return hooks


def _tolerance(check: Checker, path: Path, value: object) -> float | None:
    if value is None:
        return DEFAULT_TOLERANCE_S
    seconds = check.duration(path, value)
    if seconds is not None and not 1 <= seconds <= MAX_TOLERANCE_S:
        check.error(path, "must be from 1s to 24h")
        return None
    return seconds


def _size(check: Checker, path: Path, value: object) -> int | None:
    """Bytes in `65536`, `512KB`, `1MB` (KB and MB are 1024 and 1024²)."""
    size = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        size = int(m[1]) * _UNIT[m[2].upper() if m[2] else None]
    if size is None:
        check.error(path, f"must be a size such as 512KB or 1MB, got {value!r}")
        return None
    if not MIN_BODY <= size <= MAX_BODY:
        check.error(path, "must be from 1KB to 64MB")
        return None
    return size


# -- the runtime -----------------------------------------------------------------------------
def create(settings: SocialSettings, context: ChannelContext) -> SocialChannel:
    return SocialChannel(settings, context)


def refusal(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    """The JSON refusal every webhook answers with: {"error": {"code", "message", "field"}}."""
    return Refusal(status, code, message, field).response()


def _invalid(exc: DecodeError) -> web.Response:
    where = "body" if exc.what == "(body)" else exc.what
    return refusal(400, "invalid_payload", f"{where}: {exc.cause}", where)


def _signature_refused(platform: str, request: web.Request, header: str) -> web.Response:
    log.info("refused a %s delivery from %s: bad signature", platform, request.remote)
    return refusal(401, "invalid_signature", f"the {header} does not verify", header)


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> web.Response:
    return refusal(413, "too_large", f"the body is larger than {limit} bytes", "body")


def _methods(request: web.Request, *allowed: str) -> None:
    if request.method not in allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)


def _sender(inbound: Inbound) -> str | None:
    """The sender as the rate limits count them: `<platform>:<user id>`."""
    handles = inbound.request.customer.handles
    return next((f"{kind}:{handle}" for kind, handle in sorted(handles.items())), None)


class SocialChannel:
    """The webhook routes of the configured platforms."""

    name = "social"

    def __init__(self, settings: SocialSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context

    async def start(self) -> None:
        """Nothing to start: the routes are served by the daemon's HTTP listener."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def routes(self) -> list[web.RouteDef]:
        s = self.settings
        handlers: dict[str, Handler] = {
            platform: self._meta_handler(app) for platform, app in s.meta.items()
        }
        if s.telegram is not None:
            handlers["telegram"] = self._telegram_handler(s.telegram)
        if s.wechat is not None:
            handlers["wechat"] = self._wechat_handler(s.wechat)
        routes = [
            web.route("*", f"{PREFIX}/{platform}", handlers.get(platform) or _not_configured)
            for platform in PLATFORMS
        ]
        routes.append(web.route("*", PREFIX + "/generic/{name}", self._generic_handler()))
        return routes

    def openapi_paths(self) -> dict[str, Any]:
        """The configured platforms' routes for the API document."""
        s = self.settings

        async def doc(_: web.Request) -> web.Response:  # described, never mounted
            raise web.HTTPNotFound

        routes = [web.post(PREFIX + "/generic/{name}", doc)]
        for platform in [*s.meta, *(["wechat"] if s.wechat else [])]:
            routes += [web.get(f"{PREFIX}/{platform}", doc), web.post(f"{PREFIX}/{platform}", doc)]
        if s.telegram is not None:
            routes.append(web.post(f"{PREFIX}/telegram", doc))
        return openapi.from_routes(self.name, routes)

    # -- delivery --------------------------------------------------------------------------------
    async def deliver(self, inbounds: list[Inbound]) -> tuple[list[Receipt], float | None]:
        """Hand each message to the Front, durably, in order; a message from a sender over its
        rate limit is left for the platform's retry. Returns the receipts and, if any message
        was left, the seconds to retry after. A retried message already stored is not counted
        against its sender again."""
        receipts, retry_after = [], None
        for inbound in inbounds:
            key = inbound.request.idempotency_key
            if not (key and await self.context.store.seen(key)):
                wait = await self.context.admit(_sender(inbound), None)
                if wait is not None:
                    log.info("rate limit: %s must wait %.0fs", _sender(inbound), wait)
                    retry_after = max(wait, retry_after or 0.0)
                    continue
            receipts.append(await self._receive(inbound))
        return receipts, retry_after

    async def _receive(self, inbound: Inbound) -> Receipt:
        """Front.receive; a follow-up whose request closed between the Front's check and the
        append is received again (it then opens a new request)."""
        for attempt in range(_RECEIVE_ATTEMPTS):
            try:
                return await self.context.receive(inbound)
            except (WrongState, RequestNotFound):
                if attempt == _RECEIVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _ack(self, inbounds: list[Inbound], answer: web.Response) -> web.Response:
        _, retry_after = await self.deliver(inbounds)
        if retry_after is not None:
            return _rate_limited(retry_after)
        return answer

    # -- Meta ------------------------------------------------------------------------------------
    def _meta_handler(self, app: MetaApp) -> Handler:
        limit = self.settings.max_body

        async def meta_webhook(request: web.Request) -> web.StreamResponse:
            _methods(request, "GET", "POST")
            if request.method == "GET":
                return _meta_handshake(request, app)
            body = await read_body(request, limit)
            if body is None:
                return _too_large(limit)
            if not meta.verify(app.app_secret, request.headers.get(meta.SIGNATURE_HEADER), body):
                return _signature_refused(app.platform, request, meta.SIGNATURE_HEADER)
            try:
                inbounds = meta.parse(app.platform, body, app.entry_point, time.time())
            except DecodeError as exc:
                return _invalid(exc)
            return await self._ack(inbounds, web.Response(text="EVENT_RECEIVED"))

        return public(meta_webhook)

    # -- Telegram --------------------------------------------------------------------------------
    def _telegram_handler(self, bot: TelegramBot) -> Handler:
        limit = self.settings.max_body

        async def telegram_webhook(request: web.Request) -> web.StreamResponse:
            _methods(request, "POST")
            header = request.headers.get(telegram.SECRET_HEADER)
            if not telegram.verify(bot.secret_token, header):
                return _signature_refused("telegram", request, telegram.SECRET_HEADER)
            body = await read_body(request, limit)
            if body is None:
                return _too_large(limit)
            try:
                inbounds = telegram.parse(body, bot.bot, time.time())
            except DecodeError as exc:
                return _invalid(exc)
            return await self._ack(inbounds, web.Response(text="ok"))

        return public(telegram_webhook)

    # -- WeChat ----------------------------------------------------------------------------------
    def _wechat_handler(self, account: WeChatAccount) -> Handler:
        limit = self.settings.max_body

        async def wechat_webhook(request: web.Request) -> web.StreamResponse:
            _methods(request, "GET", "POST")
            q = request.query
            stamp = q.get("timestamp", "")
            signed = wechat.verify(account.token, q.get("signature"), stamp, q.get("nonce"))
            recent = webhook_generic.fresh(stamp, time.time(), account.tolerance_s)
            if request.method == "GET":
                return _wechat_handshake(q.get("echostr"), signed and recent)
            if not signed:
                return _signature_refused("wechat", request, "signature")
            if not recent:
                return refusal(401, "stale_timestamp", "the timestamp is too old", "timestamp")
            body = await read_body(request, limit)
            if body is None:
                return _too_large(limit)
            try:
                inbounds = wechat.parse(body, account.app_id, time.time())
            except DecodeError as exc:
                return _invalid(exc)
            return await self._ack(inbounds, web.Response(text="success"))

        return public(wechat_webhook)

    # -- generic ---------------------------------------------------------------------------------
    def _generic_handler(self) -> Handler:
        limit = self.settings.max_body
        hooks = self.settings.generic

        async def generic_webhook(request: web.Request) -> web.StreamResponse:
            hook = hooks.get(request.match_info["name"])
            if hook is None:
                return await _not_configured(request)
            _methods(request, "POST")
            body = await read_body(request, limit)
            if body is None:
                return _too_large(limit)
            stamp = request.headers.get(webhook_generic.TIMESTAMP_HEADER)
            signature = request.headers.get(webhook_generic.SIGNATURE_HEADER)
            if stamp is None or not webhook_generic.verify(hook.secret, stamp, signature, body):
                return _signature_refused(hook.name, request, webhook_generic.SIGNATURE_HEADER)
            if not webhook_generic.fresh(stamp, time.time(), hook.tolerance_s):
                message = f"the timestamp is more than {hook.tolerance_s:.0f}s from our clock"
                return refusal(401, "stale_timestamp", message, webhook_generic.TIMESTAMP_HEADER)
            try:
                inbounds = webhook_generic.parse(body, hook.name, time.time())
            except DecodeError as exc:
                return _invalid(exc)
            receipts, retry_after = await self.deliver(inbounds)
            if retry_after is not None:
                return _rate_limited(retry_after)
            (receipt,) = receipts
            return web.json_response(
                {
                    "request_id": receipt.request_id,
                    "created": receipt.created,
                    "appended": receipt.appended,
                    "duplicate": receipt.duplicate,
                }
            )

        return public(generic_webhook)


def _meta_handshake(request: web.Request, app: MetaApp) -> web.Response:
    for name in ("hub.mode", "hub.verify_token", "hub.challenge"):
        if name not in request.query:
            return refusal(400, "missing_parameter", f"the query needs {name}", name)
    challenge = meta.handshake(request.query, app.verify_token)
    if challenge is None:
        log.info("refused a %s subscription check from %s", app.platform, request.remote)
        return refusal(403, "verification_failed", "the verify token is not ours",
                       "hub.verify_token")  # fmt: skip
    return web.Response(text=challenge)


def _wechat_handshake(echo: str | None, verified: bool) -> web.Response:
    if not verified:
        return refusal(403, "verification_failed", "the signature does not verify", "signature")
    if not echo or len(echo) > wechat.MAX_ECHO or not echo.isprintable():
        return refusal(400, "missing_parameter", "the query needs echostr", "echostr")
    return web.Response(text=echo)


def _rate_limited(retry_after: float) -> web.Response:
    response = refusal(429, "rate_limited", "too many messages from this sender; retry later")
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


@public
async def _not_configured(request: web.Request) -> web.StreamResponse:
    return refusal(404, "not_found", f"no webhook is configured at {request.path}", "path")


__all__ = [
    "SocialChannel",
    "SocialSettings",
    "create",
    "parse_config",
    "read_body",
    "refusal",
]
