"""Prefect flow `retrain`: champion → current data → drift → challenger → paired decision."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.tune import artifact_key, prepare_data, run_name
from sweepflow.command import Command
from sweepflow.config.task import TaskConfig
from sweepflow.retrain import stages as rt
from sweepflow.tune import stage_size

start = task(rt.start, name="load champion", cache_policy=NO_CACHE)
check_drift = task(rt.check_drift, name="check drift", cache_policy=NO_CACHE)
challenger = task(rt.train_challenger, name="train challenger", cache_policy=NO_CACHE)
decide = task(rt.decide, name="compare and register", cache_policy=NO_CACHE)


@flow(name="retrain", log_prints=True, flow_run_name=run_name("retrain"), validate_parameters=False)
def retrain(cfg: TaskConfig, command: Command) -> rt.RetrainReport:
    """Retrain a task's champion on its current data; promote only a really better model."""
    run = start(cfg, command)
    try:
        data = prepare_data(cfg, command.data_dir)
        cfg = stage_size(cfg, data)
        run = check_drift(cfg, data, run, command)
        if run.skipped:
            rt.finish_skipped(run, command)
            version, result = None, None
        else:
            evaluation = challenger(cfg, data, run, command)
            version, result = decide(cfg, data, run, evaluation, command)
    except BaseException as exc:
        rt.fail(run, command, exc)
        raise
    report = rt.report(cfg, run, version, result)
    create_markdown_artifact(  # the decision, visible on the Prefect flow run
        rt.decision_markdown(report, result),
        key=f"retrain-{artifact_key(cfg.name)}",
        description=f"{cfg.name}: champion v{report.champion_version} vs challenger",
    )
    return report
