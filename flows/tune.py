"""Prefect flow `tune`: prepare data → search → evaluate → register."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from sweepflow import tune as pipeline
from sweepflow.command import Command
from sweepflow.config.task import TaskConfig

prepare_data = task(pipeline.stage_prepare, name="prepare data", cache_policy=NO_CACHE)
search = task(pipeline.stage_search, name="search", cache_policy=NO_CACHE)
evaluate = task(pipeline.stage_evaluate, name="evaluate", cache_policy=NO_CACHE)
register = task(pipeline.stage_register, name="register", cache_policy=NO_CACHE)
baselines = task(pipeline.stage_baselines, name="baselines", cache_policy=NO_CACHE)


def run_name(prefix: str) -> Callable[[], str]:
    """Flow-run names that say what ran: `tune-carseats-20261201-101500`."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters
        cfg = params.get("cfg")  # the task's config, or as Prefect recorded it (a dict)
        name = cfg.get("name") if isinstance(cfg, dict) else getattr(cfg, "name", None)
        task_name = name or str(params.get("task_name", "task"))  # a scheduled run: task_name
        return f"{prefix}-{Path(task_name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    return name


def artifact_key(task_name: str) -> str:
    """A Prefect artifact key from a task name (lower-case letters, digits and dashes)."""
    return re.sub(r"[^a-z0-9-]+", "-", task_name.lower()).strip("-") or "task"


# validate_parameters=False: the config was validated once, on load; Prefect records it as given
@flow(name="tune", log_prints=True, flow_run_name=run_name("tune"), validate_parameters=False)
def tune(cfg: TaskConfig, command: Command) -> pipeline.TuneReport:
    """Tune one task end to end and register its best model."""
    start = time.perf_counter()
    data = prepare_data(cfg, command.data_dir)
    cfg = pipeline.stage_size(cfg, data)  # a YAML without space: sized from the table
    found = search(cfg, data, command)
    with pipeline.finishing(cfg, found, command) as done_elsewhere:
        if done_elsewhere is not None:  # a second `tune` on the same session: report, not redo
            done_elsewhere.seconds = time.perf_counter() - start
            return done_elsewhere
        evaluation = evaluate(cfg, data, found, command)
        compared = baselines(cfg, data, found, evaluation, command)
        decision = register(cfg, data, found, evaluation, command)
    seconds = time.perf_counter() - start
    return pipeline.report(cfg, found, evaluation, decision, seconds, compared)
