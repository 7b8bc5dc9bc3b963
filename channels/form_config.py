"""The form channel's config (`channels.form`): the sites whose forms post to us, each with its
key's digest, origins, entry point and redirect; the body limit and default country. Parsed with
every problem named by its YAML path; the channel itself is channels/form.py."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frontdesk.channels.fields import check_country, check_size
from frontdesk.router.conf.yaml import Checker, Path

DEFAULT_MAX_BODY = 64 * 1024
MAX_BODY_LIMIT = 1024 * 1024
_KEY = r"[A-Za-z0-9_.-]{8,128}"
_ORIGIN = re.compile(
    r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?/?", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


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


def form_site_origin(channels: Mapping[str, Any], origin: str) -> bool:
    """Whether `origin` is one of the form sites' in these channel settings (CORS for the
    status lookup, which any channel's receipt links to)."""
    form = channels.get("form")
    return isinstance(form, FormSettings) and form.knows_origin(origin)
