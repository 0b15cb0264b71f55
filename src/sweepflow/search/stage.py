"""The search stage: one tracked parent run, one nested run per trial, whichever engine runs."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sweepflow.config.task import TaskConfig
from sweepflow.data.prepare import Prepared
from sweepflow.engines import Engine, SearchSummary
from sweepflow.errors import SweepflowError, failure_reason
from sweepflow.search.budget import drive, work
from sweepflow.search.recorder import CallbackFactory, TrialRecorder
from sweepflow.search.session import (
    Session,
    close,
    interrupted,
    is_closed,
    join_session,
    open_session,
)
from sweepflow.tracking import Tracker

log = logging.getLogger("sweepflow.search")


@dataclass
class SearchResult:
    """The search's summary and where it was recorded."""

    summary: SearchSummary
    experiment_id: str
    parent_run_id: str
    seconds: float


def search_params(cfg: TaskConfig, engine: Engine, data: Prepared) -> dict[str, Any]:
    """What the parent run records about how this search was set up."""
    s = cfg.search
    how = {"sampler": s.sampler, "pruner": s.pruner} if s.engine == "optuna" else {"tuner": s.tuner}
    return {
        "task": cfg.name,
        "kind": cfg.kind,
        "engine": engine.name,
        **how,
        "trials": s.trials,
        "seed": s.seed,
        "objective": cfg.objective,
        "direction": cfg.direction,
        "patience": cfg.patience,
        "monitor": cfg.monitor,
        "task_file": cfg.source_file,
        **{k: v for k, v in data.summary().items() if v is not None},
    }


def describe_search(cfg: TaskConfig, data: Prepared, tracker: Tracker, session: Session) -> None:
    """The experiment's description, the run's source, and the training data as an input."""
    rows = len(data.y_train) + len(data.y_val) + len(data.y_test)
    tracker.describe(
        session.experiment_id,
        f"sweepflow task `{cfg.name}`: {cfg.kind} on {data.origin} ({rows} rows, "
        f"{data.n_features} model inputs); ranked by {cfg.objective}. Task file: "
        f"{cfg.source_file}",
    )
    tracker.log(
        session.parent_run_id,
        tags={
            "mlflow.source.name": f"sweepflow tune {cfg.source_file}",
            "mlflow.source.type": "LOCAL",
        },
    )
    try:
        tracker.log_dataset(
            session.parent_run_id, data.raw_train, f"{cfg.name}-train", data.origin, "training"
        )
    except Exception as exc:  # a dataset record is a nicety; never fail a search over it
        log.info("%s: training data not recorded as an MLflow input: %s", cfg.name, exc)


CURVE_TRIALS = 3  # learning-curve PNGs for the 3 best trials (and every final-model member)


def curves(cfg: TaskConfig) -> int:
    """How many of the best trials get a learning-curve PNG once the search is done."""
    return max(CURVE_TRIALS, cfg.final.ensemble if cfg.final.members == "top" else 1)


def draw_curves(
    cfg: TaskConfig, tracker: Tracker, session: Session, summary: SearchSummary
) -> None:
    """Learning-curve PNGs of the best trials (a figure is a nicety: never fail a search on it)."""
    best = [c.number for c in summary.candidates(curves(cfg))]
    try:
        tracker.draw_learning_curves(session.experiment_id, session.parent_run_id, best)
    except Exception as exc:
        log.info("%s: learning curves of trials %s not drawn: %s", cfg.name, best, exc)


def run_search(
    cfg: TaskConfig,
    data: Prepared,
    tracker: Tracker,
    engine: Engine,
    *,
    device: str = "",
    verbose: int = 0,
    extra_callbacks: CallbackFactory | None = None,
) -> SearchResult:
    """Run (or resume) the task's search; every trial is a nested MLflow run under one parent."""
    start = time.perf_counter()
    session = open_session(
        tracker, cfg.name, engine.name, cfg.search.trials, search_params(cfg, engine, data), device
    )
    parent = session.parent_run_id
    if not session.resumed:
        describe_search(cfg, data, tracker, session)
    recorder = TrialRecorder(cfg, data, tracker, session, verbose, extra_callbacks)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if not session.resumed:
                space_file = Path(tmp) / "search_space.yaml"
                space_file.write_text(yaml.safe_dump(cfg.space.as_dict(), sort_keys=False))
                tracker.log_files(parent, [space_file])
            summary = drive(engine, cfg, recorder, Path(tmp))
            tracker.log_files(parent, summary.figures, "plots")
        draw_curves(cfg, tracker, session, summary)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM/SIGHUP, a library's stop signal
            interrupted(tracker, parent, type(exc).__name__)
            raise
        tracker.log(parent, tags={"failure_reason": failure_reason(exc)})
        close(tracker, parent, stage="search failed", status="FAILED")
        raise
    max_epochs = int(cfg.space.max_value("epochs"))
    ran = summary.session_trials or len(summary.session_outcomes)
    metrics = {
        "best_value": summary.best_value,
        **{f"n_trials_{state}": n for state, n in summary.counts.items()},
        "session_trials": ran,
        "epochs_trained": summary.epochs_trained,
        # share of the epoch budget (every fold's, under cv) that pruning and early stopping
        # did not spend
        "epochs_saved_fraction": 1
        - summary.epochs_trained / max(1, ran * max_epochs * (cfg.cv or 1)),
        "search_seconds": time.perf_counter() - start,
    }
    tracker.log(
        parent,
        params={f"best.{k}": v for k, v in summary.best_params.items()},
        metrics=metrics,
        tags={"best_trial": str(summary.best_number)}
        # a process of the same session that finished later leaves a registered stage alone
        | ({} if is_closed(tracker, parent) else {"sweepflow.stage": "searched"}),
    )
    states = [o.state for o in summary.session_outcomes]
    mine = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "failed"))
    log.info(
        "%s: search done, best %s = %.4f (trial %d); this search ran %d trials (%s here); "
        "the study holds %d",
        cfg.name,
        cfg.objective,
        summary.best_value,
        summary.best_number,
        ran,
        mine,
        sum(summary.counts.values()),
    )
    return SearchResult(summary, session.experiment_id, parent, time.perf_counter() - start)


def run_worker(
    cfg: TaskConfig, data: Prepared, tracker: Tracker, engine: Engine, wait: float, verbose: int = 0
) -> int:
    """Add trials to the task's open search session until its budget is met; return how many."""
    if not engine.shares_study:  # refused before joining: nothing of the session is touched
        raise SweepflowError(
            f"engine '{engine.name}' cannot share a study between processes; use engine optuna"
        )
    session = join_session(tracker, cfg.name, wait)
    log.info(
        "%s: worker joined search run %s (budget %d trials)",
        cfg.name,
        session.parent_run_id,
        session.budget,
    )
    recorder = TrialRecorder(cfg, data, tracker, session, verbose)
    return work(engine, cfg, recorder)
