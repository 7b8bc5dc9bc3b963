"""The YAML files that ship inside the package (`frontdesk.config`), found through
`importlib.resources` so that they are found the same way in a checkout, an editable install and
a wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(name: str) -> Path:
    """The path of `name` among the shipped config files (a real file: errors name its lines)."""
    return Path(str(files("frontdesk.config").joinpath(name)))


def beside_config(config_source: str, name: str) -> Path:
    """A file a config names (a secret file, an iCalendar file): `~` expanded, and a relative
    path read beside the config file."""
    target = Path(name).expanduser()
    return target if target.is_absolute() else Path(config_source).parent / target
