"""The Lua scripts' names keep their promise (queues/scripts.py): `<verb>-<number of keys>.lua`
names the keys a script takes, `-n` a script that takes a variable number of them."""

from __future__ import annotations

import re

import pytest

from frontdesk.queues.scripts import ANY, LUA_DIR, Scripts, sources

_OPENING = re.compile(r"\A--\[\[(.*?)\]\]", re.DOTALL)


def _split(text: str) -> tuple[str, str]:
    """(the opening comment, the code after it)."""
    found = _OPENING.match(text)
    assert found is not None, "every script opens with a --[[ ... ]] comment"
    return found[1], text[found.end() :]


def test_every_file_is_named_verb_and_number_of_keys():
    names = sorted(p.name for p in LUA_DIR.glob("*.lua"))
    assert names, LUA_DIR
    assert [n for n in names if not re.fullmatch(r"[a-z_]+-([1-9][0-9]*|n)\.lua", n)] == []
    assert len(sources()) == len(names)  # no verb named twice


@pytest.mark.parametrize("verb", sorted(v for v, (n, _) in sources().items() if n != ANY))
def test_a_numbered_script_lists_and_uses_no_more_keys_than_its_name_says(verb):
    nkeys, text = sources()[verb]
    comment, code = _split(text)
    assert f"KEYS[{nkeys}]" in comment, "the opening comment lists its last key"
    assert f"KEYS[{nkeys + 1}]" not in comment
    used = {int(i) for i in re.findall(r"KEYS\[(\d+)\]", code)}
    assert used and max(used) <= nkeys
    assert not re.search(r"#KEYS|ipairs\(KEYS\)|KEYS\[[a-z_]", code), "indexes KEYS by a variable"


@pytest.mark.parametrize("verb", sorted(v for v, (n, _) in sources().items() if n == ANY))
def test_an_n_script_takes_a_variable_number_of_keys(verb):
    _, text = sources()[verb]
    comment, code = _split(text)
    assert re.search(r"KEYS\[[0-9a-z]*\.\.[0-9a-z]*\]|KEYS\[i\]", comment), "lists the range"
    assert re.search(r"#KEYS|ipairs\(KEYS\)|KEYS\[[a-z_]", code), "indexes KEYS by a variable"


async def test_a_script_called_with_the_wrong_number_of_keys_is_refused_before_redis(redis):
    scripts = Scripts(redis)
    with pytest.raises(TypeError, match="hear takes 1 keys, got 2"):
        await scripts.hear(["a", "b"], [])
    assert await redis.dbsize() == 0
