"""The daemon's settings: the shipped defaults with the operator's YAML laid over them, checked
in full before anything starts. Every problem is reported with its YAML path and line."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from frontdesk.queues.request import Channel
from frontdesk.queues.store import StoreSettings
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.calendar_config import parse_calendars
from frontdesk.router.conf.callback_config import CallbackSettings, parse_callbacks
from frontdesk.router.conf.escalation import EscalationSettings, parse_escalation
from frontdesk.router.conf.files import shipped
from frontdesk.router.conf.hours import resolve_calendar
from frontdesk.router.conf.yaml import NAME, Checker, ConfigError, Lines, Problem, load_yaml, merge
from frontdesk.router.daemon.redis_config import (
    REDIS_KEYS,
    MetricsSettings,
    RedisSettings,
    parse_metrics,
    parse_redis,
)
from frontdesk.router.feedback.config import SurveySettings, parse_surveys
from frontdesk.router.feedback.followups import FollowUpSettings, parse_follow_ups
from frontdesk.router.http.auth import ApiToken, Scope
from frontdesk.router.intake.config import (
    Limit,
    Limits,
    parse_customer_lists,
    parse_limits,
    parse_reopen,
    parse_rules,
)
from frontdesk.router.intake.rules import CustomerLists, Rule
from frontdesk.router.outbound.helpdesks.base import HelpdeskSettings
from frontdesk.router.outbound.helpdesks.config import parse_helpdesks
from frontdesk.router.outbound.notices.config import NoticeSettings, parse_notices
from frontdesk.router.outbound.webhooks import WebhookEndpoint, parse_webhooks
from frontdesk.router.quality.config import QualitySettings, parse_quality
from frontdesk.router.routing.config import QueueSettings, parse_queues
from frontdesk.router.routing.presence_config import parse_presence
from frontdesk.router.sla.config import parse_sla
from frontdesk.router.sla.policy import SlaSettings
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL, TIERS, Agent, Presence

DEFAULTS_PATH = shipped("defaults.yaml")
CHANNELS = [c.value for c in Channel]

_TOP = [
    *("tenant", "redis", "http", "retention", "events", "offers"),
    *("queue_defaults", "default_queue", "skills", "queues", "agents", "customers", "rules"),
    *("api", "limits", "channels", "helpdesks", "notices", "metrics", "presence", "calendars"),
    "surveys",
    "follow_ups",
    "sla",
    "quality",
    "reopen_within",
    "escalation",
    "callbacks",
]
_AGENT = ["id", "name", "tier", "groups", "skills", "capacity", "presence"]


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str
    port: int
    body_timeout_s: float = 30.0  # a request's whole body must arrive within this, else 408
    idle_timeout_s: float = 75.0  # a connection without a complete request for this is closed


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the daemon reads from its config file."""

    source: str
    tenant: str
    redis: RedisSettings
    http: HttpSettings
    store: StoreSettings
    default_queue: str
    skills: dict[str, str]
    queues: dict[str, QueueSettings]
    agents: tuple[Agent, ...] = field(default=())
    rules: tuple[Rule, ...] = ()
    customers: CustomerLists = field(default_factory=CustomerLists)
    api_tokens: tuple[ApiToken, ...] = ()
    limits: Limits = field(default_factory=Limits)
    channels: dict[str, Any] = field(default_factory=dict)  # name -> the channel's own settings
    helpdesks: tuple[HelpdeskSettings[Any], ...] = ()
    notices: NoticeSettings | None = None
    webhooks: tuple[WebhookEndpoint, ...] = ()  # events.webhooks
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    presence_grace_s: float = 0.0  # presence.grace: unheard this long, an agent is let go
    calendars: dict[str, Calendar] = field(default_factory=dict)  # business calendars by name
    sla: SlaSettings = field(default_factory=SlaSettings)  # service-level policies
    surveys: SurveySettings = field(default_factory=SurveySettings)  # satisfaction surveys
    follow_ups: FollowUpSettings = field(default_factory=FollowUpSettings)  # follow-up calls
    quality: QualitySettings = field(default_factory=QualitySettings)  # the daily review sample
    reopen_within: dict[str, float] = field(default_factory=dict)  # channel -> s (intake/config)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)  # reason codes
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)  # missed calls' retry

    def sticky_for(self, queue: str) -> float:
        """The queue's sticky window in seconds (queues.<q>.sticky.within; 0 none)."""
        found = self.queues.get(queue)
        return found.routing.sticky_s if found is not None else 0.0

    @property
    def callback_hours(self) -> Calendar | None:
        """The working hours phone callbacks are made in: the phone channel's, if it has any."""
        hours = getattr(self.channels.get("phone"), "working_hours", None)
        return hours if isinstance(hours, Calendar) else None


