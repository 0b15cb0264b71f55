"""The search stage: one tracked parent run, one nested run per trial, whichever engine runs."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import yaml

from sweepflow.config import TaskConfig
from sweepflow.data import Prepared
from sweepflow.engines import Engine, SearchSummary
from sweepflow.tracking import Tracker
from sweepflow.trial import FAILED, TrialOutcome, run_trial

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
    return {
        "task": cfg.name,
        "kind": cfg.kind,
        "engine": engine.name,
        "sampler": s.sampler,
        "pruner": s.pruner,
        "trials": s.trials,
        "seed": s.seed,
        "objective": cfg.objective,
        "direction": cfg.direction,
        "patience": cfg.patience,
        "task_file": cfg.source_file,
        **{k: v for k, v in data.summary().items() if v is not None},
    }


def run_search(
    cfg: TaskConfig,
    data: Prepared,
    tracker: Tracker,
    engine: Engine,
    *,
    device: str = "",
    verbose: int = 0,
) -> SearchResult:
    """Run the task's search; every trial becomes a nested MLflow run under one parent run."""
    start = time.perf_counter()
    experiment_id = tracker.experiment(cfg.name)
    parent = tracker.start_run(
        experiment_id,
        f"search-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={"sweepflow.role": "search", "sweepflow.stage": "searching", "device": device},
    )
    tracker.log(parent, params=search_params(cfg, engine, data))
    trial_fn = make_trial_fn(cfg, data, tracker, experiment_id, parent, verbose)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            space_file = Path(tmp) / "search_space.yaml"
            space_file.write_text(yaml.safe_dump(cfg.space.as_dict(), sort_keys=False))
            tracker.log_files(parent, [space_file])
            summary = engine.search(cfg, trial_fn, Path(tmp))
            tracker.log_files(parent, summary.figures, "plots")
    except BaseException as exc:
        tracker.log(
            parent,
            tags={
                "sweepflow.stage": "search failed",
                "failure_reason": f"{type(exc).__name__}: {exc}"[:500],
            },
        )
        tracker.end(parent, ok=False)
        raise
    max_epochs = int(cfg.space.max_value("epochs"))
    ran = len(summary.session_outcomes)
    metrics = {
        "best_value": summary.best_value,
        "best_trial": summary.best_number,
        **{f"n_trials_{state}": n for state, n in summary.counts.items()},
        "session_trials": ran,
        "epochs_trained": summary.epochs_trained,
        # share of the epoch budget that pruning and early stopping did not spend
        "epochs_saved_fraction": 1 - summary.epochs_trained / max(1, ran * max_epochs),
        "search_seconds": time.perf_counter() - start,
    }
    tracker.log(
        parent,
        params={f"best.{k}": v for k, v in summary.best_params.items()},
        metrics=metrics,
        tags={"sweepflow.stage": "searched"},
    )
    log.info(
        "%s: search done, best %s = %.4f (trial %d); trials %s",
        cfg.name,
        cfg.objective,
        summary.best_value,
        summary.best_number,
        summary.counts,
    )
    return SearchResult(summary, experiment_id, parent, time.perf_counter() - start)


def make_trial_fn(
    cfg: TaskConfig,
    data: Prepared,
    tracker: Tracker,
    experiment_id: str,
    parent: str,
    verbose: int,
) -> Callable[..., TrialOutcome]:
    """What an engine calls per trial: a nested run around `run_trial`, closed whatever happens."""

    def trial_fn(
        params: dict[str, Any],
        number: int,
        callbacks: list[keras.callbacks.Callback],
        is_pruned: Callable[[], bool],
    ) -> TrialOutcome:
        run_id = tracker.start_run(
            experiment_id,
            f"trial-{number}",
            parent,
            tags={"sweepflow.role": "trial", "trial_number": number},
        )
        tracker.log(run_id, params=params)
        logger = tracker.epoch_logger(run_id)
        try:
            outcome = run_trial(
                params,
                data,
                number=number,
                base_seed=cfg.search.seed,
                objective=cfg.objective,
                patience=cfg.patience,
                callbacks=[logger, *callbacks],
                is_pruned=is_pruned,
                verbose=verbose,
            )
        except BaseException as exc:  # Ctrl-C or a kill signal: close the run, then re-raise
            logger.flush()
            tracker.log(run_id, tags={"state": FAILED, "failure_reason": type(exc).__name__})
            tracker.end(run_id, ok=False)
            raise
        logger.flush()
        tracker.finish_trial(run_id, outcome, cfg.objective)
        return outcome

    return trial_fn
