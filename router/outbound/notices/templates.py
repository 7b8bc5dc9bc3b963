"""The texts of customer notices: templates per language and notice, the shipped ones in
`config/notices.yaml` with the operator's `notices.templates` laid over them, the language each
customer gets, and rendering with the placeholders checked at load."""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from dataclasses import dataclass
from string import Formatter
from typing import Any

from frontdesk.queues.events import EventType
from frontdesk.router.conf.files import shipped
from frontdesk.router.conf.yaml import Checker, Lines, Path, load_yaml, merge

SHIPPED_PATH = shipped("notices.yaml")

KINDS = ("enqueued", "assigned", "completed", "abandoned", "late", "survey", "progress")
KIND_OF = {
    EventType.ENQUEUED: "enqueued",
    EventType.ASSIGNED: "assigned",
    EventType.ACCEPTED: "assigned",
    EventType.COMPLETED: "completed",
    EventType.ABANDONED: "abandoned",
    EventType.SLA_BREACHED: "late",  # when the policy's actions say notify_customer
    EventType.SLA_WARNING: "late",
    EventType.ESCALATED: "progress",  # when notices.progress.on names it
    EventType.TRANSFERRED: "progress",
    EventType.LONG_WAIT: "progress",
}
COMMON = ("request_id", "subject", "status_url", "customer_name", "queue")
PLACEHOLDERS = {
    "enqueued": COMMON,
    "assigned": (*COMMON, "agent"),
    "completed": (*COMMON, "agent", "resolution", "summary"),
    "abandoned": COMMON,
    "late": (*COMMON, "target", "next_step"),  # a service-level target breached (or warned)
    "survey": (*COMMON, "survey_url"),  # after completed, when `surveys:` asks the request
    "progress": (*COMMON, "progress"),  # escalated, transferred, a long wait (notices.progress)
}
ALL_PLACEHOLDERS = frozenset(p for names in PLACEHOLDERS.values() for p in names)
FIELDS = ("subject", "text", "html", "message")
REQUIRED_FIELDS = ("subject", "text", "message")
DEFAULT_RESOLUTION = "default"
_FALLBACKS = {
    "customer_fallback": "{customer_name} when the customer gave no name",
    "agent_fallback": "{agent} when the agent's name is not known",
}
_LANGUAGE_KEYS = (*KINDS, "resolutions", "summary", "progress_words", *_FALLBACKS)
PROGRESS = ("escalated", "transferred", "long_wait")
LANGUAGE_TAG = r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z]")
_SAMPLE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Template:
    """One notice in one language."""

    subject: str
    text: str
    message: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Language:
    """Every notice in one language, and the words it needs besides."""

    code: str
    notices: dict[str, Template]  # kind -> template
    resolutions: dict[str, str]  # normalized resolution code -> text; always has "default"
    customer_fallback: str  # {customer_name} when the customer gave no name
    agent_fallback: str  # {agent} when the agent's name is not known
    summary: str = "{summary}"  # how {summary} shows the agent's own summary ("" when none)
    progress: dict[str, str] = dataclasses.field(default_factory=dict)  # {progress}: its words

    def summary_text(self, summary: str | None) -> str:
        """{summary}: the agent's summary in this language's words; "" when there is none."""
        said = " ".join((summary or "").split())
        return self.summary.replace("{summary}", said) if said else ""

    def resolution(self, code: str | None) -> str:
        """The text for a resolution code; the `default` text for any other (codes are the
        agents' own words: never shown to the customer as they are)."""
        return self.resolutions.get(resolution_key(code or ""), self.resolutions["default"])


@dataclass(frozen=True, slots=True)
class Rendered:
    """One notice ready to send."""

    language: str
    subject: str
    text: str
    message: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Templates:
    """The notices in every configured language."""

    languages: dict[str, Language]  # lower-case tag -> language
    default: str

    def choose(self, tag: str | None, sample: str = "", guess: bool = True) -> Language:
        """The language for a request: its tag (exact, else its primary subtag: zh-CN -> zh),
        else with `guess` the script of `sample` (the request's text), else the default."""
        wanted = normalize_tag(tag)
        if wanted:
            for candidate in (wanted, wanted.split("-")[0]):
                if candidate in self.languages:
                    return self.languages[candidate]
        elif guess and (found := guess_language(sample)) in self.languages:
            return self.languages[found]
        return self.languages[self.default]

    def render(self, language: Language, kind: str, values: dict[str, str]) -> Rendered:
        """The notice `kind` in `language` with `values` for its placeholders."""
        t = language.notices[kind]
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        subject = " ".join(t.subject.format_map(values).split())
        return Rendered(
            language=language.code,
            subject=subject,
            text=t.text.format_map(values),
            message=t.message.format_map(values).strip(),
            html=t.html.format_map(escaped) if t.html is not None else None,
        )


