"""Small checks shared by the YAML loaders: known keys, value types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepflow.errors import ConfigError


def take(source: str, raw: Mapping, section: str, allowed: set[str]) -> dict:
    """A section as a dict, or a ConfigError naming its first unknown key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(source, section, "must be a mapping")
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(
            source, f"{section}.{sorted(unknown)[0]}", f"unknown key; allowed: {sorted(allowed)}"
        )
    return dict(raw)


def typed(source: str, field_name: str, value: Any, want: type | tuple) -> Any:
    """The value if it has the wanted type (bools are not numbers), else a ConfigError."""
    if isinstance(value, bool) and want is not bool:
        raise ConfigError(source, field_name, f"must be {want}, got {value!r}")
    if not isinstance(value, want):
        names = want.__name__ if isinstance(want, type) else "/".join(t.__name__ for t in want)
        raise ConfigError(source, field_name, f"must be {names}, got {value!r}")
    return value
