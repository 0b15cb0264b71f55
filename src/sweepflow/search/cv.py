"""k-fold cross-validation of one trial: fold runs nested under the trial run, pruned per fold."""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

import keras
import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from sweepflow.config.monitor import Monitor
from sweepflow.config.task import TaskConfig
from sweepflow.data.prepare import Prepared
from sweepflow.model.network import FitResult
from sweepflow.model.trial import COMPLETE, FAILED, PRUNED, TrialOutcome, run_trial


class FoldRecorder(Protocol):
    """What the fold loop needs of the search's trial recorder (search/recorder.py)."""

    cfg: TaskConfig
    data: Prepared
    verbose: int

    def begin_fold(self, trial_run: str, number: int, fold: int) -> tuple[str, Any]:
        """Open a fold's run under the trial's run: its id and its epoch logger."""
        ...

    def callbacks(self, logger: Any) -> list[keras.callbacks.Callback]:
        """The Keras callbacks of one fit (its epoch logger first)."""
        ...

    def finish(self, run_id: str, logger: Any, outcome: TrialOutcome) -> None:
        """Close a fold's run with its outcome."""
        ...

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Metrics of the trial's run."""
        ...


def fold_splits(data: Prepared, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """k train/validation index pairs over train+val (the test split is never touched)."""
    y = np.concatenate([data.y_train, data.y_val])
    counts = np.unique(y, return_counts=True)[1] if data.kind != "regression" else None
    # stratify where the classes allow it: not when most have fewer rows than folds
    if counts is None or np.median(counts) < k:
        return list(KFold(k, shuffle=True, random_state=seed).split(y))
    with warnings.catch_warnings():  # "the least populated class has only n members"
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y))


def best_mean_epoch(
    curves: list[list[float]], objective: Monitor
) -> tuple[int, float, list[float]]:
    """The epoch whose fold-mean objective is best: (1-based epoch, that mean, fold values).

    The curves are averaged epoch by epoch before the best epoch is picked, as in the classic
    k-fold recipe. Taking each fold's own best epoch instead rewards noisy curves: their
    per-fold minima are lower by luck, and the final model, trained for one epoch count, does
    not get that luck. A fold that stopped early keeps its last value for the epochs it did
    not run (its curve had stopped improving): cutting every curve at the shortest would let
    one noisy fold's early stop forbid the longer training that slow, steady configurations
    need, and so favour configurations that peak fast.
    """
    n = max(len(c) for c in curves)
    grid = np.asarray([list(c) + [c[-1]] * (n - len(c)) for c in curves], dtype=np.float64)
    mean = grid.mean(axis=0)
    i = objective.best_index(mean.tolist())
    return i + 1, float(mean[i]), grid[:, i].tolist()


def reporters(callbacks: list[keras.callbacks.Callback]) -> list[Any]:
    """The engine callbacks that accept one value per step (fold) for pruning."""
    return [c for c in callbacks if hasattr(c, "report_step")]


def run_cv_trial(
    recorder: FoldRecorder,
    run_id: str,
    params: dict[str, Any],
    number: int,
    callbacks: list[keras.callbacks.Callback],
) -> TrialOutcome:
    """Train one configuration on each fold; its value is the best epoch of the mean curve."""
    cfg, data = recorder.cfg, recorder.data
    start = time.perf_counter()
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    values: list[float] = []
    curves: list[list[float]] = []
    cutoffs: list[list[float]] = []  # binary F1: each fold's validation threshold per epoch
    epochs = 0
    pruned = False
    for i, (tr, va) in enumerate(fold_splits(data, cfg.cv, cfg.data.split_seed), start=1):
        fold_run, logger = recorder.begin_fold(run_id, number, i)
        fold = replace(data, x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va])
        outcome = run_trial(
            params,
            fold,
            number=number,
            base_seed=cfg.search.seed,
            objective=cfg.objective,
            patience=cfg.patience,
            monitor=cfg.stop_monitor,
            callbacks=recorder.callbacks(logger),
            verbose=recorder.verbose,
        )
        recorder.finish(fold_run, logger, outcome)
        if outcome.state == FAILED or outcome.fit is None:
            return replace(
                outcome, seconds=time.perf_counter() - start, reason=f"fold {i}: {outcome.reason}"
            )
        values.append(float(outcome.value))
        curves.append(outcome.fit.history.get(cfg.objective, [float(outcome.value)]))
        if "val_threshold" in outcome.fit.history:
            cutoffs.append(outcome.fit.history["val_threshold"])
        epochs += outcome.fit.epochs_run
        best_epoch, mean, at_best = best_mean_epoch(curves, cfg.objective_monitor)
        # the pruner sees the quantity the trial is ranked by (the padded mean curve's best); it
        # is not asked after the last fold, when pruning would only throw the trial away
        if i < cfg.cv and any(r.report_step(i, mean) for r in reporters(callbacks)):
            pruned = True
            break
    spread = statistics.stdev(at_best) if len(at_best) > 1 else 0.0
    recorder.log_metrics(
        run_id,
        {
            "cv_folds_run": len(values),
            f"cv_{cfg.objective}_mean": mean,
            f"cv_{cfg.objective}_std": spread,
            f"cv_{cfg.objective}_mean_of_fold_bests": statistics.mean(values),
        },
    )
    fit = FitResult({}, epochs, best_epoch)
    val_metrics = {cfg.objective: mean}
    if cutoffs:  # the folds' thresholds at the chosen epoch (a fold that stopped keeps its last)
        val_metrics["val_threshold"] = statistics.mean(
            c[min(best_epoch, len(c)) - 1] for c in cutoffs
        )
    return TrialOutcome(
        number,
        params,
        PRUNED if pruned else COMPLETE,
        mean,
        fit,
        time.perf_counter() - start,
        None,
        val_metrics,
    )
