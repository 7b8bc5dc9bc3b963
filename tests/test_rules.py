"""Classification rules: conditions, actions, first match and continue, customer lists, the
example config's rules on realistic requests, broken rule configs reported with path and line."""

# Chinese text is written with full-width commas and question marks; these tests keep them.
# ruff: noqa: RUF001

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from frontdesk.queues.request import (
    Channel,
    Customer,
    Priority,
    Request,
    SkillRequirement,
)
from frontdesk.router.conf.calendar_config import parse_calendars
from frontdesk.router.conf.yaml import Checker, load_yaml, render
from frontdesk.router.intake.config import parse_customer_lists, parse_rules
from frontdesk.router.intake.rules import (
    Classification,
    CustomerFlags,
    CustomerList,
    CustomerLists,
    Rule,
    classify,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY_10 = datetime(2025, 3, 4, 10, 0, tzinfo=SHANGHAI)  # a Tuesday, in working hours
QUEUES = {"general", "chat-l1", "email-l1", "billing", "complaints", "l2"}
SKILLS = {"orders", "account", "chinese", "english", "complaints"}
AGENTS = {"li.na", "sarah"}
NOBODY = CustomerFlags()
_EXPECT = re.compile(r"^# expect: (\d+) (\S+) (.+)$", re.MULTILINE)


def rules_from(text: str) -> tuple[Rule, ...]:
    """The rules of a `rules:` YAML snippet, which must have no problems."""
    data, lines = load_yaml(text, "test.yaml")
    check = Checker(lines)
    rules = parse_rules(check, data["rules"], queues=QUEUES, skills=SKILLS, agents=AGENTS)
    check.raise_if_any()
    return rules


def req(
    channel: Channel = Channel.EMAIL, subject: str = "", body: str = "", **fields: Any
) -> Request:
    return Request("r1", channel, "intake", subject=subject, body=body, **fields)


def run(
    text: str,
    request: Request,
    flags: CustomerFlags = NOBODY,
    now: datetime = TUESDAY_10,
) -> Classification:
    return classify(request, rules_from(text), flags, now, "general")


def queue_of(text: str, request: Request, **kw: Any) -> str:
    return run(text, request, **kw).queue


ONE = "rules:\n  - name: r\n    when:\n{when}\n    then: {{queue: billing}}\n"


def matches(when: str, request: Request, **kw: Any) -> bool:
    """Whether a one-rule config with conditions `when` (YAML lines) sends `request` to billing."""
    indented = "\n".join(f"      {line}" for line in when.strip().splitlines())
    return queue_of(ONE.format(when=indented), request, **kw) == "billing"


# Conditions ------------------------------------------------------------------------------------


def test_channel_one_or_any_of_a_list() -> None:
    assert matches("channel: chat", req(Channel.CHAT))
    assert not matches("channel: chat", req(Channel.EMAIL))
    assert matches("channel: [chat, social]", req(Channel.SOCIAL))
    assert not matches("channel: [chat, social]", req(Channel.PHONE))


@pytest.mark.parametrize(
    ("pattern", "entry_point", "expected"),
    [
        ("billing@example.com", "billing@example.com", True),
        ("billing@example.com", "Billing@Example.COM", True),
        ("billing@example.com", "sales@example.com", False),
        ("'whatsapp:*'", "whatsapp:+8613800138000", True),
        ("'whatsapp:*'", "WhatsApp:+8613800138000", True),
        ("'whatsapp:*'", "wechat:o6_bmjrPTl", False),
        ("'form:refund'", "form:refund", True),
        ("'form:refund'", "form:refund-extra", False),
        ("['form:it-*', it@example.com]", "form:it-access", True),
        ("['form:it-*', it@example.com]", "it@example.com", True),
        ("'*@example.com'", None, False),
    ],
)
def test_entry_point_exact_or_glob_ignoring_case(
    pattern: str, entry_point: str | None, expected: bool
) -> None:
    assert matches(f"entry_point: {pattern}", req(entry_point=entry_point)) is expected


def test_keywords_are_case_insensitive_substrings_of_subject_and_body() -> None:
    when = "keywords: [refund, reset password]"
    assert matches(when, req(subject="REFUND please"))
    assert matches(when, req(body="where is my refund?"))
    assert matches(when, req(body="how do I Reset\n   Password"))  # any whitespace between words
    assert matches(when, req(body="ＲＥＦＵＮＤ"))  # full-width letters, as Chinese IMEs type them
    assert not matches(when, req(subject="reset", body="password"))
    assert not matches(when, req(subject="refun", body="d"))  # subject and body are not glued


def test_chinese_keywords_need_no_spaces() -> None:
    when = "keywords: [退款, 密码]"
    assert matches(when, req(body="你好，我想申请退款，订单号123"))
    assert matches(when, req(subject="忘记密码了怎么办"))
    assert not matches(when, req(body="我想查一下订单"))


def test_keywords_in_subject_or_body_only() -> None:
    subject_only = "keywords: [urgent]\nkeywords_in: subject"
    assert matches(subject_only, req(subject="URGENT: help"))
    assert not matches(subject_only, req(body="urgent"))
    body_only = "keywords: [urgent]\nkeywords_in: body"
    assert matches(body_only, req(body="this is urgent"))
    assert not matches(body_only, req(subject="urgent"))


def test_regex_searched_in_subject_and_body_with_inline_flags() -> None:
    when = r"""regex: ['(?i)\border\s*#?\d{6,}', '[\u4e00-\u9fff]']"""
    assert matches(when, req(subject="Order #123456 missing"))
    assert matches(when, req(body="订单"))
    assert not matches(when, req(subject="order 12", body="in order to"))
    assert not matches("regex: 'ORDER'", req(body="order"))  # case-sensitive without (?i)


def test_customer_flags_and_language() -> None:
    important = CustomerFlags(important=True)
    unhappy = CustomerFlags(low_satisfaction=True)
    assert matches("customer: {important: true}", req(), flags=important)
    assert not matches("customer: {important: true}", req(), flags=unhappy)
    assert matches("customer: {important: false}", req(), flags=unhappy)
    assert matches("customer: {low_satisfaction: true}", req(), flags=unhappy)
    both = "customer: {important: true, low_satisfaction: true}"
    assert not matches(both, req(), flags=important)
    assert matches(both, req(), flags=CustomerFlags(True, True))


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh", True), ("zh-CN", True), ("ZH_Hant", True), ("en", True), ("zha", False), (None, False)],
)
def test_language_matches_its_subtags(language: str | None, expected: bool) -> None:
    assert matches("customer: {language: [zh, en]}", req(language=language)) is expected


