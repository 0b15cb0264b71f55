"""Scheduled retraining against a real, standing Prefect server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import make_table, run, stop, write_task
from mlflow import MlflowClient

from sweepflow.store.layout import Store

REPO = Path(__file__).resolve().parents[2]  # the repository root


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
