"""The web form and other systems (config key `form`).

    POST /v1/requests                       a web form (site key) or a system (bearer token)
    OPTIONS /v1/requests                    CORS preflight for the sites' origins

The receipt's status link, `GET /v1/requests/{id}/status?token=...`, is the API's, for any
channel's request (router/api/status.py).

A web form authenticates with its site's key (`X-Frontdesk-Site`, or a hidden `site` field in a
plain HTML form) and is accepted only from the site's origins; another system uses a bearer token
of scope integration, supervisor or admin. Every post carries an idempotency key (the
`Idempotency-Key` header, or a hidden `idempotency_key` field): the same key twice gives the same
request, 201 the first time and 200 after; the same key with different content is refused (409).

    channels:
      form:
        max_body: 64KB
        default_country: "86"        # for phone numbers written without +country code
        sites:
          - key: Xq3v...              # public: it is in the page; origins are what guard it
            origins: [https://www.example.com]
            entry_point: form:support # what the rules' `entry_point` sees (default: form)
            redirect: https://www.example.com/thanks   # plain HTML forms land here (303)
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from frontdesk.channels.base import ChannelContext, Inbound, RoutesOnly
from frontdesk.channels.fields import (
    FORM,
    JSON,
    attributes_field,
    email_address,
    form_attributes,
    invalid,
    language_tag,
    media_type,
    parse_body,
    phone_field,
    refuse_unknown,
    text_field,
)
from frontdesk.channels.form_config import FormSettings, Site, normalize_origin
from frontdesk.channels.form_config import parse_config as parse_config
from frontdesk.queues.request import Channel, Customer, Request, Scalar
from frontdesk.router.http.auth import Scope, caller, public
from frontdesk.router.http.body import read_body
from frontdesk.router.http.errors import Handler, Refusal, allow_origin, retry_after
from frontdesk.router.http.openapi import ERROR, json_content, operation
from frontdesk.router.http.views import status_path

SITE_HEADER = "X-Frontdesk-Site"
IDEMPOTENCY_HEADER = "Idempotency-Key"
FIELDS = {"name", "email", "phone", "subject", "body", "category", "language", "attributes"}
HIDDEN = ("site", "idempotency_key")  # a plain HTML form cannot send headers
LIMITS = {"name": 200, "email": 254, "phone": 40, "subject": 300, "body": 20_000}
DIGEST_ATTRIBUTE = "form_digest"
_POSTERS = (Scope.INTEGRATION, Scope.SUPERVISOR, Scope.ADMIN)
_IDEMPOTENCY = re.compile(r"[\x21-\x7e]{1,128}")
_CATEGORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_CORS = {
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": f"Content-Type, {IDEMPOTENCY_HEADER}, {SITE_HEADER}",
    "Access-Control-Max-Age": "600",
}


# parse_config (channels/form_config.py) and create: what the registry finds in a channel module
def create(settings: FormSettings, context: ChannelContext) -> FormChannel:
    return FormChannel(settings, context)


# -- runtime --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Submitted:
    """A form's validated fields."""

    name: str | None
    email: str | None
    phone: str | None
    subject: str
    body: str
    category: str | None
    language: str | None
    attributes: dict[str, Scalar]

    @property
    def digest(self) -> str:
        """What the same idempotency key must come with again."""
        canonical = json.dumps(
            [self.name, self.email, self.phone, self.subject, self.body, self.category,
             self.language, sorted(self.attributes.items())],
            ensure_ascii=True,
        )  # fmt: skip
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def submitted(data: dict[str, Any], default_country: str | None) -> Submitted:
    """The fields of a form post, each checked; a refusal names the field."""
    refuse_unknown(data, FIELDS)
    name = text_field(data, "name", LIMITS["name"])
    email = text_field(data, "email", LIMITS["email"])
    phone = text_field(data, "phone", LIMITS["phone"])
    if email is None and phone is None:
        raise Refusal(400, "missing", "email: an email address or a phone number is required",
                      "email")  # fmt: skip
    category = text_field(data, "category", 64)
    if category is not None and not _CATEGORY.fullmatch(category):
        invalid("category", "letters, digits and _ . @ - only, starting with a letter or digit")
    language = text_field(data, "language", 35)
    return Submitted(
        name=name,
        email=email_address("email", email) if email is not None else None,
        phone=phone_field("phone", phone, default_country) if phone is not None else None,
        subject=text_field(data, "subject", LIMITS["subject"]) or "",
        body=text_field(data, "body", LIMITS["body"], required=True, multiline=True) or "",
        category=category,
        language=language_tag("language", language) if language is not None else None,
        attributes=attributes_field(
            "attributes", data.get("attributes"), frozenset({DIGEST_ATTRIBUTE})
        ),
    )


