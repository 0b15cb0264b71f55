"""One trial, engine-agnostic: fresh state, build from a params dict, train, score."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import keras

from sweepflow.config.monitor import VAL_LOSS, Monitor
from sweepflow.data.prepare import Prepared
from sweepflow.errors import failure_reason
from sweepflow.model.network import FitResult, ModelSpec, build_model, fit, fresh_state

COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"
RUNNING = "running"  # a trial still training (in this or another worker)


@dataclass
class TrialOutcome:
    """What one trial produced: its state, objective value and learning curves."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    fit: FitResult | None
    seconds: float
    reason: str | None = None
    val_metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None  # the trial's MLflow run, once recorded


def trial_seed(base_seed: int, number: int) -> int:
    """The seed of trial `number`: distinct per trial, reproducible per study."""
    return (base_seed * 100_003 + number) % (2**31 - 1)


def model_spec(data: Prepared) -> ModelSpec:
    """The network shape the prepared data dictates."""
    return ModelSpec(
        data.kind,
        data.n_features,
        data.n_outputs,
        data.target_offset,
        data.target_scale,
        data.feature_scale,
        image_shape(data.preprocessor),
    )


def image_shape(pre: Any) -> tuple[int, int] | None:
    """(height, width) of a preprocessor's images; None for other inputs."""
    shape = getattr(pre, "shape", None) if getattr(pre, "type", "") == "image" else None
    return (int(shape[0]), int(shape[1])) if shape is not None and len(shape) == 2 else None


def run_trial(
    params: dict[str, Any],
    data: Prepared,
    *,
    number: int,
    base_seed: int,
    objective: str,
    patience: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
    is_pruned: Any = None,
    verbose: int = 0,
    monitor: Monitor = VAL_LOSS,
) -> TrialOutcome:
    """Train one configuration and score it by `objective` at its best (restored) epoch."""
    start = time.perf_counter()
    fresh_state(trial_seed(base_seed, number))
    try:
        model = build_model(params, model_spec(data))
        result = fit(
            model,
            params,
            (data.x_train, data.y_train),
            (data.x_val, data.y_val),
            patience=patience,
            callbacks=callbacks,
            verbose=verbose,
            monitor=monitor,
            objective=objective,
            image_shape=image_shape(data.preprocessor),
        )
    except Exception as exc:  # one bad configuration (OOM, invalid shape…) must not end the study
        reason = failure_reason(exc)
        return TrialOutcome(number, params, FAILED, None, None, time.perf_counter() - start, reason)
    finally:  # drop the graph now; the next trial's fresh_state runs one full gc (of a frozen heap)
        keras.backend.clear_session(free_memory=False)
    pruned = is_pruned is not None and is_pruned()
    return outcome_of(number, params, result, time.perf_counter() - start, objective, pruned)


def outcome_of(
    number: int,
    params: dict[str, Any],
    result: FitResult,
    seconds: float,
    objective: str,
    pruned: bool = False,
) -> TrialOutcome:
    """Score a finished training run by `objective` at its best (restored) epoch."""
    best = result.metrics_at_best()
    val_metrics = {k: v for k, v in best.items() if k.startswith("val_")}
    value = val_metrics.get(objective)
    if result.failed_reason:
        return TrialOutcome(number, params, FAILED, None, result, seconds, result.failed_reason)
    if value is None or not math.isfinite(value):
        reason = f"objective {objective} missing or not finite; have {sorted(val_metrics)}"
        return TrialOutcome(number, params, FAILED, None, result, seconds, reason)
    state = PRUNED if pruned else COMPLETE
    return TrialOutcome(number, params, state, value, result, seconds, None, val_metrics)
