"""Screenshots of what a user browses after `make tune`: MLflow UI, optuna-dashboard, Prefect.

Starts the three servers on free loopback ports over an existing store (the MLflow UI as
`make ui` does, optuna-dashboard as `make dashboard`, a Prefect server with TASK's retrain
scheduled as `make schedule`), then has headless Chromium (Debian's `chromium`) save a PNG of each
page into OUT. A check to look at by eye, not a test:

    .venv/bin/python tools/screenshots.py --store mlruns --task breast_cancer --out shots
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sweepflow.prefect_server import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def wait_http(url: str, seconds: float = 120) -> None:
    """Wait until `url` answers 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(1)
    raise SystemExit(f"screenshots: {url} did not answer in {seconds:.0f} s")


@contextlib.contextmanager
def server(cmd: list[str], env: dict, log: Path) -> Iterator[None]:
    """Run one server process for the duration of the block."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def shot(url: str, path: Path, size: str = "1500,1000", wait_ms: int = 30000) -> None:
    """Save a PNG of `url` rendered by headless Chromium (JavaScript given `wait_ms` to run)."""
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={size}",
            f"--virtual-time-budget={wait_ms}",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    print(f"{path}  <- {url}")


def mlflow_ids(store: Path, task: str) -> dict[str, str]:
    """Experiment, latest search run, its best trial run, and the study id of `task`."""
    import optuna
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    exp = client.get_experiment_by_name(task)
    if exp is None:
        raise SystemExit(f"screenshots: no experiment '{task}' in {store}; run make tune first")
    (parent,) = client.search_runs(
        [exp.experiment_id], "tags.`sweepflow.role` = 'search'", max_results=1
    )
    best = int(parent.data.tags.get("best_trial", 0))
    trials = client.search_runs(
        [exp.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent.info.run_id}' and tags.trial_number = '{best}'",
    )
    storage = optuna.storages.RDBStorage(f"sqlite:///{store / 'optuna.db'}")
    return {
        "experiment": exp.experiment_id,
        "parent": parent.info.run_id,
        "trial": trials[0].info.run_id if trials else parent.info.run_id,
        "study": str(storage.get_study_id_from_name(task)),
    }


def main() -> None:
    """Start the servers, take the screenshots, stop the servers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="mlruns")
    parser.add_argument("--task", default="breast_cancer")
    parser.add_argument("--out", default="shots")
    args = parser.parse_args()
    store, out = Path(args.store).resolve(), Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ids = mlflow_ids(store, args.task)
    ui, dash, prefect = free_port(), free_port(), free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "DO_NOT_TRACK": "true"}
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    prefect_env = {**env, "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_API_URL": ""}
    prefect_env["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect}/api"
    mlflow_cmd = [str(BIN / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(ui)]
    mlflow_cmd += ["--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}"]
    mlflow_cmd += ["--default-artifact-root", str(store / "artifacts")]
    dash_cmd = [sys.executable, "-m", "sweepflow", "dashboard", args.task, "--store", str(store)]
    dash_cmd += ["--port", str(dash)]
    prefect_cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
    prefect_cmd += ["--port", str(prefect)]
    with (
        server(mlflow_cmd, env, tmp / "mlflow.log"),
        server(dash_cmd, env, tmp / "dashboard.log"),
        server(prefect_cmd, prefect_env, tmp / "prefect.log"),
    ):
        wait_http(f"http://127.0.0.1:{ui}/health")
        wait_http(f"http://127.0.0.1:{dash}/api/studies")
        wait_http(f"http://127.0.0.1:{prefect}/api/health")
        scheduled = subprocess.run(
            [sys.executable, "-m", "sweepflow", "schedule", args.task, "--store", str(store)]
            + ["--cron", "0 3 * * 1"],
            env=prefect_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        deployment = re.search(r"deployment ([0-9a-f-]{36})", scheduled).group(1)
        m = f"http://127.0.0.1:{ui}/#/experiments/{ids['experiment']}"
        ml = "?workflowType=machine_learning"  # MLflow 3's UI opens in its GenAI mode otherwise
        pages = {
            "mlflow-runs": f"{m}/runs{ml}",
            "mlflow-trial-chart": f"{m}/runs/{ids['trial']}/model-metrics{ml}",
            "mlflow-parent-artifacts": f"{m}/runs/{ids['parent']}/artifacts{ml}",
            "mlflow-models": f"http://127.0.0.1:{ui}/#/models/{args.task}{ml}",
            "optuna-dashboard": f"http://127.0.0.1:{dash}/dashboard/studies/{ids['study']}",
            "prefect-deployment": f"http://127.0.0.1:{prefect}/deployments/deployment/{deployment}",
        }
        for name, url in pages.items():
            shot(url, out / f"{name}.png")
    (out / "pages.json").write_text(json.dumps(pages, indent=1))


if __name__ == "__main__":
    main()