def test_attribute_values_compare_as_text() -> None:
    when = "attribute: {impact: [many-users, whole-company]}"
    assert matches(when, req(attributes={"impact": "many-users"}))
    assert matches(when, req(attributes={"impact": "Whole-Company"}))
    assert not matches(when, req(attributes={"impact": "one-user"}))
    assert not matches(when, req(attributes={}))
    assert matches("attribute: {vip: true}", req(attributes={"vip": True}))
    assert matches("attribute: {floor: 3}", req(attributes={"floor": "3"}))
    two = "attribute: {impact: many-users, system: erp}"
    assert not matches(two, req(attributes={"impact": "many-users"}))
    assert matches(two, req(attributes={"impact": "many-users", "system": "ERP"}))


def test_all_conditions_of_a_rule_must_hold() -> None:
    when = "channel: email\nkeywords: [退款]\ncustomer: {language: zh}"
    assert matches(when, req(Channel.EMAIL, body="退款", language="zh"))
    assert not matches(when, req(Channel.CHAT, body="退款", language="zh"))
    assert not matches(when, req(Channel.EMAIL, body="退货", language="zh"))
    assert not matches(when, req(Channel.EMAIL, body="退款", language="en"))


def test_a_rule_without_conditions_matches_everything() -> None:
    rules = "rules:\n  - name: all\n    then: {queue: billing}\n"
    assert queue_of(rules, req(Channel.FORM)) == "billing"


# Time windows -----------------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    """March 2025: day 3 is a Monday, 8 a Saturday, 9 a Sunday."""
    return datetime(2025, 3, day, hour, minute, tzinfo=zone)