def _idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise Refusal(
            400, "missing",
            f"{IDEMPOTENCY_HEADER}: is required (a hidden idempotency_key field in a plain form)",
            IDEMPOTENCY_HEADER,
        )  # fmt: skip
    if not _IDEMPOTENCY.fullmatch(value.strip()):
        invalid(IDEMPOTENCY_HEADER, "must be 1 to 128 printable ASCII characters, no spaces")
    return value.strip()


class FormChannel(RoutesOnly[FormSettings]):
    """Form posts on the daemon's HTTP listener."""

    name = "form"

    def openapi_paths(self) -> dict[str, Any]:
        return OPENAPI_PATHS

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/requests", self._handler(self.post)),
            web.options("/v1/requests", self._handler(self.preflight)),
        ]

    def _handler(self, inner: Handler) -> Handler:
        return _public(inner, lambda request: self.settings)

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or not self.settings.knows_origin(origin):
            raise Refusal(403, "forbidden", "this origin is not one of the sites'", "Origin")
        return web.Response(status=204, headers=_CORS)

    async def post(self, request: web.Request) -> web.StreamResponse:
        kind = media_type(request)
        token = caller(request)
        if token is None and request.headers.get("Authorization"):
            raise Refusal(401, "unauthorized", "the bearer token is not valid", "Authorization")
        if token is not None and token.scope not in _POSTERS:
            allowed = ", ".join(s.value for s in _POSTERS)
            raise Refusal(403, "forbidden", f"this needs a token with scope {allowed}",
                          "Authorization")  # fmt: skip
        data = parse_body(kind, await read_body(request, self.settings.max_body))
        hidden: dict[str, Any] = {}
        if kind == FORM:
            hidden = {name: data.pop(name) for name in HIDDEN if name in data}
            attributes = form_attributes(data)
            data = {k: v for k, v in data.items() if not k.startswith("attributes[")}
            if attributes:
                data["attributes"] = attributes
        site = None
        if token is None:
            site = self._site(request, hidden.get("site"))
            namespace, entry_point = f"site:{site.id}", site.entry_point
        else:
            namespace, entry_point = f"token:{token.name}", f"api:{token.name}"
        key = _idempotency_key(request.headers.get(IDEMPOTENCY_HEADER) or hidden.get(
            "idempotency_key"))  # fmt: skip
        form = submitted(data, self.settings.default_country)
        receipt = await self.context.receive(
            Inbound(
                Request(
                    id="",
                    channel=Channel.FORM,
                    queue="",
                    external_id=f"{namespace}:{key}",
                    entry_point=entry_point,
                    # a site's visitor typed them: claimed; a system's token vouches for them
                    customer=Customer(
                        name=form.name,
                        email=form.email,
                        phone=form.phone,
                        claimed=("email", "phone") if token is None else (),
                    ),
                    subject=form.subject,
                    body=form.body,
                    language=form.language,
                    category=form.category,
                    received_at=time.time(),
                    attributes={**form.attributes, DIGEST_ATTRIBUTE: form.digest},
                ),
                admit=(form.email or form.phone, request.remote),  # in the same call
            )
        )
        if receipt.retry_after is not None:
            raise Refusal(
                429, "rate_limited", "too many requests; try again later",
                headers={"Retry-After": retry_after(receipt.retry_after)},
            )  # fmt: skip
        if receipt.duplicate:
            record = await self.context.store.get(receipt.request_id)
            if record is None or record.request.attributes.get(DIGEST_ATTRIBUTE) != form.digest:
                raise Refusal(
                    409, "conflict",
                    f"{IDEMPOTENCY_HEADER}: {key!r} was already used for a different request",
                    IDEMPOTENCY_HEADER,
                )  # fmt: skip
        token_ = receipt.status_token
        if kind == FORM and site is not None and site.redirect:
            query = urlencode({"request": receipt.request_id, "token": token_})
            glue = "&" if "?" in site.redirect else "?"
            return web.Response(status=303, headers={"Location": site.redirect + glue + query})
        return web.json_response(
            {
                "id": receipt.request_id,
                "status_token": token_,
                "status_url": status_path(receipt.request_id, token_),
            },
            status=201 if receipt.created else 200,
        )

    def _site(self, request: web.Request, field: str | None) -> Site:
        key = request.headers.get(SITE_HEADER) or field
        if not key:
            raise Refusal(
                401, "unauthorized",
                f"a site key ({SITE_HEADER}) or a bearer token is required", SITE_HEADER,
            )  # fmt: skip
        site = self.settings.site(key)
        if site is None:
            raise Refusal(401, "unauthorized", "unknown site key", SITE_HEADER)
        origin = request.headers.get("Origin")
        if origin is not None and normalize_origin(origin) not in site.origins:
            raise Refusal(403, "forbidden", "this site's form is not served from this origin",
                          "Origin")  # fmt: skip
        return site


