"""Prefect flow `tune`: prepare data → search → evaluate → register."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from sweepflow import tune as pipeline
from sweepflow.config.task import load_task
from sweepflow.environment import DEFAULT_SPACES_DIR, resolve_data_dir
from sweepflow.store.layout import DEFAULT_STORE, Store

prepare_data = task(pipeline.stage_prepare, name="prepare data", cache_policy=NO_CACHE)
search = task(pipeline.stage_search, name="search", cache_policy=NO_CACHE)
evaluate = task(pipeline.stage_evaluate, name="evaluate", cache_policy=NO_CACHE)
register = task(pipeline.stage_register, name="register", cache_policy=NO_CACHE)
baselines = task(pipeline.stage_baselines, name="baselines", cache_policy=NO_CACHE)


def run_name(prefix: str) -> Callable[[], str]:
    """Flow-run names that say what ran: `tune-carseats-20261201-101500`."""

    def name() -> str:
        from prefect.runtime import flow_run

        task_name = str(flow_run.parameters.get("task_name", "task"))
        return f"{prefix}-{Path(task_name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    return name


def artifact_key(task_name: str) -> str:
    """A Prefect artifact key from a task name (lower-case letters, digits and dashes)."""
    return re.sub(r"[^a-z0-9-]+", "-", task_name.lower()).strip("-") or "task"


@flow(name="tune", log_prints=True, flow_run_name=run_name("tune"))
def tune(
    task_name: str,
    trials: int | None = None,
    engine: str | None = None,
    seed: int | None = None,
    store: str = str(DEFAULT_STORE),
    data_dir: str | None = None,
    spaces_dir: str = str(DEFAULT_SPACES_DIR),
    verbose: int = 0,
) -> pipeline.TuneReport:
    """Tune one task end to end and register its best model."""
    start = time.perf_counter()
    cfg = load_task(task_name, Path(spaces_dir)).with_overrides(
        trials=trials, engine=engine, seed=seed
    )
    where = Store.from_env(store)  # shared databases come from the environment
    data = prepare_data(cfg, resolve_data_dir(data_dir))
    cfg = pipeline.stage_size(cfg, data)  # a YAML without space: sized from the table
    found = search(cfg, data, where, verbose)
    with pipeline.finishing(cfg, found, where) as done_elsewhere:
        if done_elsewhere is not None:  # a second `tune` on the same session: report, not redo
            done_elsewhere.seconds = time.perf_counter() - start
            return done_elsewhere
        evaluation = evaluate(cfg, data, found, where, verbose)
        compared = baselines(cfg, data, found, evaluation, where)
        decision = register(cfg, data, found, evaluation, where)
    seconds = time.perf_counter() - start
    return pipeline.report(cfg, found, evaluation, decision, seconds, compared)
