"""Scheduled retraining against a real, standing Prefect server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
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

from sweepflow.store.layout import Store

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


def flow_runs(url: str, deployment_id: str) -> list[dict]:
    """The deployment's flow runs, as the server's REST API lists them."""
    body = json.dumps({"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}).encode()
    request = urllib.request.Request(
        f"{url}/flow_runs/filter", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_a_cron_schedule_fires_on_a_real_server_and_the_retrain_decides(tmp_path, prefect_server):
    """`schedule` + `serve` with a one-minute cron: the server's *scheduler* creates the run."""
    url, env = prefect_server
    task = "tiny_sched"
    path = write_task(tmp_path, task, "multiclass", overrides={"retrain": {"seeds": 1}})
    store = Store(tmp_path / "store")
    common = ["--store", str(store.root)]
    sweepflow = [sys.executable, "-m", "sweepflow"]
    data = ["--data-dir", str(tmp_path)]
    run([*sweepflow, "tune", str(path), "--trials", "1", *common, *data], env)
    make_table("multiclass", n=240, seed=9).to_csv(tmp_path / f"{task}.csv", index=False)
    out = run([*sweepflow, "schedule", str(path), "--cron", "* * * * *", *common, *data], env)
    assert "scheduled retrain of tiny_sched" in out.stdout
    deployment_id = re.search(r"deployment ([0-9a-f-]{36})", out.stdout).group(1)
    scheduled_at = time.monotonic()
    serve_log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [*sweepflow, "serve", *common],
        cwd=REPO,
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    done: list[dict] = []
    try:
        deadline = scheduled_at + 240
        while time.monotonic() < deadline and not done:
            runs = flow_runs(url, deployment_id)
            done = [r for r in runs if r["auto_scheduled"] and r["state_type"] == "COMPLETED"]
            time.sleep(3)
    finally:
        stop(server)
        serve_log.close()
    waited = time.monotonic() - scheduled_at
    server_log = (tmp_path / "server.log").read_text()[-2000:]
    assert done, f"no scheduled run completed in {waited:.0f} s; server log: {server_log}"
    print(f"scheduled -> completed run by the scheduler in {waited:.0f} s")
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    versions = {str(v.version): v.tags for v in client.search_model_versions(f"name='{task}'")}
    assert {"1", "2"} <= set(versions)
    assert versions["2"]["decision.champion_version"] == "1"
    assert versions["2"]["decision.promoted"] in {"True", "False"}
    retrains = client.search_runs(
        [client.get_experiment_by_name(task).experiment_id], "tags.`sweepflow.role` = 'retrain'"
    )
    assert retrains and all(r.info.status == "FINISHED" for r in retrains)
    assert "decision.reason" in retrains[0].data.tags
    # Prefect's own CLI lists the scheduled run by its name (it answered 422 on fastapi >= 0.151)
    prefect = [str(Path(sys.executable).parent / "prefect"), "flow-run", "ls"]
    listed = run(prefect, {**env, "COLUMNS": "250"}).stdout  # a wide table: names unclipped
    assert f"retrain-{task}-" in listed, listed[-2000:]
