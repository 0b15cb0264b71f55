"""What one trial leaves in the store: its nested run, its curves, its fold runs, its state."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras

from sweepflow import interrupts
from sweepflow.config.task import TaskConfig
from sweepflow.data.prepare import Prepared
from sweepflow.model.trial import FAILED, TrialOutcome, run_trial
from sweepflow.search.cv import run_cv_trial
from sweepflow.search.session import Session, close_orphans
from sweepflow.tracking import EpochLogger, Tracker

log = logging.getLogger("sweepflow.search")
# Makes fresh Keras callbacks for each trial (e.g. TensorBoard, or a benchmark's probes).
CallbackFactory = Callable[[], list[keras.callbacks.Callback]]


class StopOnSignal(keras.callbacks.Callback):
    """Ends a trial at the next epoch end once SIGTERM/SIGHUP came in (see interrupts.py)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Raise KeyboardInterrupt if a stop signal came in during this epoch."""
        interrupts.check()


class StopAt(keras.callbacks.Callback):
    """Ends training at an epoch end when one more epoch (as long as the last) would end past
    `stop_at` (time.monotonic); early stopping still restores the best epoch's weights."""

    def __init__(self, stop_at: float) -> None:
        super().__init__()
        self.stop_at, self.began = stop_at, time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Note when the epoch began."""
        self.began = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Stop if the next epoch would not end in time."""
        now = time.monotonic()
        if now + (now - self.began) > self.stop_at:
            self.model.stop_training = True


@dataclass(frozen=True)
class TrialClock:
    """Under `search.timeout` no trial trains past the search's deadline; with
    `search.trial_cap`, a trial started at `now` also stops once max(cap × timeout, the time
    searched so far) has passed, so the first models come early in the budget."""

    start: float  # when this process's search began (time.monotonic)
    timeout: float
    cap: float | None = None

    @property
    def deadline(self) -> float:
        """When the search stops (time.monotonic): no trial starts or trains past it."""
        return self.start + self.timeout

    def stop_at(self, now: float) -> float:
        """When a trial starting `now` must stop."""
        if self.cap is None:
            return self.deadline
        return min(self.deadline, now + max(self.cap * self.timeout, now - self.start))


