"""Several processes opening one fresh store at once: the databases are created exactly once."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from helpers import run_at_once
from mlflow import MlflowClient

from sweepflow.store.layout import Store

REPO = Path(__file__).resolve().parents[2]  # the repository root
OPEN = (
    "import sys\nfrom sweepflow.cli.commands import _open_store\n"
    "_open_store(sys.argv[1])\nprint('OPENED')\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(3))
def test_four_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path, round_):
    root = tmp_path / f"store-{round_}"
    for code, out, err in run_at_once([sys.executable, "-c", OPEN, str(root)], 4, timeout=300):
        assert code == 0 and "OPENED" in out, err[-2000:]
    store = Store(root)
    with sqlite3.connect(root / "mlflow.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert not [t for t in tables if t.startswith("_alembic_tmp")]
    client = MlflowClient(store.mlflow_uri)
    assert client.create_experiment(f"after-{round_}")  # the schema is complete and usable
    with sqlite3.connect(root / "optuna.db") as db:
        assert db.execute("select count(*) from version_info").fetchone()[0] == 1


@pytest.mark.slow  # two real `sweepflow tune` processes at once (~1-2 min)
def test_two_tunes_of_one_task_at_once_share_the_budget_and_register_once(tmp_path):
    """Both join one session; the first to finish evaluates and registers, the other reports it."""
    from helpers import write_task

    task = "tiny_twice"
    path = write_task(tmp_path, task, "multiclass", overrides={"search": {"trials": 4}})
    store = Store(tmp_path / "store")
    cmd = [sys.executable, "-m", "sweepflow", "tune", str(path), "--store", str(store.root)]
    cmd += ["--data-dir", str(tmp_path)]
    outs = run_at_once(cmd, 2)
    for code, _, err in outs:
        assert code == 0, err[-3000:]
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    versions = client.search_model_versions(f"name = '{task}'")
    assert [str(v.version) for v in versions] == ["1"]  # registered once
    logs = [out + err for _, out, err in outs]
    assert sum("another process already evaluated" in text for text in logs) == 1
    assert all("registered v1" in out for _, out, _ in outs)  # both summaries name the version
    exp = client.get_experiment_by_name(task).experiment_id
    parents = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert len(parents) == 1 and parents[0].data.tags["sweepflow.stage"] == "registered"
