"""The screens' pages and files: `/desk/` and `/wall/` (HTML in the language the browser asks
for, zh or en), their scripts and style under `/screens/static/`. Every answer carries a strict
Content-Security-Policy (scripts and styles from this daemon only, no inline script, no
framing); a page refers to its files with `?v=<digest of the file>`, so that a file is cached for
a year and a new version is fetched at once."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiohttp import web

from frontdesk.router.http.errors import Handler

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
LANGS = ("en", "zh")
PAGES = {"desk": "desk.html", "wall": "wall.html"}
_ASSET = re.compile(r'"/screens/static/([\w.-]+)"')
YEAR_S = 365 * 86400


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    version: str  # the first 12 hex digits of the content's sha256


@cache
def asset(name: str) -> Asset | None:
    """A file of static/ by its plain name (nothing else is served)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        return None
    body = path.read_bytes()
    return Asset(body, TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:12])


@cache
def _page(name: str) -> str:
    """The page's HTML with each of its files' references versioned."""
    found = asset(name)
    assert found is not None, name

    def versioned(m: re.Match[str]) -> str:
        file = asset(m[1])
        return f'"/screens/static/{m[1]}?v={file.version}"' if file else m[0]

    return _ASSET.sub(versioned, found.body.decode())


def language(request: web.Request) -> str:
    """`?lang=`, else the first of zh and en in Accept-Language by its weights; else en."""
    asked = request.query.get("lang")
    if asked in LANGS:
        return asked
    best, best_q = "en", 0.0
    for i, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        q -= i * 1e-6  # equal weights: the first listed wins
        if base in LANGS and q > best_q:
            best, best_q = base, q
    return best


def policy(request: web.Request) -> str:
    """Scripts, styles, images and fetches from this daemon only; its sockets for the desk."""
    host = request.host
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host} wss://{host}; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def _guarded(response: web.Response, request: web.Request) -> web.Response:
    response.headers["Content-Security-Policy"] = policy(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def page(screen: str) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        html = _page(PAGES[screen]).replace('<html lang="en"', f'<html lang="{language(request)}"')
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Vary"] = "Accept-Language"
        return _guarded(response, request)

    return serve


def to_page(screen: str) -> Handler:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"/{screen}/")

    return redirect


async def static(request: web.Request) -> web.StreamResponse:
    """GET /screens/static/{name}: for a year when asked with its current `?v=`, else revalidated
    by its ETag."""
    name = request.match_info["name"]
    found = asset(name)
    if found is None:
        raise web.HTTPNotFound(text=f"no screens file {name[:100]!r}")
    etag = f'"{found.version}"'
    if request.headers.get("If-None-Match") == etag:
        return _guarded(web.Response(status=304, headers={"ETag": etag}), request)
    response = web.Response(body=found.body, content_type=found.content_type, charset="utf-8")
    response.headers["ETag"] = etag
    fresh = request.query.get("v") == found.version
    response.headers["Cache-Control"] = (
        f"public, max-age={YEAR_S}, immutable" if fresh else "no-cache"
    )
    return _guarded(response, request)
