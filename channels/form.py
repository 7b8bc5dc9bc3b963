"""The web form and other systems (config key `form`).

    POST /v1/requests                       a web form (site key) or a system (bearer token)
    OPTIONS /v1/requests                    CORS preflight for the sites' origins
    GET /v1/requests/{id}/status?token=...  the customer's own view of their request

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
import hmac
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
    check_country,
    check_size,
    email_address,
    form_attributes,
    invalid,
    language_tag,
    media_type,
    parse_body,
    phone_field,
    read_body,
    refuse_unknown,
    text_field,
)
from frontdesk.queues.request import Channel, Customer, Request, Scalar
from frontdesk.queues.states import State
from frontdesk.router.api import status_page
from frontdesk.router.api.keys import DAEMON
from frontdesk.router.api.requests import standing  # moves with the status lookup
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.http.auth import Scope, caller, public
from frontdesk.router.http.errors import Handler, Refusal, allow_origin, retry_after
from frontdesk.router.http.openapi import ERROR, json_content, operation
from frontdesk.router.http.views import status_path

SITE_HEADER = "X-Frontdesk-Site"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_MAX_BODY = 64 * 1024
MAX_BODY_LIMIT = 1024 * 1024
FIELDS = {"name", "email", "phone", "subject", "body", "category", "language", "attributes"}
HIDDEN = ("site", "idempotency_key")  # a plain HTML form cannot send headers
LIMITS = {"name": 200, "email": 254, "phone": 40, "subject": 300, "body": 20_000}
DIGEST_ATTRIBUTE = "form_digest"
_POSTERS = (Scope.INTEGRATION, Scope.SUPERVISOR, Scope.ADMIN)
_KEY = r"[A-Za-z0-9_.-]{8,128}"
_IDEMPOTENCY = re.compile(r"[\x21-\x7e]{1,128}")
_CATEGORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_ORIGIN = re.compile(
    r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?/?", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_CORS = {
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": f"Content-Type, {IDEMPOTENCY_HEADER}, {SITE_HEADER}",
    "Access-Control-Max-Age": "600",
}


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` lower-cased, without a default port; None when not an origin."""
    m = _ORIGIN.fullmatch(origin.strip())
    if not m:
        return None
    scheme, host, port = m[1].lower(), m[2].lower(), m[3]
    if port is not None and not 0 < int(port) < 65536:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return f"{scheme}://{host}" + (f":{port}" if port else "")


@dataclass(frozen=True, slots=True)
class Site:
    """A web site whose form posts to us."""

    key_sha256: str  # the key itself is public (it is in the page), but need not be kept
    origins: frozenset[str]
    entry_point: str = "form"
    redirect: str | None = None

    @property
    def id(self) -> str:
        """A short name for the site's idempotency namespace."""
        return self.key_sha256[:16]