OFFICE = 'time: {days: [mon-fri], between: "08:30-18:00", timezone: Asia/Shanghai}'
NIGHT = 'time: {between: "22:00-06:00", timezone: Asia/Shanghai}'


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(4, 8, 29), False),
        (at(4, 8, 30), True),
        (at(4, 17, 59), True),
        (at(4, 18, 0), False),  # the end is exclusive
        (at(8, 10), False),  # Saturday
        (datetime(2025, 3, 4, 2, 0, tzinfo=UTC), True),  # 10:00 in Shanghai
        (datetime(2025, 3, 4, 11, 0, tzinfo=UTC), False),  # 19:00 in Shanghai
    ],
)
def test_office_hours_in_a_timezone(now: datetime, expected: bool) -> None:
    assert matches(OFFICE, req(), now=now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(4, 21, 59), False),
        (at(4, 22, 0), True),
        (at(4, 23, 59), True),
        (at(5, 0, 0), True),
        (at(5, 5, 59), True),
        (at(5, 6, 0), False),
        (at(5, 12, 0), False),
        (datetime(2025, 3, 4, 16, 30, tzinfo=UTC), True),  # 00:30 in Shanghai
        (datetime(2025, 3, 4, 12, 0, tzinfo=UTC), False),  # 20:00 in Shanghai
    ],
)
def test_window_wraps_midnight(now: datetime, expected: bool) -> None:
    assert matches(NIGHT, req(), now=now) is expected


def test_after_midnight_belongs_to_the_day_the_window_opened() -> None:
    friday_night = 'time: {days: [fri], between: "22:00-06:00", timezone: Asia/Shanghai}'
    assert matches(friday_night, req(), now=at(7, 23))  # Friday 23:00
    assert matches(friday_night, req(), now=at(8, 2))  # Saturday 02:00, still Friday's night
    assert not matches(friday_night, req(), now=at(7, 2))  # Friday 02:00 is Thursday's night
    assert not matches(friday_night, req(), now=at(8, 23))  # Saturday 23:00


def test_days_names_and_ranges_and_end_of_day() -> None:
    weekend = "time: {days: [sat, Sunday], timezone: Asia/Shanghai}"
    assert matches(weekend, req(), now=at(8, 12)) and matches(weekend, req(), now=at(9, 0))
    assert not matches(weekend, req(), now=at(10, 12))
    wrapping = "time: {days: fri-mon}"
    assert matches(wrapping, req(), now=at(10, 12)) and not matches(wrapping, req(), now=at(4, 12))
    evening = 'time: {between: "18:00-24:00"}'
    assert matches(evening, req(), now=at(4, 23, 59)) and not matches(evening, req(), now=at(5, 0))


def test_without_a_timezone_the_clock_of_now_is_used() -> None:
    local = 'time: {between: "08:00-09:00"}'
    assert matches(local, req(), now=datetime(2025, 3, 4, 8, 30, tzinfo=UTC))
    assert matches(local, req(), now=datetime(2025, 3, 4, 8, 30, tzinfo=SHANGHAI))
    assert not matches(
        local, req(), now=datetime(2025, 3, 4, 0, 30, tzinfo=UTC)
    )  # the same instant


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        classify(req(), (), NOBODY, datetime(2025, 3, 4, 10), "general")


# Actions, first match, continue -----------------------------------------------------------------


def test_every_action_is_applied() -> None:
    text = """
rules:
  - name: all-actions
    then:
      queue: complaints
      category: suggestions-and-complaints
      priority: low
      skills: {complaints: 3, chinese: 2}
      tier: 2
      preferred_agent: li.na
"""
    c = run(text, req())
    assert c == Classification(
        queue="complaints",
        category="suggestions-and-complaints",
        priority=Priority.LOW,
        skills=(SkillRequirement("complaints", 3), SkillRequirement("chinese", 2)),
        tier=2,
        preferred_agent="li.na",
        matched=("all-actions",),
    )


def test_skills_as_a_list_with_optional_ones() -> None:
    text = """
rules:
  - name: r
    then:
      skills:
        - orders
        - {name: chinese, min: 3, optional: true}
        - {name: english, min: 2}
"""
    assert run(text, req()).skills == (
        SkillRequirement("orders", 1),
        SkillRequirement("chinese", 3, optional=True),
        SkillRequirement("english", 2),
    )


TWO_RULES = """
rules:
  - name: refunds
    when: {keywords: [退款, refund]}
    then: {queue: billing, category: orders, skills: {orders: 2}}
  - name: chat
    when: {channel: chat}
    then: {queue: chat-l1, category: chat}
"""


def test_the_first_matching_rule_wins() -> None:
    c = run(TWO_RULES, req(Channel.CHAT, body="我要退款"))
    assert (c.queue, c.category, c.matched) == ("billing", "orders", ("refunds",))
    c = run(TWO_RULES, req(Channel.CHAT, body="你好"))
    assert (c.queue, c.category, c.matched) == ("chat-l1", "chat", ("chat",))


