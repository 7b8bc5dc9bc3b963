"""The social channel (config key `social`, read by config.py): signed webhooks from WhatsApp,
Messenger, Instagram, Telegram, WeChat and generic HMAC-signed senders, each message handed to
the Front.

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

import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from frontdesk.channels.base import ChannelContext, Inbound, Receipt, RoutesOnly
from frontdesk.channels.social import generic as webhook_generic
from frontdesk.channels.social import meta, telegram, wechat
from frontdesk.channels.social.config import (
    PLATFORMS,
    MetaApp,
    SocialSettings,
    TelegramBot,
    WeChatAccount,
    parse_config,
)
from frontdesk.queues.errors import DecodeError, RequestNotFound, WrongState
from frontdesk.router.http import openapi
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import Refusal

log = logging.getLogger("frontdesk.social")

PREFIX = "/v1/webhooks"
_READ_CHUNK = 64 * 1024
_RECEIVE_ATTEMPTS = 3

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


class SocialChannel(RoutesOnly[SocialSettings]):
    """The webhook routes of the configured platforms (their handlers take the settings they
    were made with: a changed config waits for a restart)."""

    name = "social"

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
            # counted in the intake call itself, unless it is a retry of a message stored before
            limited = dataclasses.replace(
                inbound, admit=(_sender(inbound), None), admit_again=False
            )
            receipt = await self._receive(limited)
            if (wait := receipt.retry_after) is not None:
                log.info("rate limit: %s must wait %.0fs", _sender(inbound), wait)
                retry_after = max(wait, retry_after or 0.0)
                continue
            receipts.append(receipt)
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
