"""Optuna pruning for sweepflow's trials: the pruner a YAML names, and the Keras callback that
reports a trial's epochs to it (only where it can act) and stops the trial when it says so."""

from __future__ import annotations

from typing import Any

import keras
import optuna

from sweepflow.config.task import TaskConfig
from sweepflow.store.optuna_storage import HeartbeatStorage


class EpochPruning(keras.callbacks.Callback):
    """Reports the objective to Optuna at the epochs where the task's pruner can act (see
    `pruner_acts_at`; by default every epoch, which suits any pruner) and stops training when
    the pruner says so."""

    def __init__(
        self,
        trial: optuna.Trial,
        monitor: str,
        pruner: str = "median",
        heartbeats: HeartbeatStorage | None = None,
    ) -> None:
        super().__init__()
        self.trial, self.monitor, self.pruner, self.pruned = trial, monitor, pruner, False
        self.heartbeats = heartbeats

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report this epoch's value if the pruner can act on it; ask the pruner."""
        if self.heartbeats is not None and self.heartbeats.heartbeat_failed:
            # the heartbeat thread could not write: write from this thread, which raises if the
            # store stopped taking writes (the trial ends at this epoch, not after all of them)
            self.trial.set_user_attr("heartbeat_missed_at_epoch", epoch + 1)
            self.heartbeats.heartbeat_failed = False
        value = (logs or {}).get(self.monitor)
        if value is None or not pruner_acts_at(self.pruner, epoch + 1):
            return
        if self.report_step(epoch + 1, float(value)):
            self.model.stop_training = True

    def report_step(self, step: int, value: float) -> bool:
        """Report one value (an epoch's, or a cross-validation fold's mean); True: prune."""
        self.trial.report(value, step=step)
        self.pruned = self.pruned or self.trial.should_prune()
        return self.pruned


# Successive halving's rungs, min resource × reduction factor^k steps: 2, 6, 18, 54, …
# (each Hyperband bracket starts at a later rung of the same ladder)
MIN_RESOURCE, REDUCTION = 2, 3


def pruner_acts_at(pruner: str, step: int) -> bool:
    """Whether the named pruner can decide on a value reported at `step`.

    Hyperband and successive halving decide at their rungs only: between them a report
    changes nothing they or the TPE sampler read (a pruned trial's last report is the rung
    that pruned it), yet costs a storage write and read, ~20 ms an epoch on SQLite
    (docs/performance.md). The median pruner compares every step; with none, no step.
    """
    if pruner == "median":
        return True
    if pruner not in ("hyperband", "successive_halving") or step < MIN_RESOURCE:
        return False
    if step % MIN_RESOURCE:  # not on the ladder
        return False
    rung = step // MIN_RESOURCE
    while rung % REDUCTION == 0:
        rung //= REDUCTION
    return rung == 1


def pruning_steps(cfg: TaskConfig) -> int:
    """How many values a trial reports to the pruner: one per fold under `cv:`, else per epoch."""
    return int(cfg.cv) if cfg.cv else int(cfg.space.max_value("epochs"))


def make_pruner(name: str, max_steps: int) -> optuna.pruners.BasePruner:
    """The pruner named in the task YAML; `max_steps` is Hyperband's maximum resource."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=MIN_RESOURCE, max_resource=max(max_steps, 3), reduction_factor=REDUCTION
        )
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=MIN_RESOURCE, reduction_factor=REDUCTION
        )
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    return optuna.pruners.NopPruner()
