"""Scheduled retraining against a real, standing Prefect server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import child_env, make_table, write_task
from mlflow import MlflowClient

from sweepflow.settings import Store

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a process group we started, by its id."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def prefect_server(tmp_path):
    """`prefect server start` on a free loopback port; yields (API URL, environment)."""
    port = free_port()
    env = {k: v for k, v in child_env().items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-server"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    else:
        stop(proc)
        pytest.fail(
            f"prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}"
        )
    env["PREFECT_API_URL"] = url
    yield url, env
    stop(proc)
    log.close()


def run(args: list[str], env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_scheduled_retrain_runs_when_triggered_through_the_api(tmp_path, prefect_server):
    _, env = prefect_server
    task = "tiny_sched"
    path = write_task(tmp_path, task, "multiclass", overrides={"retrain": {"seeds": 1}})
    store = Store(tmp_path / "store")
    common = ["--store", str(store.root)]
    run(
        [
            sys.executable,
            "-m",
            "sweepflow",
            "tune",
            str(path),
            "--trials",
            "1",
            *common,
            "--data-dir",
            str(tmp_path),
        ],
        env,
    )
    make_table("multiclass", n=240, seed=9).to_csv(tmp_path / f"{task}.csv", index=False)
    out = run(
        [
            sys.executable,
            "-m",
            "sweepflow",
            "schedule",
            str(path),
            "--cron",
            "0 3 * * 1",
            *common,
            "--data-dir",
            str(tmp_path),
        ],
        env,
    )
    assert "scheduled retrain of tiny_sched" in out.stdout
    serve_log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "sweepflow", "serve", *common],
        cwd=REPO,
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        trigger = (
            "from prefect.deployments import run_deployment\n"
            f"run = run_deployment('retrain/retrain-{task}', timeout=420, poll_interval=2)\n"
            "print('STATE', run.state.type.value)\n"
        )
        out = run([sys.executable, "-c", trigger], env, timeout=480)
        assert "STATE COMPLETED" in out.stdout, (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        stop(server)
        serve_log.close()
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    versions = {str(v.version): v.tags for v in client.search_model_versions(f"name='{task}'")}
    assert set(versions) == {"1", "2"}
    assert versions["2"]["decision.champion_version"] == "1"
    assert versions["2"]["decision.promoted"] in {"True", "False"}
    retrains = client.search_runs(
        [client.get_experiment_by_name(task).experiment_id], "tags.`sweepflow.role` = 'retrain'"
    )
    assert len(retrains) == 1 and retrains[0].info.status == "FINISHED"
    assert "decision.reason" in retrains[0].data.tags