def test_continue_lets_later_rules_override_field_by_field() -> None:
    text = """
rules:
  - name: chinese
    when: {customer: {language: zh}}
    then: {skills: {chinese: 2}, tier: 2, category: zh, continue: true}
  - name: chat
    when: {channel: chat}
    then: {queue: chat-l1, preferred_agent: li.na, continue: true}
  - name: refunds
    when: {keywords: [退款]}
    then: {queue: billing, category: orders, skills: {orders: 2, chinese: 4}}
  - name: never-reached
    then: {queue: l2}
"""
    c = run(text, req(Channel.CHAT, body="退款", language="zh-CN"))
    assert c.matched == ("chinese", "chat", "refunds")
    assert (c.queue, c.category, c.tier, c.preferred_agent) == ("billing", "orders", 2, "li.na")
    # skills merge by name; a later level replaces an earlier one
    assert c.skills == (SkillRequirement("chinese", 4), SkillRequirement("orders", 2))
    c = run(text, req(Channel.CHAT, body="你好", language="zh"))
    assert c.matched == ("chinese", "chat", "never-reached") and c.queue == "l2"


BOOSTS = """
rules:
  - name: important
    when: {customer: {important: true}}
    then: {boost: 1, continue: true}
  - name: unhappy
    when: {customer: {low_satisfaction: true}}
    then: {boost: 1, continue: true}
  - name: advice
    when: {keywords: [question, 咨询]}
    then: {priority: low, continue: true}
  - name: noise
    when: {keywords: [newsletter]}
    then: {boost: -2}
"""


@pytest.mark.parametrize(
    ("flags", "body", "start", "expected"),
    [
        (NOBODY, "", Priority.MEDIUM, Priority.MEDIUM),
        (CustomerFlags(important=True), "", Priority.MEDIUM, Priority.HIGH),
        (CustomerFlags(important=True), "", Priority.LOW, Priority.MEDIUM),
        (CustomerFlags(True, True), "", Priority.LOW, Priority.HIGH),  # boosts add up
        (CustomerFlags(True, True), "", Priority.MEDIUM, Priority.HIGH),  # never past high
        (CustomerFlags(True, True), "", Priority.HIGH, Priority.HIGH),
        (NOBODY, "a question", Priority.HIGH, Priority.LOW),
        # a boost survives a priority set by a later rule
        (CustomerFlags(important=True), "a question", Priority.HIGH, Priority.MEDIUM),
        (NOBODY, "newsletter", Priority.MEDIUM, Priority.LOW),  # never below low
        (CustomerFlags(True, True), "question newsletter", Priority.HIGH, Priority.LOW),
    ],
)
def test_boosts_accumulate_and_are_capped(
    flags: CustomerFlags, body: str, start: Priority, expected: Priority
) -> None:
    assert run(BOOSTS, req(body=body, priority=start), flags=flags).priority is expected


def test_without_a_queue_from_any_rule_the_default_queue_is_used() -> None:
    c = run(TWO_RULES, req(Channel.EMAIL, body="hello"))
    assert (c.queue, c.matched, c.category) == ("general", (), None)
    tags_only = "rules:\n  - name: tag\n    then: {category: misc, continue: true}\n"
    c = run(tags_only, req())
    assert (c.queue, c.category, c.matched) == ("general", "misc", ("tag",))
    assert classify(req(), (), NOBODY, TUESDAY_10, "fallback").queue == "fallback"


def test_the_request_s_own_values_are_the_starting_point() -> None:
    own = req(
        priority=Priority.HIGH,
        skills=(SkillRequirement("english", 3),),
        category="from-form",
        tier=2,
        preferred_agent="sarah",
    )
    c = classify(own, (), NOBODY, TUESDAY_10, "general")
    assert (c.priority, c.skills, c.category, c.tier, c.preferred_agent) == (
        Priority.HIGH,
        (SkillRequirement("english", 3),),
        "from-form",
        2,
        "sarah",
    )