def normalize_tag(tag: str | None) -> str:
    """`zh_CN ` -> `zh-cn`; "" for nothing."""
    return (tag or "").strip().casefold().replace("_", "-")


def resolution_key(code: str) -> str:
    """`No Response`, `no-response` -> `no_response`."""
    return re.sub(r"[\s-]+", "_", code.strip().casefold())


def guess_language(sample: str) -> str | None:
    """`zh`, `ja` or `ko` when the text is written mostly in that script (Han without kana is
    Chinese); None for anything else (Latin letters included: which language is not told)."""
    sample = sample[:_SAMPLE_CHARS]
    han, kana, hangul = (len(p.findall(sample)) for p in (_HAN, _KANA, _HANGUL))
    letters = han + kana + hangul + len(_LATIN.findall(sample))
    if not letters:
        return None
    if kana and (han + kana) * 5 >= letters:
        return "ja"
    if hangul * 5 >= letters:
        return "ko"
    if han * 5 >= letters:
        return "zh"
    return None


def placeholders(template: str) -> list[str]:
    """The placeholder names in a template; ValueError for a malformed one (an unbalanced brace,
    a conversion such as {x!r}, a format such as {x:>8})."""
    names = []
    for _, name, spec, conversion in Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"{{{name}...}}: write placeholders as plain {{name}}")
        names.append(name)
    return names


# -- config ------------------------------------------------------------------------------------
@functools.cache
def _shipped() -> tuple[Any, Lines]:
    return load_yaml(SHIPPED_PATH.read_text(encoding="utf-8"), str(SHIPPED_PATH))


def _rooted(lines: Lines, path: Path) -> Lines:
    """The shipped file's lines as if its `notices:` stood at `path`."""
    out = Lines(lines.source)
    out.at = {(*path, *p[1:]): n for p, n in lines.at.items() if p[:1] == ("notices",)}
    return out


def parse_templates(
    check: Checker, raw: object, path: Path, kinds: tuple[str, ...], default: str
) -> Templates | None:
    """The shipped templates with `raw` (the operator's `templates` under `path`) laid over them.
    Every language must give every notice of `kinds`; every problem goes to `check` with its path
    and line (in the operator's file, or in the shipped file for what comes from there)."""
    where = (*path, "templates")
    data, lines = _shipped()
    overrides = check.mapping(where, raw)
    merged = merge(data["notices"]["templates"], overrides)
    sub = Checker(check.lines, _rooted(lines, path))
    languages: dict[str, Language] = {}
    for code, body in sub.mapping(where, merged).items():
        at = (*where, code)
        if not re.fullmatch(LANGUAGE_TAG, code):
            sub.error(at, f"{code!r} is not a language tag such as zh, en or zh-TW")
            continue
        language = _language(sub, at, normalize_tag(code), body, kinds)
        if language is not None:
            languages[language.code] = language
    if normalize_tag(default) not in {normalize_tag(c) for c in merged}:
        known = ", ".join(sorted(merged))
        check.error((*path, "language"), f"no templates for {default!r}; there are: {known}")
    check.problems.extend(sub.problems)
    if sub.problems or normalize_tag(default) not in languages:
        return None
    return Templates(languages, normalize_tag(default))


