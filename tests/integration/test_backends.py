"""The Keras 3 backend: chosen once by the CLI (--backend, SWEEPFLOW_BACKEND, KERAS_BACKEND)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import keras  # this process runs Keras on its default backend (TensorFlow) from here on
import pytest
from helpers import child_env, write_task
from mlflow import MlflowClient

from sweepflow import cli
from sweepflow.store.layout import Store

REPO = Path(__file__).resolve().parents[2]  # the repository root


def test_an_unknown_backend_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SWEEPFLOW_BACKEND", "mxnet")
    path = write_task(tmp_path, "bk", "binary")
    store = tmp_path / "store"
    assert cli.main(["tune", str(path), "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend 'mxnet'" in err[0] and "SWEEPFLOW_BACKEND" in err[0]
    assert not store.exists()


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_a_backend_that_is_not_installed_names_the_make_target(tmp_path, capsys, name):
    """Either it is installed, and chosen, or the one line says how to install it."""
    path = write_task(tmp_path, "bk", "binary")
    store = tmp_path / "store"
    code = cli.main(["tune", str(path), "--store", str(store), "--backend", name])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert keras.backend.backend() == "tensorflow"
    if importlib.util.find_spec(name) is None:
        assert f"make install-{name}" in err[0]
    else:  # this process already runs Keras on TensorFlow: refused, not silently ignored
        assert "already imported" in err[0]
    assert not store.exists()


@pytest.mark.slow  # a real `sweepflow tune --backend jax` (make test-slow installs jax first)
def test_a_tune_on_jax_end_to_end_registers_a_model_tensorflow_loads(tmp_path):
    task = "tiny_jax"
    path = write_task(tmp_path, task, "multiclass")
    store = Store(tmp_path / "store")
    cmd = [sys.executable, "-m", "sweepflow", "tune", str(path), "--store", str(store.root)]
    cmd += ["--data-dir", str(tmp_path), "--backend", "jax"]
    out = subprocess.run(
        cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    exp = client.get_experiment_by_name(task).experiment_id
    (parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert parent.data.tags["backend"] == "jax" and "jax" in parent.data.tags["device"]
    # the registered model is backend-neutral: this (TensorFlow) process loads and runs it
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(store.mlflow_uri)
    model = mlflow.pyfunc.load_model(f"models:/{task}@champion")
    rows = pd.read_csv(tmp_path / f"{task}.csv").drop(columns="y").head(5)
    answer = model.predict(rows)
    assert len(answer) == 5 and answer["probability"].between(0, 1).all()