def test_apply_sets_the_classified_fields_and_keeps_the_rest() -> None:
    request = req(Channel.CHAT, subject="s", body="我要退款", external_id="x1", language="zh")
    c = run(TWO_RULES, request)
    out = c.apply(request)
    assert (out.queue, out.category, out.skills) == ("billing", "orders", c.skills)
    assert (out.priority, out.tier, out.preferred_agent) == (c.priority, c.tier, None)
    assert (out.id, out.body, out.external_id, out.language) == ("r1", "我要退款", "x1", "zh")
    assert request.queue == "intake"  # the original is untouched


# Customer lists --------------------------------------------------------------------------------


def test_customer_lists_by_email_phone_or_id() -> None:
    lists = CustomerLists.of(
        important=["VIP@BigClient.example", "+86 138-0013-8000", "c-100234"],
        low_satisfaction=["zhao.lei@example.com"],
    )
    important = CustomerFlags(important=True)
    assert lists.lookup(Customer(email="vip@bigclient.example")) == important
    assert lists.lookup(Customer(email=" Vip@BIGCLIENT.example ")) == important
    assert lists.lookup(Customer(phone="+8613800138000")) == important
    assert lists.lookup(Customer(id="c-100234")) == important
    assert lists.lookup(Customer(id="C-100234")) == NOBODY  # ids are exact
    assert lists.lookup(Customer(id="vip@bigclient.example")) == NOBODY  # an id is not an email
    assert lists.lookup(Customer(email="zhao.lei@example.com", id="c-100234")) == CustomerFlags(
        True, True
    )
    assert lists.lookup(Customer()) == NOBODY


def test_customer_lists_change_at_run_time() -> None:
    lists = CustomerLists()
    ann = Customer(email="ann@example.com", phone="+447700900123")
    assert lists.add("low_satisfaction", "+44 7700 900123")
    assert not lists.add(CustomerList.LOW_SATISFACTION, "+447700900123")  # already there
    assert lists.lookup(ann).low_satisfaction
    assert lists.add("important", "Ann@Example.com")
    assert lists.entries("important") == ("Ann@Example.com",)
    assert lists.lookup(ann) == CustomerFlags(True, True)
    assert lists.remove("important", "ANN@example.com")
    assert not lists.remove("important", "ann@example.com")
    assert lists.lookup(ann) == CustomerFlags(low_satisfaction=True)


@pytest.mark.parametrize(
    ("which", "entry"),
    [("vip", "ann@example.com"), ("important", "  "), ("important", "+86abc"), ("important", "a@")],
)
def test_customer_lists_refuse_what_they_cannot_hold(which: str, entry: str) -> None:
    with pytest.raises(ValueError):
        CustomerLists().add(which, entry)


def test_parse_customer_lists() -> None:
    data, lines = load_yaml(
        'customers:\n  important: [c-1, "+8613800138000"]\n  low_satisfaction: [a@b.cn]\n', "c"
    )
    check = Checker(lines)
    lists = parse_customer_lists(check, data["customers"])
    assert not check.problems
    assert lists.entries("important") == ("c-1", "+8613800138000")
    assert lists.lookup(Customer(email="A@B.CN")).low_satisfaction
    assert parse_customer_lists(check, None).lookup(Customer(id="c-1")) == NOBODY


# The example config ------------------------------------------------------------------------------


Example = tuple[tuple[Rule, ...], CustomerLists, str]


@functools.cache
def load_example() -> Example:
    """The rules, customer lists and default queue of config/frontdesk.example.yaml."""
    path = Path(__file__).resolve().parent.parent / "config" / "frontdesk.example.yaml"
    data, lines = load_yaml(path.read_text(encoding="utf-8"), str(path))
    check = Checker(lines)
    rules = parse_rules(
        check,
        data["rules"],
        queues=set(data["queues"]),
        skills=set(data["skills"]),
        agents={a["id"] for a in data["agents"]},
        calendars=parse_calendars(check, data["calendars"]),
    )
    lists = parse_customer_lists(check, data["customers"])
    assert not check.problems, check.problems
    assert len(rules) == len(data["rules"])
    return rules, lists, data["default_queue"]


@pytest.fixture
def example_config() -> Example:
    return load_example()


EVENING = datetime(2025, 3, 4, 23, 0, tzinfo=SHANGHAI)
SATURDAY = datetime(2025, 3, 8, 11, 0, tzinfo=SHANGHAI)
Z = "chinese"


