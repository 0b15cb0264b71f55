"""The `objective:` and `training:` sections: how trials are ranked and how each one trains."""

from __future__ import annotations

from typing import Any

from sweepflow.config.fields import take, typed
from sweepflow.config.kinds import KINDS
from sweepflow.config.space import CLASS_WEIGHTS
from sweepflow.errors import ConfigError


def parse_objective(source: str, raw: Any, kind: str) -> tuple[str, str]:
    """The `objective:` section: the validation metric trials are ranked by, and its direction."""
    obj = take(source, raw, "objective", {"metric", "direction"})
    metric = obj.get("metric", KINDS[kind].default_objective)
    known = KINDS[kind].objectives
    if metric not in known:
        raise ConfigError(
            source,
            "objective.metric",
            f"{metric!r} is not a validation metric of a {kind} task; use one of {sorted(known)}",
        )
    direction = obj.get("direction", known[metric])
    if direction not in ("minimize", "maximize"):
        raise ConfigError(source, "objective.direction", "must be minimize or maximize")
    return metric, direction


def parse_training(source: str, raw: Any, kind: str, metric: str) -> tuple[str | None, int, str]:
    """The `training:` section: class weights, early stopping's patience and monitor."""
    training = take(source, raw, "training", {"patience", "monitor", "class_weight"})
    class_weight = training.get("class_weight")
    if class_weight is not None:
        if kind == "regression":
            raise ConfigError(
                source, "training.class_weight", "weights classes; this task is regression"
            )
        if class_weight not in CLASS_WEIGHTS:
            raise ConfigError(
                source,
                "training.class_weight",
                f"must be one of {CLASS_WEIGHTS}, got {class_weight!r}",
            )
    patience = typed(source, "training.patience", training.get("patience", 5), int)
    if patience < 1:
        raise ConfigError(source, "training.patience", f"must be ≥ 1, got {patience}")
    monitor = training.get("monitor", "val_loss")
    if monitor not in ("val_loss", "objective"):
        raise ConfigError(
            source,
            "training.monitor",
            f"must be val_loss or objective (early stopping on {metric}), got {monitor!r}",
        )
    return class_weight, patience, monitor