@dataclass(frozen=True, slots=True)
class FormSettings:
    sites: tuple[Site, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    default_country: str | None = None

    def site(self, key: str) -> Site | None:
        """The site with this key, comparing every site's digest in constant time."""
        presented = hashlib.sha256(key.encode()).hexdigest().encode()
        found = None
        for site in self.sites:
            if hmac.compare_digest(presented, site.key_sha256.encode()):
                found = site
        return found

    def knows_origin(self, origin: str) -> bool:
        normalized = normalize_origin(origin)
        return normalized is not None and any(normalized in s.origins for s in self.sites)


# -- config ---------------------------------------------------------------------------------------
def parse_config(check: Checker, raw: object, path: Path, queues: set[str]) -> FormSettings | None:
    c = check.mapping(path, raw, ["sites", "max_body", "default_country"])
    max_body = check_size(
        check, (*path, "max_body"), c.get("max_body", DEFAULT_MAX_BODY), 1024, MAX_BODY_LIMIT
    )
    country = None
    if c.get("default_country") is not None:
        country = check_country(check, (*path, "default_country"), c["default_country"])
    sites = []
    seen: dict[str, int] = {}
    for i, body in enumerate(check.sequence((*path, "sites"), c.get("sites"))):
        where: Path = (*path, "sites", i)
        s = check.mapping(where, body, ["key", "origins", "entry_point", "redirect"])
        if not isinstance(body, dict):
            continue
        key = check.string((*where, "key"), s.get("key"), _KEY)
        if key is not None and key in seen:
            check.error((*where, "key"), f"is the same key as sites[{seen[key]}]")
            key = None
        elif key is not None:
            seen[key] = i
        origins = set()
        listed = check.sequence((*where, "origins"), s.get("origins"))
        if not listed:
            check.error((*where, "origins"), "list the origins the form is served from")
        for j, text in enumerate(listed):
            origin = normalize_origin(text) if isinstance(text, str) else None
            if origin is None:
                check.error(
                    (*where, "origins", j),
                    f"{text!r} is not an origin such as https://www.example.com",
                )
            else:
                origins.add(origin)
        entry_point = check.string(
            (*where, "entry_point"), s.get("entry_point", "form"), r"\S{1,128}"
        )
        redirect = s.get("redirect")
        if redirect is not None:
            redirect = check.string((*where, "redirect"), redirect, r"https?://\S{1,2000}")
        if key and origins and entry_point and (redirect or s.get("redirect") is None):
            digest = hashlib.sha256(key.encode()).hexdigest()
            sites.append(Site(digest, frozenset(origins), entry_point, redirect))
    if max_body is None:
        return None
    return FormSettings(tuple(sites), max_body, country)


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
    """Form posts and status lookups on the daemon's HTTP listener."""

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
        wait = await self.context.admit(form.email or form.phone, request.remote)
        if wait is not None:
            raise Refusal(
                429, "rate_limited", "too many requests; try again later",
                headers={"Retry-After": retry_after(wait)},
            )  # fmt: skip
        receipt = await self.context.receive(
            Inbound(
                Request(
                    id="",
                    channel=Channel.FORM,
                    queue="",
                    external_id=f"{namespace}:{key}",
                    entry_point=entry_point,
                    customer=Customer(name=form.name, email=form.email, phone=form.phone),
                    subject=form.subject,
                    body=form.body,
                    language=form.language,
                    category=form.category,
                    received_at=time.time(),
                    attributes={**form.attributes, DIGEST_ATTRIBUTE: form.digest},
                )
            )
        )
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


async def _status(request: web.Request) -> web.StreamResponse:
    """The customer's view: state, queue position, estimated wait, and the agent's display
    name once one works on it. A wrong token is answered as if there were no such request."""
    request_id = request.match_info["id"]
    token = request.query.get("token")
    if not token:
        raise Refusal(400, "missing", "token: is required", "token")
    browser = status_page.wants_html(request)
    unknown = Refusal(404, "not_found", "no such request, or the token does not match it")
    daemon = request.app[DAEMON]
    known = _printable(request_id, 64) and _printable(token, 128)
    if not (known and daemon.front.check_status_token(request_id, token)):
        if browser:
            return status_page.not_found(status_page.language(request))
        raise unknown
    record = await daemon.store.get(request_id)
    if record is None:
        if browser:
            return status_page.not_found(status_page.language(request))
        raise unknown
    agent = None
    if record.agent and record.state in (State.ASSIGNED, State.COMPLETED):
        profile = await daemon.agents.get(record.agent)
        agent = profile.name if profile is not None else None
    where = await standing(request, record)
    view = {
        "id": record.request.id,
        "state": record.state.value,
        "position": where["position"],
        "estimated_wait_s": where["estimated_wait_s"],
        "agent": agent,
    }
    if browser:  # the link in a notice, opened in a browser
        return status_page.page(view, status_page.language(request, record.request.language))
    return web.json_response(view)


def _configured(request: web.Request) -> FormSettings | None:
    found = request.app[DAEMON].settings.channels.get("form")
    return found if isinstance(found, FormSettings) else None


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


status_lookup = _public(_status, _configured)
"""`GET /v1/requests/{id}/status?token=...`, for any channel's request (public)."""


def _printable(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and all("\x21" <= c <= "\x7e" for c in text)


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
_STATUS: dict[str, Any] = {
    "type": "object",
    "required": ["id", "state", "position", "estimated_wait_s", "agent"],
    "properties": {
        "id": _TEXT,
        "state": {"enum": [s.value for s in State]},
        "position": {"type": ["integer", "null"], "description": "1-based, while waiting"},
        "estimated_wait_s": {"type": ["number", "null"]},
        "agent": {"type": ["string", "null"], "description": "the agent's display name"},
    },
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


def _get_status() -> dict[str, Any]:
    op = operation(
        "The customer's view of their request (with the status token from the receipt)",
        "getRequestStatus",
        json_content("Where the request stands", _STATUS)
        | {
            "content": {
                **json_content("", _STATUS)["content"],
                "text/html": {"schema": {"type": "string"}},
            }
        },
        path_params=("id",),
        errors=(400, 404),
        secured=False,
    )
    op["parameters"].append({"name": "token", "in": "query", "required": True, "schema": _TEXT})
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
    "/v1/requests/{id}/status": {"get": _get_status()},
}
