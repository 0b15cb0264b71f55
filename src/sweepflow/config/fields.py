"""Small checks shared by the YAML loaders: reading the file, known keys, value types."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sweepflow.errors import ConfigError


def take(source: str, raw: Mapping, section: str, allowed: set[str]) -> dict:
    """A section as a dict, or a ConfigError naming its first unknown key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(source, section, "must be a mapping")
    unknown = set(raw) - allowed
    if unknown:  # keys may be of mixed types (1:, ~:): compare them as text
        raise ConfigError(
            source,
            f"{section}.{sorted(map(str, unknown))[0]}",
            f"unknown key; allowed: {sorted(allowed)}",
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


def positive(value: Any, most: float = math.inf) -> bool:
    """Whether the value is a finite number > 0 and ≤ `most` (bools are not numbers)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and 0 < value <= most


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping (last would win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """Build the mapping; a repeated key is a YAML error naming its line."""
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: the base loader reports it
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """A YAML file's content, or a ConfigError naming the file (and line) when it is unusable."""
    if path.is_dir():
        raise ConfigError(str(path), "<file>", "is a directory, not a YAML file")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(str(path), f"<yaml {where}>", f"not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path), "<file>", f"not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot read: {exc.strerror}") from None
    if raw is None:
        raise ConfigError(str(path), "<file>", "the file is empty (no YAML mapping in it)")
    return raw
