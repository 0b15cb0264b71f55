"""The `final:` section of a task YAML: how the final model is built from the best trials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweepflow.config.fields import take, typed
from sweepflow.errors import ConfigError

MEMBER_SOURCES = ("best", "top")
MAX_MEMBERS = 20


@dataclass(frozen=True)
class FinalConfig:
    """The final model: one network, or the average of `ensemble` networks in one Keras model.

    members: `best` retrains the best trial's params with `ensemble` different seeds; `top`
    retrains the `ensemble` best trials (each its own params, epochs and seed), which also
    hedges against a validation split too small to rank trials reliably.
    """

    ensemble: int = 1
    members: str = "best"


def parse_final(source: str, raw: Any) -> FinalConfig:
    """Validate the `final:` mapping."""
    f = take(source, raw or {}, "final", set(FinalConfig.__dataclass_fields__))
    if "ensemble" in f:
        n = typed(source, "final.ensemble", f["ensemble"], int)
        if not 1 <= n <= MAX_MEMBERS:
            raise ConfigError(
                source, "final.ensemble", f"must be between 1 and {MAX_MEMBERS}, got {n}"
            )
    if f.get("members", "best") not in MEMBER_SOURCES:
        raise ConfigError(
            source, "final.members", f"must be one of {MEMBER_SOURCES}, got {f['members']!r}"
        )
    return FinalConfig(**f)