@pytest.mark.parametrize(
    ("request_", "now", "queue", "category", "priority", "skills"),
    [
        (
            req(Channel.CHAT, body="我忘记密码了，登录不上", language="zh-CN"),
            TUESDAY_10,
            *("chat-l1", "account-and-security", "medium", {Z, "account"}),
        ),
        (
            req(
                Channel.CHAT, body="手机号换了，怎么换绑手机？"
            ),  # no language: the text is Chinese
            TUESDAY_10,
            *("chat-l1", "account-and-security", "medium", {Z, "account"}),
        ),
        (
            req(subject="Refund for my order 1234567", body="I was charged twice.", language="en"),
            TUESDAY_10,
            *("email-l1", "orders-and-payments", "medium", {"english", "orders"}),
        ),
        (
            req(Channel.SOCIAL, entry_point="whatsapp:+8613912345678", body="我的訂單還沒到"),
            TUESDAY_10,
            *("chat-l1", "orders-and-payments", "medium", {Z, "orders"}),
        ),
        (
            req(Channel.FORM, entry_point="form:refund", subject="Refund request"),
            TUESDAY_10,
            *("general", "orders-and-payments", "medium", {"orders"}),
        ),
        (  # an important customer, recognized by the number they call from
            req(
                Channel.PHONE, customer=Customer(phone="+86 138 0013 8000"), body="我要投诉客服态度"
            ),
            TUESDAY_10,
            *("complaints", "suggestions-and-complaints", "high", {Z, "complaints"}),
        ),
        (
            req(subject="Suggestion: dark mode", body="It would be nice to have a dark mode."),
            TUESDAY_10,
            *("complaints", "suggestions-and-complaints", "medium", {"complaints"}),
        ),
        (
            req(subject="How do I export a report?", body="The export feature shows an error."),
            TUESDAY_10,
            *("email-l1", "product-use", "medium", {"product"}),
        ),
        (
            req(Channel.CHAT, body="APP一直闪退，打不开"),
            TUESDAY_10,
            *("chat-l1", "product-use", "medium", {Z, "product"}),
        ),
        (
            req(Channel.CHAT, body="请问你们的营业时间是几点？"),
            TUESDAY_10,
            *("chat-l1", "information-and-advice", "low", {Z, "advice"}),
        ),
        (  # advice is low, but this customer is on the low-satisfaction list
            req(subject="Question about pricing", customer=Customer(email="Zhao.Lei@example.com")),
            TUESDAY_10,
            *("email-l1", "information-and-advice", "medium", {"advice"}),
        ),
        (
            req(entry_point="it@example.com", subject="Laptop cannot connect to the VPN"),
            TUESDAY_10,
            *("it-desk", "it-technical-problem", "medium", {"it-technical"}),
        ),
        (
            req(Channel.FORM, entry_point="form:it-access", subject="权限变更申请"),
            TUESDAY_10,
            *("it-desk", "it-service-request", "medium", {Z, "it-service"}),
        ),
        (
            req(Channel.FORM, entry_point="form:it-question", subject="Where is the IT policy?"),
            TUESDAY_10,
            *("it-desk", "it-information-request", "medium", {"it-service"}),
        ),
        (  # a key system down in working hours: high, stays with L1 chat
            req(Channel.CHAT, body="系统瘫痪了，所有人都无法下单"),
            TUESDAY_10,
            *("chat-l1", "orders-and-payments", "high", {Z, "orders"}),
        ),
        (  # the same at 23:00 Beijing time: straight to second line
            req(Channel.CHAT, body="系统瘫痪了，所有人都无法下单"),
            EVENING,
            *("l2", "orders-and-payments", "high", {Z, "orders"}),
        ),
        (
            req(subject="Outage: the portal is down for everyone"),
            SATURDAY,
            *("l2", None, "high", set()),
        ),
        (  # the callback IVR asked how many people are affected
            req(Channel.PHONE, attributes={"impact": "many-users"}),
            TUESDAY_10,
            *("phone-callback", None, "high", set()),
        ),
        (
            req(Channel.FORM, entry_point="form:contact", body="hello"),
            TUESDAY_10,
            *("general", None, "medium", set()),
        ),
    ],
)
def test_example_rules_route_realistic_requests(
    example_config: Example,
    request_: Request,
    now: datetime,
    queue: str,
    category: str | None,
    priority: str,
    skills: set[str],
) -> None:
    rules, lists, default_queue = example_config
    c = classify(request_, rules, lists.lookup(request_.customer), now, default_queue)
    assert (c.queue, c.category, c.priority.value) == (queue, category, priority), c.matched
    assert {s.name for s in c.skills} == skills, c.matched


