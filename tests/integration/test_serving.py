"""The champion served over HTTP by `mlflow models serve`, as `make serve-model` starts it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import child_env, run, write_task

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.prefect_server import free_port
from sweepflow.store.layout import Store

REPO = Path(__file__).resolve().parents[2]  # the repository root


@pytest.mark.slow
def test_the_served_champion_answers_raw_rows_like_the_pyfunc(tmp_path):
    task = "tiny_served"
    path = write_task(tmp_path, task, "multiclass")
    store = Store(tmp_path / "store")
    env = child_env()
    tune = [sys.executable, "-m", "sweepflow", "tune", str(path), "--store", str(store.root)]
    run([*tune, "--data-dir", str(tmp_path)], env)  # asserts it succeeded
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    serve_env = {
        **env,
        "PATH": f"{bin_dir}:{env.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": store.mlflow_uri,
    }
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            os.path.join(bin_dir, "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{task}@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=serve_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(
                f"the model server did not start: {(tmp_path / 'serve.log').read_text()[-2000:]}"
            )
        data = prepare(load_task(str(path), tmp_path), tmp_path)
        rows = data.raw_test.head(6).copy()
        rows.loc[rows.index[0], "x1"] = np.nan  # a missing number
        rows.loc[rows.index[1], "color"] = None  # a missing category
        rows["x2"] = rows["x2"].round(0)  # floats that look like integers (81.0)
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split"))}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
    mlflow.set_tracking_uri(store.mlflow_uri)
    mlflow.set_registry_uri(store.mlflow_uri)
    local = mlflow.pyfunc.load_model(f"models:/{task}@champion").predict(rows)
    assert served["label"].tolist() == local["label"].tolist()
    np.testing.assert_allclose(served["probability"], local["probability"], rtol=1e-5)
    assert {f"proba_{c}" for c in data.class_names} <= set(served.columns)
