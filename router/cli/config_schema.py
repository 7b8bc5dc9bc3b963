"""`frontdesk config-schema`: print the JSON Schema of the config (the one shipped as
`frontdesk.config/frontdesk.schema.json`, which editors read), made by running the real checker
over the shipped example and the sample configs beside it (see router/conf/schema.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from frontdesk.router.conf.files import shipped
from frontdesk.router.conf.schema import Seen, Tracer, build_schema
from frontdesk.router.conf.yaml import Checker, Lines, load_yaml, merge
from frontdesk.router.daemon.settings import DEFAULTS_PATH, parse_settings

EXAMPLE = "frontdesk.example.yaml"
# Each document is laid over the example, so that the parts of the checker the example leaves
# unused (every channel, helpdesk, notice, the other forms of a setting) run too.
SAMPLES = "schema-samples.yaml"
SCHEMA = "frontdesk.schema.json"


def samples() -> list[tuple[str, str]]:
    """Each config the schema is traced over: (source, text), every one a valid config."""
    example = shipped(EXAMPLE).read_text(encoding="utf-8")
    least = "queues: {general: {}}\ndefault_queue: general\n"  # the defaults, nearly alone
    out = [("the least config", least), (str(shipped(EXAMPLE)), example)]
    base, _ = load_yaml(example, EXAMPLE)
    path = shipped(SAMPLES)
    for i, sample in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
        text = yaml.safe_dump(merge(base, sample), allow_unicode=True, sort_keys=False)
        out.append((f"{path}#{i + 1}", text))
    return out


def generate() -> dict[str, Any]:
    """The schema, traced afresh from the checker."""
    seen: list[Seen] = []

    class Listening(Tracer):
        def __init__(self, lines: Lines, fallback: Lines | None = None) -> None:
            super().__init__(lines, fallback)
            self.seen = seen

    defaults, _ = load_yaml(DEFAULTS_PATH.read_text(encoding="utf-8"), str(DEFAULTS_PATH))
    documents = {}
    for source, text in samples():
        checker: type[Checker] = Listening
        parse_settings(text, source, checker)  # a sample the checker refuses raises here
        documents[source] = merge(defaults, load_yaml(text, source)[0])
    schema = build_schema(seen, documents)
    top = schema["properties"]
    queue = top["queues"]["additionalProperties"]
    # every queue is checked merged over queue_defaults (routing/config.py parse_queues), so
    # the defaults' own keys are checked at the queues' paths: they take what a queue takes
    if set(top["queue_defaults"]["properties"]) == set(queue["properties"]):
        top["queue_defaults"] = queue
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="frontdesk config-schema", description=__doc__)
    parser.add_argument("--out", help="write it to this file instead of stdout")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