def test_example_vip_mailbox_prefers_the_account_manager(
    example_config: Example,
) -> None:
    rules, lists, default_queue = example_config
    vip = Customer(email="procurement@bigclient.example")
    request = req(entry_point="VIP@example.com", subject="Invoice for March", customer=vip)
    c = classify(request, rules, lists.lookup(vip), TUESDAY_10, default_queue)
    assert (c.preferred_agent, c.priority, c.queue) == ("zhang.min", Priority.HIGH, "email-l1")
    assert c.matched == ("important-customer", "vip-mailbox", "email", "orders-and-payments")


# Broken rule configs: tests/configs/rules_*.yaml, checked with the full loader by test_config.


def test_a_rule_with_a_problem_is_left_out() -> None:
    text = (
        "rules:\n  - name: good\n    then: {queue: general}\n"
        "  - name: bad\n    then: {queue: nowhere}\n"
    )
    data, lines = load_yaml(text, "t.yaml")
    check = Checker(lines)
    rules = parse_rules(check, data["rules"], queues=QUEUES, skills=SKILLS, agents=AGENTS)
    assert [r.name for r in rules] == ["good"]
    assert [(p.line, render(p.path)) for p in check.problems] == [(5, "rules[1].then.queue")]
    assert parse_rules(check, None, queues=QUEUES, skills=SKILLS, agents=AGENTS) == ()


# Robustness -------------------------------------------------------------------------------------

ROBUST = """
rules:
  - name: zh
    when: {customer: {language: zh}, regex: '[\\u4e00-\\u9fff]'}
    then: {skills: {chinese: 2}, boost: 1, continue: true}
  - name: night
    when: {time: {between: "22:00-06:00", timezone: Asia/Shanghai}, keywords: [紧急, urgent]}
    then: {queue: l2, priority: high, continue: true}
  - name: ep
    when: {entry_point: ['whatsapp:*', '*@example.com'], attribute: {impact: many-users}}
    then: {queue: chat-l1, boost: 2, continue: true}
  - name: words
    when: {keywords: [退款, 密码, reset password, "😀"], keywords_in: both}
    then: {queue: billing, skills: {orders: 2}}
"""

ROBUST_RULES = rules_from(ROBUST)
EXAMPLE_QUEUES = {"general", "chat-l1", "phone-callback", "email-l1", "complaints", "it-desk", "l2"}
# every character but surrogates, with the keywords of the rules above mixed in
fragments = st.sampled_from(["退款", "密码", "reset password", "紧急", "系统瘫痪", "投诉", "😀"])
texts = st.lists(st.text(st.characters(codec="utf-8"), max_size=60) | fragments, max_size=6).map(
    "".join
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), texts)


@settings(max_examples=300, deadline=None)
@given(
    subject=texts,
    body=texts,
    entry_point=st.none() | texts,
    language=st.none() | texts,
    channel=st.sampled_from(Channel),
    attributes=st.dictionaries(st.sampled_from(["impact", "x"]) | texts, scalars, max_size=3)
    | st.just({"impact": "many-users"}),
    flags=st.builds(CustomerFlags, st.booleans(), st.booleans()),
    now=st.datetimes(timezones=st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York")])),
)
@example(
    subject="\x00\x1b[31m",
    body="退款\u200b\ufeff😀",
    entry_point="",
    language="_",
    channel=Channel.CHAT,
    attributes={},
    flags=CustomerFlags(),
    now=datetime(2025, 3, 9, 2, 30, tzinfo=SHANGHAI),
)
def test_classify_never_raises_and_always_gives_a_queue(
    subject: str,
    body: str,
    entry_point: str | None,
    language: str | None,
    channel: Channel,
    attributes: dict[str, Any],
    flags: CustomerFlags,
    now: datetime,
) -> None:
    request = req(
        channel,
        subject,
        body,
        entry_point=entry_point,
        language=language,
        attributes=attributes,
        priority=Priority.LOW,
    )
    for rules in (ROBUST_RULES, load_example()[0]):
        c = classify(request, rules, flags, now, "general")
        assert c.queue in QUEUES | EXAMPLE_QUEUES
        assert c.priority in Priority
        assert len(set(c.matched)) == len(c.matched)
        assert c.apply(request).queue == c.queue
