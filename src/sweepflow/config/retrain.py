"""The `retrain:` section of a task YAML: challenger budget, paired test, drift rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweepflow.config.fields import take, typed
from sweepflow.errors import ConfigError


@dataclass(frozen=True)
class RetrainConfig:
    """How `retrain` builds a challenger and when it may replace the champion."""

    seeds: int = 3  # challengers trained with the champion's params, best by validation kept
    search_trials: int = 0  # optional warm-started search (champion's params enqueued first)
    test: str = "auto"  # auto (mcnemar / bootstrap by kind) | mcnemar | bootstrap
    alpha: float = 0.05  # the paired test's significance level
    margin: float = 0.0  # the improvement (accuracy points / MAE units) it must also exceed
    bootstrap: int = 2000
    drift_threshold: float = 0.2  # population stability index that counts as drift
    require_drift: bool = False  # true: retrain only when some feature drifted past the threshold


def parse_retrain(source: str, raw: Any) -> RetrainConfig:
    r = take(source, raw or {}, "retrain", set(RetrainConfig.__dataclass_fields__))
    for key in ("seeds", "search_trials", "bootstrap"):
        if key in r:
            low = 1 if key != "search_trials" else 0
            if typed(source, f"retrain.{key}", r[key], int) < low:
                raise ConfigError(source, f"retrain.{key}", f"must be ≥ {low}, got {r[key]}")
    for key in ("alpha", "margin", "drift_threshold"):
        if key in r and typed(source, f"retrain.{key}", r[key], (int, float)) < 0:
            raise ConfigError(source, f"retrain.{key}", f"must be ≥ 0, got {r[key]}")
    if "alpha" in r and not 0 < r["alpha"] < 1:
        raise ConfigError(source, "retrain.alpha", f"must be between 0 and 1, got {r['alpha']}")
    if r.get("test", "auto") not in ("auto", "mcnemar", "bootstrap"):
        raise ConfigError(source, "retrain.test", "must be auto, mcnemar or bootstrap")
    if "require_drift" in r:
        typed(source, "retrain.require_drift", r["require_drift"], bool)
    return RetrainConfig(**r)
