"""`helpdesks:` in the config: a list of connectors, each with the common keys and its kind's
own (parsed by the kind's module, helpdesks/<kind>.py), every problem reported with its YAML path
and line; and `create_sink`, the connector for one parsed entry."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from frontdesk.queues.request import Priority
from frontdesk.router.conf.yaml import Checker, Path, render
from frontdesk.router.outbound.helpdesks import chatwoot, freshdesk, glpi, zammad, zendesk
from frontdesk.router.outbound.helpdesks.base import ENDINGS, HelpdeskSettings, Kind
from frontdesk.router.outbound.helpdesks.inbound import INBOUND
from frontdesk.router.outbound.remote import base_url, secret_file
from frontdesk.router.outbound.sinks import Sink

# each kind's module: its options' own type is checked there, where its parser and connector meet
KINDS: dict[str, Kind[Any]] = {
    k.name: k for k in (zammad.KIND, chatwoot.KIND, zendesk.KIND, freshdesk.KIND, glpi.KIND)
}

UNMAPPED = ("dead_letter", "skip")
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"
_COMMON = (
    *("name", "kind", "url", "token", "token_file", "agents", "timeout"),
    *("states", "priorities", "tags", "unmapped_agent"),
    *("webhook_secret", "webhook_secret_file"),  # the helpdesk's own webhooks (inbound.py)
)
_MAX_TIMEOUT_S = 300.0


def create_sink(settings: HelpdeskSettings[Any]) -> Sink:
    """The connector for one `helpdesks:` entry."""
    return KINDS[settings.kind].sink(settings)


def parse_helpdesks(
    check: Checker,
    raw: object,
    path: Path = ("helpdesks",),
    agent_ids: Collection[str] | None = None,
) -> tuple[HelpdeskSettings[Any], ...]:
    """`helpdesks:`, a list of connectors; every problem goes to `check` with its path.
    With `agent_ids`, the keys of each `agents` map must be among them."""
    out: list[HelpdeskSettings[Any]] = []
    seen: dict[str, int] = {}
    for i, body in enumerate(check.sequence(path, raw)):
        where: Path = (*path, i)
        if not isinstance(body, dict):
            check.mapping(where, body)
            continue
        before = len(check.problems)
        kind_name = check.choice((*where, "kind"), body.get("kind"), tuple(KINDS))
        spec = KINDS[kind_name] if kind_name else None
        h = check.mapping(where, body, (*_COMMON, *spec.options) if spec else None)
        name = check.string((*where, "name"), h.get("name"), _NAME)
        if name in seen:
            check.error((*where, "name"), f"{name!r} is already {render((*path, seen[name]))}")
        elif name:
            seen[name] = i
        url = base_url(check, (*where, "url"), h.get("url"))
        token = _token(check, where, h)
        hook_secret = _webhook_secret(check, where, h, kind_name)
        agents = _agents(check, (*where, "agents"), h.get("agents"), agent_ids)
        timeout = check.duration((*where, "timeout"), h.get("timeout", "10s"))
        if timeout is not None and not 0 < timeout <= _MAX_TIMEOUT_S:
            check.error((*where, "timeout"), f"must be above 0 and at most {_MAX_TIMEOUT_S:g}s")
        tags = [
            t
            for j, t in enumerate(check.sequence((*where, "tags"), h.get("tags")))
            if check.string((*where, "tags", j), t) is not None
        ]
        unmapped = check.choice(
            (*where, "unmapped_agent"), h.get("unmapped_agent", "dead_letter"), UNMAPPED
        )
        priorities = states = None
        options: Any = None
        if spec is not None:
            priorities = _choices(
                check, (*where, "priorities"), h.get("priorities"), [p.value for p in Priority],
                spec.priority_choices, spec.priorities,
            )  # fmt: skip
            states = _choices(
                check, (*where, "states"), h.get("states"), list(ENDINGS.values()),
                spec.state_choices, {},
            )  # fmt: skip
            options = spec.parse_options(check, where, h)
        if len(check.problems) > before:
            continue
        assert name and kind_name and url and token and timeout and unmapped
        assert priorities is not None and states is not None and options is not None
        out.append(
            HelpdeskSettings(
                name=name,
                kind=kind_name,
                url=url,
                token=token,
                agents=agents,
                timeout_s=timeout,
                states=states,
                priorities=priorities,
                tags=tuple(tags),
                unmapped_agent=unmapped,
                options=options,
                webhook_secret=hook_secret,
            )
        )
    return tuple(out)


def _token(check: Checker, where: Path, h: dict[str, Any]) -> str | None:
    """`token`, or `token_file` (read once, relative to the config file, surrounding blanks
    dropped); exactly one of them."""
    if ("token" in h) == ("token_file" in h):
        check.error((*where, "token"), "give either token or token_file")
        return None
    if "token" in h:
        return check.string((*where, "token"), h["token"])
    return secret_file(check, (*where, "token_file"), h["token_file"])


def _webhook_secret(check: Checker, where: Path, h: dict[str, Any], kind: str | None) -> str | None:
    """`webhook_secret` or `webhook_secret_file` (at most one): what the helpdesk signs its
    webhooks with; without, POST /v1/helpdesks/<name>/webhook answers 404."""
    if "webhook_secret" in h and "webhook_secret_file" in h:
        check.error((*where, "webhook_secret"), "give webhook_secret or webhook_secret_file")
        return None
    if "webhook_secret" not in h and "webhook_secret_file" not in h:
        return None
    if kind is not None and kind not in INBOUND:
        check.error((*where, "webhook_secret"), f"a {kind} helpdesk sends no signed webhooks here")
        return None
    if "webhook_secret" in h:
        return check.string((*where, "webhook_secret"), h["webhook_secret"])
    return secret_file(check, (*where, "webhook_secret_file"), h["webhook_secret_file"])


def _agents(
    check: Checker, path: Path, value: object, agent_ids: Collection[str] | None
) -> dict[str, int]:
    out = {}
    for agent, user in check.mapping(path, value).items():
        if check.string((*path, agent), agent, _NAME) is None:
            continue
        if agent_ids is not None and agent not in agent_ids:
            check.error((*path, agent), f"names no agent defined under agents: {agent!r}")
            continue
        if check.integer((*path, agent), user, 1) is not None:
            out[agent] = cast(int, user)
    return out


def _choices(
    check: Checker,
    path: Path,
    value: object,
    keys: list[str],
    choices: tuple[str, ...] | None,
    defaults: dict[str, str],
) -> dict[str, str]:
    """A map from frontdesk's names (`keys`) to the helpdesk's (`choices`, or any text)."""
    out = dict(defaults)
    for key, target in check.mapping(path, value, keys).items():
        if choices is not None:
            if check.choice((*path, key), target, choices) is not None:
                out[key] = cast(str, target)
        elif check.string((*path, key), target) is not None:
            out[key] = cast(str, target)
    return out
