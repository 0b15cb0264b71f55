"""Scale-out: several worker processes on one study in PostgreSQL lose and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from helpers import PG, child_env, write_task
from mlflow import MlflowClient

from sweepflow.search.workers import threads_per_worker

REPO = Path(__file__).resolve().parents[2]  # the repository root
BUDGET = 6


@pytest.fixture
def pg_databases(pg_admin):
    """Two fresh PostgreSQL databases (Optuna's, MLflow's: each has its own alembic_version
    table) on the local server (trust auth), dropped afterwards."""
    names = [f"sweepflow_{role}_{uuid.uuid4().hex[:8]}" for role in ("optuna", "mlflow")]
    for name in names:
        pg_admin.cursor().execute(f"CREATE DATABASE {name}")
    yield [f"{PG}/{name}" for name in names]
    for name in names:
        pg_admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_threads_per_worker_split_the_cores():
    assert threads_per_worker(1, cores=2) == 2
    assert threads_per_worker(2, cores=2) == 1
    assert threads_per_worker(3, cores=2) == 1
    assert threads_per_worker(4, cores=16) == 4


@pytest.mark.slow  # three TensorFlow processes on PostgreSQL (~1-2 min); CI: make test-slow
@pytest.mark.postgres
def test_three_workers_on_one_postgresql_study(tmp_path, pg_databases, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    optuna_db, mlflow_db = pg_databases
    task = "tiny_workers"
    yaml_path = write_task(
        tmp_path, task, "binary", overrides={"search": {"trials": BUDGET, "seed": 5}}
    )
    env = child_env(
        PREFECT_API_URL=PREFECT_API_URL.value(),
        SWEEPFLOW_STORAGE=optuna_db,
        MLFLOW_TRACKING_URI=mlflow_db,  # the user's variable; the CLI adopts it
        SWEEPFLOW_HEARTBEAT_SECONDS="2",
        SWEEPFLOW_DATA_DIR=str(tmp_path),
    )
    out = subprocess.run(
        [sys.executable, "-m", "sweepflow", "tune", str(yaml_path), "--workers", "3"]
        + ["--store", str(tmp_path / "store")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "started 2 worker process(es)" in out.stderr + out.stdout

    study = optuna.load_study(study_name=task, storage=optuna_db)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # unique, none lost
    assert all(t.state.is_finished() for t in study.trials)
    # the budget is shared: workers stop once it is spent (at most one extra trial per worker)
    assert BUDGET <= len(study.trials) <= BUDGET + 2

    client = MlflowClient(mlflow_db, registry_uri=mlflow_db)
    exp = client.get_experiment_by_name(task).experiment_id
    (parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    trials = client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")
    assert sorted(int(r.data.tags["trial_number"]) for r in trials) == sorted(numbers)
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parent.info.run_id}
    assert all(r.info.status in ("FINISHED", "FAILED") for r in trials)
    assert len({r.data.tags["sweepflow.pid"] for r in trials}) >= 2  # several processes ran trials
    assert parent.data.metrics["session_trials"] == len(study.trials)

    versions = client.search_model_versions(f"name = '{task}'")
    assert len(versions) == 1  # only the leader registers
    assert str(client.get_model_version_by_alias(task, "champion").version) == "1"
    # the password-free URL is all there is here, but no storage URL is recorded as a param
    assert not any("postgresql" in v for v in parent.data.params.values())