def _public(inner: Handler, settings: Callable[[web.Request], FormSettings | None]) -> Handler:
    """A public route whose answers (refusals too, rendered by json_errors) the sites' origins
    may read: CORS headers for them."""

    async def handle(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        known = settings(request)
        if origin is not None and known is not None and known.knows_origin(origin):
            allow_origin(request, origin)
        return await inner(request)

    return public(handle)


# -- the API description --------------------------------------------------------------------------
_TEXT: dict[str, Any] = {"type": "string"}
_FORM_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["body"],
    "additionalProperties": False,
    "description": "email or phone (or both) is required. In a form-encoded post, the hidden "
    "fields site and idempotency_key stand for the headers, and attributes[NAME]=value for "
    "attributes.",
    "properties": {
        "name": {"type": "string", "maxLength": LIMITS["name"]},
        "email": {"type": "string", "format": "email", "maxLength": LIMITS["email"]},
        "phone": {"type": "string", "description": "any common spelling; stored as E.164"},
        "subject": {"type": "string", "maxLength": LIMITS["subject"]},
        "body": {"type": "string", "minLength": 1, "maxLength": LIMITS["body"]},
        "category": {"type": "string", "maxLength": 64},
        "language": {"type": "string", "description": "a language tag such as zh-CN"},
        "attributes": {
            "type": "object",
            "maxProperties": 20,
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        },
    },
}
_RECEIPT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status_token", "status_url"],
    "properties": {"id": _TEXT, "status_token": _TEXT, "status_url": _TEXT},
}


def _post_request() -> dict[str, Any]:
    op = operation(
        "A web form (X-Frontdesk-Site) or another system (bearer token) opens a request",
        "postRequest",
        json_content("Seen before with this Idempotency-Key: the same request", _RECEIPT),
        errors=(400, 401, 403, 409, 413, 415, 429),
        secured=False,
    )
    op["responses"]["201"] = json_content("Created", _RECEIPT)
    op["responses"]["303"] = {"description": "A plain HTML form of a site with a redirect"}
    op["security"] = [{}, {"bearer": []}]
    op["parameters"] = [
        {"name": name, "in": "header", "required": False, "schema": _TEXT, "description": text}
        for name, text in (
            (IDEMPOTENCY_HEADER, "required (or the hidden field idempotency_key)"),
            (SITE_HEADER, "the site's form key (or the hidden field site)"),
        )
    ]
    op["requestBody"] = {
        "required": True,
        "content": {JSON: {"schema": _FORM_BODY}, FORM: {"schema": _FORM_BODY}},
    }
    return op


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/requests": {
        "post": _post_request(),
        "options": {
            "summary": "CORS preflight for the sites' origins",
            "operationId": "preflightRequest",
            "responses": {"204": {"description": "Allowed"}, "403": json_content("No", ERROR)},
        },
    },
}