class TrialRecorder:
    """Opens and closes the nested MLflow run of each trial, whichever engine drives it.

    Optuna calls it as a function (it builds and trains through `run_trial`); engines that train
    themselves (Keras Tuner) use `begin`, `logger` callbacks and `finish` from their trial hooks.
    """

    def __init__(
        self,
        cfg: TaskConfig,
        data: Prepared,
        tracker: Tracker,
        session: Session,
        verbose: int = 0,
        extra_callbacks: CallbackFactory | None = None,
    ) -> None:
        self.cfg, self.data, self.tracker, self.session = cfg, data, tracker, session
        self.experiment_id, self.parent = session.experiment_id, session.parent_run_id
        self.verbose, self.extra_callbacks = verbose, extra_callbacks
        self.budget = session.budget  # the session's trial budget, all processes together
        self.durations: list[float] = []  # this process's trial times (the time-left estimate)
        self.run_prefix = "trial"  # the nested runs' names: trial-N (a retrain: challenger-N)
        self.clock: TrialClock | None = None  # set by the search loop when trials are timed
        self.stop_at: float | None = None  # when the current trial must stop (its clock)

    def callbacks(self, logger: EpochLogger) -> list[keras.callbacks.Callback]:
        """The Keras callbacks every trial gets: its epoch logger, the stop-signal check, extras."""
        interrupts.check()  # a stop signal whose KeyboardInterrupt was swallowed
        extra = self.extra_callbacks() if self.extra_callbacks else []
        timed = [StopAt(self.stop_at)] if self.stop_at is not None else []
        return [logger, StopOnSignal(), *timed, *extra]

    def begin(self, number: int, params: dict[str, Any]) -> tuple[str, EpochLogger]:
        """Open the trial's run, log its params; return the run id and a fresh epoch logger."""
        self.stop_at = self.clock.stop_at(time.monotonic()) if self.clock else None
        run_id = self.tracker.start_run(
            self.experiment_id,
            f"{self.run_prefix}-{number}",
            self.parent,
            tags={
                "sweepflow.role": "trial",
                "trial_number": number,
                "sweepflow.host": socket.gethostname(),
                "sweepflow.pid": os.getpid(),
            },
        )
        self.tracker.log(run_id, params=params)
        return run_id, self.tracker.epoch_logger(run_id)

    def begin_fold(self, trial_run: str, number: int, fold: int) -> tuple[str, EpochLogger]:
        """Open fold `fold`'s run under the trial's run; return its id and an epoch logger."""
        run_id = self.tracker.start_run(
            self.experiment_id,
            f"trial-{number}-fold-{fold}",
            trial_run,
            tags={"sweepflow.role": "fold", "fold": fold},
        )
        return run_id, self.tracker.epoch_logger(run_id)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Metrics of a trial's run (e.g. its cross-validation summary)."""
        self.tracker.log(run_id, metrics=dict(metrics))

    def progress(
        self,
        number: int,
        state: str,
        value: float | None,
        seconds: float,
        *,
        best: tuple[float, int] | None = None,
        done: int | None = None,
        deadline: float | None = None,
    ) -> None:
        """One line per finished trial: its value, the best so far, trials done, time left."""
        self.durations.append(seconds)
        shown = "—" if value is None else f"{value:.4f}"
        if done is None:  # an engine that does not count the session's trials
            log.info("%s: trial %d %s value=%s", self.cfg.name, number, state, shown)
            return
        left = (self.budget - done) * sum(self.durations) / len(self.durations)
        if deadline is not None:
            left = min(left, max(0.0, deadline - time.monotonic()))
        log.info(
            "%s: trial %d %s %s=%s in %.0f s | best so far %s | %d/%d in this search, ~%s left",
            self.cfg.name,
            number,
            state,
            self.cfg.objective,
            shown,
            seconds,
            f"{best[0]:.4f} (trial {best[1]})" if best else "none yet",
            done,
            self.budget,
            clock(left),
        )

    def finished_trials(self) -> int:
        """Trial runs of this session that finished (in any process, any earlier run)."""
        return self.tracker.count_children(self.experiment_id, self.parent, "FINISHED")

    def close_orphans(self, states: Mapping[int, str] | None) -> int:
        """Close this session's trial runs left open by a stopped process (see session.py)."""
        return close_orphans(self.tracker, self.experiment_id, self.parent, states)

    def finish(self, run_id: str, logger: EpochLogger, outcome: TrialOutcome) -> None:
        """Flush the curves and close the run with the trial's state."""
        logger.flush()
        self.tracker.finish_trial(run_id, outcome, self.cfg.objective)

    def abort(self, run_id: str, logger: EpochLogger, exc: BaseException) -> None:
        """Close the run as failed when the trial is interrupted (Ctrl-C, kill signal)."""
        logger.flush()
        self.tracker.log(run_id, tags={"state": FAILED, "failure_reason": type(exc).__name__})
        self.tracker.end(run_id, ok=False)

    def __call__(
        self,
        params: dict[str, Any],
        number: int,
        callbacks: list[keras.callbacks.Callback],
        is_pruned: Callable[[], bool],
    ) -> TrialOutcome:
        """Run one trial through `run_trial` inside its own nested run."""
        run_id, logger = self.begin(number, params)
        try:
            if self.cfg.cv:
                outcome = run_cv_trial(self, run_id, params, number, callbacks)
            else:
                outcome = run_trial(
                    params,
                    self.data,
                    number=number,
                    base_seed=self.cfg.search.seed,
                    objective=self.cfg.objective,
                    patience=self.cfg.patience,
                    monitor=self.cfg.stop_monitor,
                    callbacks=[*self.callbacks(logger), *callbacks],
                    is_pruned=is_pruned,
                    verbose=self.verbose,
                )
        except BaseException as exc:
            self.abort(run_id, logger, exc)
            raise
        self.finish(run_id, logger, outcome)
        outcome.run_id = run_id
        return outcome


def clock(seconds: float) -> str:
    """12 s, 3 min 5 s, 1 h 02 min."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