def _defaults() -> tuple[dict[str, Any], Lines]:
    data, lines = load_yaml(DEFAULTS_PATH.read_text(encoding="utf-8"), str(DEFAULTS_PATH))
    return data, lines


def load_settings(path: str | Path) -> Settings:
    """Read and check the config at `path`; raises ConfigError listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, (), f"cannot read: {exc.strerror}")]) from exc
    return parse_settings(text, str(path))


def parse_settings(text: str, source: str, checker: type[Checker] = Checker) -> Settings:
    """`checker`: the one the checks are made with (the schema's tracer listens to them)."""
    data, lines = load_yaml(text, source)
    base, base_lines = _defaults()
    check = checker(lines, base_lines)
    top = check.mapping((), data, _TOP)
    if data is not None and not isinstance(data, dict):
        check.raise_if_any()
    merged = merge(base, top)
    settings = _build(check, merged)
    check.raise_if_any()
    assert settings is not None
    return settings


def _build(check: Checker, d: dict[str, Any]) -> Settings | None:
    tenant = check.string(("tenant",), d.get("tenant"), NAME)
    redis = parse_redis(check, check.mapping(("redis",), d.get("redis"), REDIS_KEYS))
    http = check.mapping(("http",), d.get("http"), ["host", "port", *_HTTP_TIMEOUTS])
    host = check.string(("http", "host"), http.get("host"))
    port = check.integer(("http", "port"), http.get("port"), 0, 65535)
    body_timeout, idle_timeout = (_http_timeout(check, k, http.get(k)) for k in _HTTP_TIMEOUTS)
    store = _store(check, d)
    skills = _skills(check, d.get("skills"))
    queues = parse_queues(check, d)
    default_queue = check.string(("default_queue",), d.get("default_queue"))
    defined = d.get("queues")
    if default_queue and default_queue not in (defined if isinstance(defined, dict) else {}):
        check.error(("default_queue",), f"names no queue defined under queues: {default_queue!r}")
    agents = _agents(check, d.get("agents"), skills)
    agent_ids = {
        a["id"]
        for a in d.get("agents") or []
        if isinstance(a, dict) and isinstance(a.get("id"), str)
    }
    queue_names = set(defined) if isinstance(defined, dict) else set()
    calendars = parse_calendars(check, d.get("calendars"))
    rules = parse_rules(
        check, d.get("rules"), queues=queue_names, skills=set(skills), agents=agent_ids,
        calendars=calendars,
    )  # fmt: skip
    customers = parse_customer_lists(check, d.get("customers"))
    tokens = _tokens(check, d.get("api"), agent_ids)
    limits = parse_limits(check, d.get("limits"))
    reopen_within = parse_reopen(check, d.get("reopen_within"))
    channels = _channels(check, d.get("channels"), queue_names, calendars)
    helpdesks = parse_helpdesks(check, d.get("helpdesks"), agent_ids=agent_ids)
    notices = parse_notices(check, d.get("notices"))
    events = d.get("events")
    raw_webhooks = events.get("webhooks") if isinstance(events, dict) else None
    webhooks = parse_webhooks(check, raw_webhooks, ("events", "webhooks"))
    metrics = parse_metrics(check, d.get("metrics"))
    grace = parse_presence(check, d.get("presence"))
    sla = parse_sla(check, d.get("sla"), queues=queue_names, calendars=calendars)
    surveys = parse_surveys(check, d.get("surveys"), queue_names)
    follow_ups = parse_follow_ups(check, d.get("follow_ups"), queue_names, set(calendars))
    quality = parse_quality(check, d.get("quality"), calendars)
    escalation = parse_escalation(check, d.get("escalation"))
    callbacks = parse_callbacks(check, d.get("callbacks"))
    if check.problems:
        return None
    assert tenant and host and port is not None and default_queue and redis and store
    assert body_timeout is not None and idle_timeout is not None
    assert grace is not None and quality is not None  # else a problem was reported above
    wait_ms = int(redis.wait_timeout_s * 1000)
    store = replace(store, wait_replicas=redis.wait_replicas, wait_timeout_ms=wait_ms)
    return Settings(
        source=check.lines.source,
        tenant=tenant,
        redis=redis,
        http=HttpSettings(host, port, body_timeout, idle_timeout),
        store=store,
        default_queue=default_queue,
        skills=skills,
        queues=queues,
        agents=agents,
        rules=rules,
        customers=customers,
        api_tokens=tokens,
        limits=limits,
        channels=channels,
        helpdesks=helpdesks,
        notices=notices,
        webhooks=webhooks,
        metrics=metrics,
        presence_grace_s=grace,
        calendars=calendars,
        sla=sla,
        surveys=surveys,
        follow_ups=follow_ups,
        quality=quality,
        escalation=escalation,
        callbacks=callbacks,
        reopen_within=reopen_within,
    )


_HTTP_TIMEOUTS = ("body_timeout", "idle_timeout")


def _http_timeout(check: Checker, key: str, value: object) -> float | None:
    """`http.body_timeout` or `http.idle_timeout`: from 1s to 1h."""
    seconds = check.duration(("http", key), value)
    if seconds is not None and not 1 <= seconds <= 3600:
        check.error(("http", key), f"must be from 1s to 1h, got {value!r}")
        return None
    return seconds


def _store(check: Checker, d: dict[str, Any]) -> StoreSettings | None:
    keeps = ["idempotency", "records", "dead_letters"]
    retention = check.mapping(("retention",), d.get("retention"), keeps)
    events = check.mapping(("events",), d.get("events"), ["max_length", "webhooks"])
    offers = check.mapping(("offers",), d.get("offers"), ["max_missed_in_a_row"])
    raw_records = retention.get("records")
    important: float | None = None
    if isinstance(raw_records, dict):  # per class: {normal: 90d, important: 180d}
        by_class = check.mapping(("retention", "records"), raw_records, ["normal", "important"])
        where = ("retention", "records")
        raw_records = by_class.get("normal", "90d")
        important = check.duration((*where, "important"), by_class.get("important", "180d"))
        retention = {**retention, "records": raw_records}
    kept = {name: check.duration(("retention", name), retention.get(name)) for name in keeps}
    maxlen = check.integer(("events", "max_length"), events.get("max_length"), 1000)
    missed = check.integer(
        ("offers", "max_missed_in_a_row"), offers.get("max_missed_in_a_row"), 0, 1000
    )
    for name in ("idempotency", "dead_letters"):  # records: 0 keeps them for ever
        value = kept[name]
        if value is not None and value < 1:
            check.error(("retention", name), "must be at least 1s")
            kept[name] = None
    ttl, records, dead = kept["idempotency"], kept["records"], kept["dead_letters"]
    if ttl is None or records is None or dead is None or maxlen is None or missed is None:
        return None
    return StoreSettings(
        int(ttl), maxlen, max(TIERS), missed, int(dead), int(records),
        int(important) if important is not None else None,
    )  # fmt: skip


def _skills(check: Checker, value: object) -> dict[str, str]:
    """`skills` is a list of names, or a mapping name -> description."""
    if isinstance(value, list):
        return {v: "" for i, v in enumerate(value) if check.string(("skills", i), v, NAME)}
    out = {}
    for name, description in check.mapping(("skills",), value).items():
        if check.string(("skills", name), name, NAME) is None:
            continue
        if description is not None and not isinstance(description, str):
            check.error(("skills", name), "a skill's description must be text")
            continue
        out[name] = description or ""
    return out


def _agents(check: Checker, value: object, skills: dict[str, str]) -> tuple[Agent, ...]:
    agents: list[Agent] = []
    seen: dict[str, int] = {}
    for i, body in enumerate(check.sequence(("agents",), value)):
        path: tuple[str | int, ...] = ("agents", i)
        a = check.mapping(path, body, _AGENT)
        if not a and body is not None and not isinstance(body, dict):
            continue
        agent_id = check.string((*path, "id"), a.get("id"), NAME)
        if agent_id in seen:
            check.error((*path, "id"), f"{agent_id!r} is already agents[{seen[agent_id]}]")
        elif agent_id:
            seen[agent_id] = i
        name = a.get("name", agent_id)
        check.string((*path, "name"), name)
        tier = check.integer((*path, "tier"), a.get("tier", 1), min(TIERS), max(TIERS))
        raw_groups = check.sequence((*path, "groups"), a.get("groups"))
        groups = [check.string((*path, "groups", j), g, NAME) for j, g in enumerate(raw_groups)]
        levels = {}
        for skill, level in check.mapping((*path, "skills"), a.get("skills")).items():
            if skill not in skills:
                check.error((*path, "skills", skill), "not a skill listed under skills")
            elif check.integer((*path, "skills", skill), level, MIN_LEVEL, MAX_LEVEL):
                levels[skill] = level
        capacity = {}
        for channel, cap in check.mapping((*path, "capacity"), a.get("capacity"), CHANNELS).items():
            if check.integer((*path, "capacity", channel), cap, 0, 1000) is not None:
                capacity[channel] = cap
        presence = check.choice(
            (*path, "presence"), a.get("presence", "offline"), [p.value for p in Presence]
        )
        if agent_id and isinstance(name, str) and tier and presence and None not in groups:
            agents.append(
                Agent(
                    agent_id,
                    name,
                    levels,
                    capacity,
                    tier,
                    tuple(g for g in groups if g),
                    Presence(presence),
                )
            )
    return tuple(agents)


__all__ = [
    "ConfigError", "Limit", "Limits", "MetricsSettings", "QueueSettings", "RedisSettings",
    "Settings", "load_settings", "parse_settings",
]  # fmt: skip


def _tokens(check: Checker, value: object, agent_ids: set[str]) -> tuple[ApiToken, ...]:
    """`api.tokens`: name, scope, sha256 digest (from `frontdesk token create`), agent."""
    api = check.mapping(("api",), value, ["tokens"])
    tokens = []
    for i, body in enumerate(check.sequence(("api", "tokens"), api.get("tokens"))):
        path: tuple[str | int, ...] = ("api", "tokens", i)
        t = check.mapping(path, body, ["name", "scope", "sha256", "agent"])
        name = check.string((*path, "name"), t.get("name"), NAME)
        scope = check.choice((*path, "scope"), t.get("scope"), [s.value for s in Scope])
        digest = check.string((*path, "sha256"), t.get("sha256"), r"[0-9a-f]{64}")
        agent = t.get("agent")
        if scope == Scope.AGENT and agent not in agent_ids:
            check.error((*path, "agent"), f"an agent token names one of the agents, got {agent!r}")
        elif scope != Scope.AGENT and agent is not None:
            check.error((*path, "agent"), "only a token of scope agent names an agent")
        if name and scope and digest:
            tokens.append(ApiToken(name, Scope(scope), digest, agent))
    return tuple(tokens)


def _channels(
    check: Checker, value: object, queues: set[str], calendars: dict[str, Calendar]
) -> dict[str, Any]:
    """`channels.<name>`: each section parsed by its channel module; a calendar a channel
    names (the phone's `working_hours: desk`) looked up in `calendars:`."""
    from frontdesk.channels.registry import MODULES

    out = {}
    for name, body in check.mapping(("channels",), value, sorted(MODULES)).items():
        parsed = MODULES[name].parse_config(check, body, ("channels", name), queues)
        hours = getattr(parsed, "working_hours", None)
        if isinstance(hours, str):
            where = ("channels", name, "working_hours")
            parsed = replace(parsed, working_hours=resolve_calendar(check, where, hours, calendars))
        if parsed is not None:
            out[name] = parsed
    return out
