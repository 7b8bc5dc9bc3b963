"""Words that notices put into their placeholders, besides the templates: the `late` notice's
{target} and {next_step}."""

from __future__ import annotations

LATE_WORDS = {  # the `late` notice's {target} and {next_step}
    "en": {
        "first_response": "first reply", "next_response": "reply", "resolution": "resolution",
        "investigation_started": "start of our investigation",
        "investigation_done": "investigation", "final_answer": "final answer",
        "escalated": "Your request has been passed to a senior colleague, who will contact you.",
        "hurried": "It is at the front of the queue now and we are on it.",
    },
    "zh": {
        "first_response": "首次回复", "next_response": "回复", "resolution": "处理",
        "investigation_started": "调查启动", "investigation_done": "调查",
        "final_answer": "最终答复",
        "escalated": "您的请求已转交资深同事处理，他们会尽快与您联系。",  # noqa: RUF001
        "hurried": "您的请求已优先处理，我们正在加急跟进。",  # noqa: RUF001
    },
}  # fmt: skip
