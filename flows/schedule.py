"""Scheduled retraining: a Prefect deployment of `retrain` per task, run by one `serve` process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from prefect import flow, serve
from prefect.deployments.runner import RunnerDeployment

from flows.retrain import retrain
from flows.tune import run_name
from sweepflow.command import Command
from sweepflow.config.task import load_task
from sweepflow.errors import SweepflowError
from sweepflow.retrain.stages import RetrainReport
from sweepflow.store.layout import Store

SCHEDULES = "schedules.json"  # in the store: what `serve` serves


@flow(name="scheduled-retrain", log_prints=True, flow_run_name=run_name("retrain"))
def scheduled_retrain(
    task_name: str, store: str, data_dir: str | None, spaces_dir: str
) -> RetrainReport:
    """A scheduled run is a command of its own: load the task and open the store once, retrain."""
    cfg = load_task(task_name, Path(spaces_dir))
    return retrain(cfg, Command(Store.from_env(store), data_dir))  # URLs: from the environment


def deployment(
    task: str, cron: str, store: str, data_dir: str | None, spaces_dir: str
) -> RunnerDeployment:
    """The scheduled `retrain` deployment of one task with its cron schedule."""
    params = {"task_name": task, "store": store, "data_dir": data_dir, "spaces_dir": spaces_dir}
    try:
        return scheduled_retrain.to_deployment(
            name=f"retrain-{Path(task).stem}", cron=cron, parameters=params, tags=["sweepflow"]
        )
    except ValueError as exc:
        raise SweepflowError(f"invalid CRON {cron!r}: {exc}".splitlines()[0]) from None


def require_server() -> str:
    """The standing Prefect server's API URL (schedules never fire on the ephemeral one)."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise SweepflowError(
            "scheduling needs a standing Prefect server: run `make server`, "
            "then use PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


def schedule_retrain(
    task: str, cron: str, store: Store, data_dir: str | None, spaces_dir: str
) -> str:
    """Create or update the task's deployment on the server and remember it for `serve`."""
    require_server()
    entry = {
        "task": task,
        "cron": cron,
        "store": str(store.root.resolve()),
        "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
        "spaces_dir": str(Path(spaces_dir).resolve()),
    }
    deployment_id = deployment(**entry).apply()
    path = store.root / SCHEDULES
    entries = [e for e in _read(path) if e["task"] != task] + [entry]
    path.write_text(json.dumps(entries, indent=1))
    return str(deployment_id)


def _read(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.is_file() else []


def serve_scheduled(store: Store, limit: int | None = None) -> None:
    """Run every scheduled retrain deployment of this store (blocks; Ctrl-C stops)."""
    require_server()
    entries = _read(store.root / SCHEDULES)
    if not entries:
        raise SweepflowError(
            f"nothing scheduled in {store.root}; run `make schedule TASK=… CRON=…`"
        )
    serve(*[deployment(**e) for e in entries], limit=limit)
