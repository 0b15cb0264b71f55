"""The four stages of a tuning run as plain typed functions (the flow only wires them)."""

from __future__ import annotations

import functools
import inspect
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sweepflow.command import Command
from sweepflow.config.defaults import auto_config, size_class
from sweepflow.config.space import SearchSpace
from sweepflow.config.task import TaskConfig
from sweepflow.data.prepare import Prepared, prepare
from sweepflow.engines import make_engine
from sweepflow.errors import SweepflowError
from sweepflow.evaluate.final import Evaluation, final_evaluate
from sweepflow.model.backend import configure_devices
from sweepflow.registry.register import Decision, register
from sweepflow.search.session import close
from sweepflow.search.stage import SearchResult, run_search, run_worker
from sweepflow.store.layout import store_fault_error, store_lock
from sweepflow.tracking import Tracker

log = logging.getLogger("sweepflow")
T = TypeVar("T")


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
    baselines: str = ""  # the comparison line with the linear / HistGB baselines

    def line(self) -> str:
        """A human summary: one line, and the baseline comparison below it."""
        headline = ", ".join(f"{k}={v:.4f}" for k, v in self.test_metrics.items())
        verdict = "now champion" if self.promoted else "champion unchanged"
        main = (
            f"{self.task}: best {self.objective}={self.best_value:.4f}; test {headline}; "
            f"registered v{self.version} ({verdict}: {self.reason}); "
            f"{self.seconds:.0f} s; run {self.parent_run_id}"
        )
        return main + (f"\n    {self.baselines}" if self.baselines else "")


def guards_store(stage: Callable[..., T]) -> Callable[..., T]:
    """A stage whose failure, when the store broke under it, ends in one clear error.

    A store that turns read-only, fills up or is corrupted mid-run makes MLflow and Optuna raise
    from deep inside (and log their tracebacks); the store is then asked what is wrong.
    """
    signature = inspect.signature(stage)

    @functools.wraps(stage)
    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return stage(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, SweepflowError):
                raise
            store = signature.bind(*args, **kwargs).arguments["command"].store
            reason = store.fault()
            if reason is None:
                raise
            raise store_fault_error(store, reason) from None

    return guarded


def stage_prepare(cfg: TaskConfig, data_dir: Path) -> Prepared:
    """Load, split and preprocess the task's data."""
    start = time.perf_counter()
    data = prepare(cfg, data_dir)
    for column, why in data.left_out.items():
        log.info("%s: column '%s' left out of the features: %s", cfg.name, column, why)
    if data.rows_missing_target:
        log.info("%s: %d row(s) with a missing target left out", cfg.name, data.rows_missing_target)
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


def stage_size(cfg: TaskConfig, data: Prepared) -> TaskConfig:
    """A YAML without `space:` gets its space, budget, CV and ensemble from the table's size."""
    if not cfg.auto:
        return cfg
    rows = len(data.y_train) + len(data.y_val)
    sized = auto_config(cfg, rows, data.n_features, len(data.class_names))
    log.info(
        "%s: default space for a %s table (%d train+val rows): %s; %s; %d trials or %.0f s; "
        "final model averages %d networks",
        cfg.name,
        size_class(rows),
        rows,
        describe(sized.space),
        f"{sized.cv}-fold CV ranking" if sized.cv else "one validation split",
        sized.search.trials,
        sized.search.timeout or 0,
        sized.final.ensemble,
    )
    return sized


def describe(space: SearchSpace) -> str:
    """A space in one short line: `layers 1–3, units 32–256 (log), optimizer adam, …`."""
    parts = []
    for name, spec in space.as_dict().items():
        if not isinstance(spec, dict):
            parts.append(f"{name} {spec}")
        elif spec["type"] == "choice":
            parts.append(f"{name} {'/'.join(map(str, spec['values']))}")
        else:
            log_scale = " (log)" if spec.get("log") else ""
            parts.append(f"{name} {spec['min']:g}–{spec['max']:g}{log_scale}")
    return ", ".join(parts)


@guards_store
def stage_search(cfg: TaskConfig, data: Prepared, command: Command) -> SearchResult:
    """Run the search with the task's engine, tracked in the store."""
    device = configure_devices(command.threads)
    log.info(
        "%s: searching %d trials with %s on %s",
        cfg.name,
        cfg.search.trials,
        cfg.search.engine,
        device,
    )
    engine = make_engine(cfg.search.engine, command.store)
    return run_search(cfg, data, command.tracker, engine, device=device, verbose=command.verbose)