def _language(
    check: Checker, path: Path, code: str, raw: object, kinds: tuple[str, ...]
) -> Language | None:
    before = len(check.problems)
    body = check.mapping(path, raw, _LANGUAGE_KEYS)
    notices = {}
    for kind in KINDS:
        if kind not in body:
            if kind in kinds:
                check.error(path, f"no {kind} notice: give one (subject, text, message)")
            continue
        notice = _notice(check, (*path, kind), kind, body[kind])
        if notice is not None:
            notices[kind] = notice
    resolutions = {}
    for key, value in check.mapping((*path, "resolutions"), body.get("resolutions")).items():
        if check.string((*path, "resolutions", key), value) is not None:
            resolutions[resolution_key(key)] = value.strip()
    if DEFAULT_RESOLUTION not in resolutions:
        check.error((*path, "resolutions"), "give a `default` text for other resolution codes")
    fallbacks: list[str | None] = []
    for name, meaning in _FALLBACKS.items():
        if name not in body:
            check.error(path, f"needs {name}: {meaning}")
            fallbacks.append(None)
        else:
            fallbacks.append(check.string((*path, name), body[name]))
    summary = check.string((*path, "summary"), body.get("summary", "{summary}"))
    if summary is not None and "{summary}" not in summary:
        check.error((*path, "summary"), "must hold {summary}: where the agent's words go")
    words = {}
    for key, value in check.mapping((*path, "progress_words"), body.get("progress_words")).items():
        if check.choice((*path, "progress_words", key), key, PROGRESS) is not None:
            words[key] = check.string((*path, "progress_words", key), value) or ""
    if len(check.problems) > before or None in fallbacks or summary is None:
        return None
    customer, agent = (str(f).strip() for f in fallbacks)
    return Language(code, notices, resolutions, customer, agent, summary, words)


def parse_resolutions(
    check: Checker, raw: object, path: Path, templates: Templates | None
) -> tuple[Templates | None, frozenset[str] | None]:
    """`notices.resolutions: {code: {en: text, zh: text}}` laid over the templates' own
    resolutions; with it, the codes an agent may complete with are these (and the shipped ones),
    any other is refused at the API. A language a code does not give says the default
    language's text. None for the codes: the section is absent, any code goes."""
    if raw is None or templates is None:
        return templates, None
    codes: dict[str, dict[str, str]] = {}
    for code, texts in check.mapping(path, raw).items():
        at = (*path, code)
        if len(code) > 200:
            check.error(at, "a resolution code is at most 200 characters")
            continue
        given = {}
        for tag, value in check.mapping(at, texts).items():
            if normalize_tag(tag) not in templates.languages:
                check.error((*at, tag), f"no templates for {tag!r}; there are: "
                            + ", ".join(sorted(templates.languages)))  # fmt: skip
            elif (said := check.string((*at, tag), value)) is not None:
                given[normalize_tag(tag)] = said.strip()
        if isinstance(texts, dict) and templates.default not in given:
            check.error(at, f"needs the text in {templates.default} (the default language)")
        codes[resolution_key(code)] = given
    languages = {}
    for tag, language in templates.languages.items():
        extra = {c: t.get(tag) or t.get(templates.default, "") for c, t in codes.items()}
        merged = language.resolutions | extra
        languages[tag] = dataclasses.replace(language, resolutions=merged)
    known = frozenset(k for lang in languages.values() for k in lang.resolutions)
    return Templates(languages, templates.default), known - {DEFAULT_RESOLUTION}


def _notice(check: Checker, path: Path, kind: str, raw: object) -> Template | None:
    body = check.mapping(path, raw, FIELDS)
    if raw is not None and not isinstance(raw, dict):
        return None
    texts: dict[str, str] = {}
    for name in FIELDS:
        value = body.get(name)
        if value is None:
            if name in REQUIRED_FIELDS:
                check.error(path, f"needs {name}")
            continue
        checked = _template(check, (*path, name), kind, value)
        if checked is not None:
            texts[name] = checked
    subject = texts.get("subject")
    if subject is not None and "\n" in subject.strip():
        check.error((*path, "subject"), "a subject is one line")
        return None
    if any(name not in texts for name in REQUIRED_FIELDS):
        return None
    return Template(texts["subject"], texts["text"], texts["message"], texts.get("html"))


def _template(check: Checker, path: Path, kind: str, value: object) -> str | None:
    text = check.string(path, value)
    if text is None:
        return None
    try:
        names = placeholders(text)
    except ValueError as exc:
        check.error(path, f"not a template: {exc} (a literal brace is written {{{{ or }}}})")
        return None
    allowed = PLACEHOLDERS[kind]
    listed = ", ".join(f"{{{n}}}" for n in allowed)
    for name in dict.fromkeys(names):
        if name in allowed:
            continue
        if name in ALL_PLACEHOLDERS:
            check.error(path, f"{{{name}}} has no value in a {kind} notice; use {listed}")
        else:
            check.error(path, f"unknown placeholder {{{name}}}; use {listed}")
        return None
    return text
