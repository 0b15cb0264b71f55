"""The four stages of a tuning run as plain typed functions (the flow only wires them)."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepflow.config import TaskConfig
from sweepflow.data import Prepared, prepare
from sweepflow.engines import make_engine
from sweepflow.evaluate import Evaluation, final_evaluate
from sweepflow.registry import Decision, register
from sweepflow.search import SearchResult, run_search, run_worker
from sweepflow.session import close
from sweepflow.settings import Store
from sweepflow.tracking import Tracker

log = logging.getLogger("sweepflow")


@dataclass
class TuneReport:
    """What one `tune` run achieved, for the CLI and the flow's return value."""

    task: str
    best_value: float
    objective: str
    test_metrics: dict[str, float]
    version: str
    promoted: bool
    reason: str
    parent_run_id: str
    seconds: float

    def line(self) -> str:
        """A one-line human summary."""
        headline = ", ".join(f"{k}={v:.4f}" for k, v in self.test_metrics.items())
        verdict = "now champion" if self.promoted else "champion unchanged"
        return (
            f"{self.task}: best {self.objective}={self.best_value:.4f}; test {headline}; "
            f"registered v{self.version} ({verdict}: {self.reason}); "
            f"{self.seconds:.0f} s; run {self.parent_run_id}"
        )


def stage_prepare(cfg: TaskConfig, data_dir: Path) -> Prepared:
    """Load, split and preprocess the task's data."""
    start = time.perf_counter()
    data = prepare(cfg, data_dir)
    log.info(
        "%s: data from %s — train %d, val %d, test %d, %d features (%.1f s)",
        cfg.name,
        data.origin,
        len(data.y_train),
        len(data.y_val),
        len(data.y_test),
        data.n_features,
        time.perf_counter() - start,
    )
    return data


def stage_search(cfg: TaskConfig, data: Prepared, store: Store, verbose: int = 0) -> SearchResult:
    """Run the search with the task's engine, tracked in the store."""
    from sweepflow.model import configure_devices

    device = configure_devices()
    log.info(
        "%s: searching %d trials with %s on %s",
        cfg.name,
        cfg.search.trials,
        cfg.search.engine,
        device,
    )
    engine = make_engine(cfg.search.engine, store)
    return run_search(cfg, data, Tracker.for_store(store), engine, device=device, verbose=verbose)


def stage_evaluate(
    cfg: TaskConfig, data: Prepared, search: SearchResult, store: Store, verbose: int = 0
) -> Evaluation:
    """Retrain the best configuration and score it on the test split; log it on the search run."""
    tracker = Tracker.for_store(store)
    with tempfile.TemporaryDirectory() as tmp:
        evaluation = final_evaluate(
            data,
            search.summary,
            base_seed=cfg.search.seed,
            out_dir=Path(tmp),
            verbose=verbose,
            final=cfg.final,
        )
        tracker.log_files(search.parent_run_id, evaluation.files, "evaluation")
    tracker.log(
        search.parent_run_id,
        metrics={
            **evaluation.metrics,
            "final_epochs": evaluation.epochs,
            "final_train_seconds": evaluation.seconds,
            "final_members": evaluation.members,
        },
        tags={"sweepflow.stage": "evaluated"},
    )
    log.info(
        "%s: test %s", cfg.name, ", ".join(f"{k}={v:.4f}" for k, v in evaluation.metrics.items())
    )
    return evaluation


def stage_register(
    cfg: TaskConfig, data: Prepared, search: SearchResult, evaluation: Evaluation, store: Store
) -> Decision:
    """Register the final model and apply the champion rule; close the search run."""
    tracker = Tracker.for_store(store)
    decision = register(tracker, search.parent_run_id, cfg.name, data, evaluation)
    close(tracker, search.parent_run_id, stage="registered")
    return decision


def stage_work(
    cfg: TaskConfig, data: Prepared, store: Store, worker: int, wait: float, verbose: int = 0
) -> int:
    """One more worker on the task's open search: run trials until its budget is spent."""
    from sweepflow.model import configure_devices

    device = configure_devices()
    log.info("%s: worker %d on %s", cfg.name, worker, device)
    engine = make_engine(cfg.search.engine, store, worker=worker)
    return run_worker(cfg, data, Tracker.for_store(store), engine, wait, verbose)


def report(
    cfg: TaskConfig,
    search: SearchResult,
    evaluation: Evaluation,
    decision: Decision,
    seconds: float,
) -> TuneReport:
    """Summarise a finished tuning run."""
    metrics: dict[str, Any] = {k: float(v) for k, v in evaluation.metrics.items()}
    return TuneReport(
        cfg.name,
        search.summary.best_value,
        cfg.objective,
        metrics,
        decision.version,
        decision.promoted,
        decision.reason,
        search.parent_run_id,
        seconds,
    )