@guards_store
def stage_evaluate(
    cfg: TaskConfig, data: Prepared, search: SearchResult, command: Command
) -> Evaluation:
    """Retrain the best configuration and score it on the test split; log it on the search run."""
    tracker = command.tracker
    with tempfile.TemporaryDirectory() as tmp:
        evaluation = final_evaluate(
            data,
            search.summary,
            base_seed=cfg.search.seed,
            out_dir=Path(tmp),
            verbose=command.verbose,
            final=cfg.final,
        )
        tracker.log_files(search.parent_run_id, evaluation.files, "evaluation")
    tags = {"sweepflow.stage": "evaluated"}
    for warning in evaluation.warnings:
        log.warning("%s: %s", cfg.name, warning)
        tags["sweepflow.warning.single_class"] = warning
    tracker.log(
        search.parent_run_id,
        params={"decision_threshold": evaluation.threshold} if data.kind == "binary" else {},
        metrics={
            **evaluation.metrics,
            "final_epochs": evaluation.epochs,
            "final_train_seconds": evaluation.seconds,
            "final_members": evaluation.members,
        },
        tags=tags,
    )
    log.info(
        "%s: test %s", cfg.name, ", ".join(f"{k}={v:.4f}" for k, v in evaluation.metrics.items())
    )
    return evaluation


@guards_store
def stage_baselines(
    cfg: TaskConfig, data: Prepared, search: SearchResult, evaluation: Evaluation, command: Command
) -> str:
    """Fit the linear and HistGB baselines on the same split; log them; return the comparison."""
    if not cfg.baselines:
        return ""
    from sweepflow.evaluate.baselines import fit_baselines

    found = fit_baselines(data)
    headline = evaluation.headline
    parts = [f"{name} {headline}={ms[headline]:.4f}" for name, ms in found.metrics.items()]
    parts += [f"{name} skipped ({why})" for name, why in found.skipped.items()]
    beaten = found.beaten_by(data.kind, evaluation.value)
    best = max if evaluation.higher_is_better else min
    top = best((ms[headline] for ms in found.metrics.values()), default=None)
    if beaten:
        verdict = f"WARNING: {' and '.join(beaten)} beat the tuned network ({evaluation.value:.4f})"
    elif top is not None and top == evaluation.value:
        verdict = f"the tuned network ({evaluation.value:.4f}) ties the best of them"
    else:
        verdict = f"the tuned network ({evaluation.value:.4f}) beats them"
    line = f"baselines on the same split: {', '.join(parts)} — {verdict}"
    tags = {f"baseline.{n}.skipped": why for n, why in found.skipped.items()}
    if beaten:
        log.warning("%s: %s", cfg.name, line)
        tags["sweepflow.warning.baseline"] = f"{', '.join(beaten)} beat the network on {headline}"
    else:
        log.info("%s: %s", cfg.name, line)
    command.tracker.log(search.parent_run_id, metrics=found.flat(), tags=tags)
    return line


@guards_store
def stage_register(
    cfg: TaskConfig, data: Prepared, search: SearchResult, evaluation: Evaluation, command: Command
) -> Decision:
    """Register the final model and apply the champion rule; close the search run."""
    tracker = command.tracker
    decision = register(tracker, search.parent_run_id, cfg.name, data, evaluation)
    close(tracker, search.parent_run_id, stage="registered")
    return decision


@contextmanager
def finishing(
    cfg: TaskConfig, search: SearchResult, command: Command
) -> Iterator[TuneReport | None]:
    """One process evaluates and registers a search session, however many ran it.

    Two `tune` commands on one task join one session; both reach its end. The first to take the
    session's lock (a file beside the store) evaluates and registers; the other waits for it,
    then gets the recorded result (not None) and evaluates nothing.
    """
    with store_lock(command.store, f".finish-{search.parent_run_id}.lock"):
        yield finished_report(cfg, search, command.tracker)


def finished_report(cfg: TaskConfig, search: SearchResult, tracker: Tracker) -> TuneReport | None:
    """The result another process recorded for this session, if it registered a model."""
    if not tracker.enabled:
        return None
    run = tracker.client.get_run(search.parent_run_id)
    tags, metrics = run.data.tags, run.data.metrics
    # the session's own tags: its stage may read "searched" again, set by the later finisher
    if tags.get("sweepflow.session") != "closed" or "registered_version" not in tags:
        return None
    log.info(
        "%s: another process already evaluated and registered this search (v%s); not redone",
        cfg.name,
        tags["registered_version"],
    )
    return TuneReport(
        cfg.name,
        search.summary.best_value,
        cfg.objective,
        {k: v for k, v in metrics.items() if k.startswith("test_")},
        tags["registered_version"],
        tags.get("promoted") == "True",
        tags.get("champion.reason", "") + "; evaluated and registered by another process",
        search.parent_run_id,
        0.0,
    )


@guards_store
def stage_work(cfg: TaskConfig, data: Prepared, command: Command, worker: int, wait: float) -> int:
    """One more worker on the task's open search: run trials until its budget is spent."""
    device = configure_devices(command.threads)
    log.info("%s: worker %d on %s", cfg.name, worker, device)
    engine = make_engine(cfg.search.engine, command.store, worker=worker)
    return run_worker(cfg, data, command.tracker, engine, wait, command.verbose)


def report(
    cfg: TaskConfig,
    search: SearchResult,
    evaluation: Evaluation,
    decision: Decision,
    seconds: float,
    baselines: str = "",
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
        baselines,
    )
