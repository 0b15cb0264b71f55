"""Faults: Ctrl-C, kill -9 and crashes mid-run lose nothing, and `tune` resumes to its budget."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from helpers import child_env, make_table, tune, write_task
from mlflow import MlflowClient

from sweepflow.cli.commands import main
from sweepflow.registry import register as registry
from sweepflow.store.layout import Store

REPO = Path(__file__).resolve().parents[2]  # the repository root
BUDGET = 4


def sweepflow_proc(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`python -m sweepflow …` in its own process group, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "sweepflow", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C must reach the child as in a terminal, even when the tests themselves run in a
        # background job (`make test-slow &`), whose shell starts them with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def trial_runs(db: Path) -> dict[str, int]:
    """Trial runs by MLflow status, read straight from the SQLite file (no MLflow client)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db, timeout=30) as con:
        try:
            rows = con.execute(
                "select r.status, count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                "and t.key = 'sweepflow.role' and t.value = 'trial' group by r.status"
            ).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return {}
    return dict(rows)


def wait_mid_trial(proc: subprocess.Popen, db: Path, finished_at_least: int) -> None:
    """Block until `finished_at_least` trial runs are finished and another one is running."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = trial_runs(db)
        if runs.get("FINISHED", 0) >= finished_at_least and runs.get("RUNNING", 0) >= 1:
            time.sleep(1.0)  # well inside the trial's training
            return
        time.sleep(0.3)
    raise AssertionError(f"no running trial after {finished_at_least} finished: {trial_runs(db)}")


def completed_numbers(store: Store, task: str) -> set[int]:
    study = optuna.load_study(study_name=task, storage=store.study_storage)
    return {t.number for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}


@pytest.fixture
def prefect_api(prefect_harness):
    """The test harness's Prefect API, so child processes need no server of their own."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.mark.slow  # three real `sweepflow tune` processes (~1-2 min); CI runs it (make test-slow)
def test_ctrl_c_then_kill_9_then_resume_keeps_every_finished_trial(tmp_path, prefect_api):
    task = "tiny_faults"
    # ~3,000 rows, 40 epochs without early stopping: trials (~10 s) long enough to be cut off
    # mid-way even on a loaded machine (a kill that lands between trials proves nothing)
    yaml_path = write_task(
        tmp_path,
        task,
        "regression",
        make_table("regression", n=3000),
        overrides={
            "search": {"trials": BUDGET, "seed": 3, "pruner": "none"},
            "training": {"patience": 40},
            "space": {
                "layers": 1,
                "units": {"type": "int", "min": 8, "max": 32},
                "learning_rate": {"type": "float", "min": 0.001, "max": 0.01, "log": True},
                "optimizer": "adam",
                "batch_size": 16,
                "epochs": 40,
            },
        },
    )
    store = Store(tmp_path / "store")
    db = store.root / "mlflow.db"
    env = child_env(
        PREFECT_API_URL=prefect_api,
        SWEEPFLOW_HEARTBEAT_SECONDS="1",  # a killed trial is stale after 3 s
        SWEEPFLOW_DATA_DIR=str(tmp_path),
    )
    args = ["tune", str(yaml_path), "--store", str(store.root)]

    # 1. Ctrl-C in the second trial: that trial is closed as failed, exit 130, how to resume.
    proc = sweepflow_proc(args, env)
    wait_mid_trial(proc, db, finished_at_least=1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("sweepflow: interrupted")
    assert "resume" in err.strip().splitlines()[-1]
    client = MlflowClient(store.mlflow_uri)
    exp = client.get_experiment_by_name(task).experiment_id
    (parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert parent.info.status == "KILLED" and parent.data.tags["sweepflow.session"] == "open"
    assert trial_runs(db).get("RUNNING", 0) == 0
    study = optuna.load_study(study_name=task, storage=store.study_storage)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    kept = completed_numbers(store, task)
    assert kept

    # 2. kill -9 in a later trial: nothing can clean up; the trial is left RUNNING.
    proc = sweepflow_proc(args, env)
    wait_mid_trial(proc, db, finished_at_least=trial_runs(db).get("FINISHED", 0) + 1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert trial_runs(db).get("RUNNING", 0) == 1
    kept |= completed_numbers(store, task)

    # 3. Run again: resumes the same search to its budget, then evaluates and registers.
    proc = sweepflow_proc(args, env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "resuming the interrupted search run" in err + out
    # the console is sweepflow's own: TensorFlow's start-up lines and MLflow's echoes are off
    assert "absl::InitializeLog" not in err and "oneDNN" not in err, err[:2000]
    assert "Created version" not in err and "Successfully registered" not in err, err[-2000:]

    study = optuna.load_study(study_name=task, storage=store.study_storage)
    states = {t.number: t.state for t in study.trials}
    assert optuna.trial.TrialState.RUNNING not in states.values()
    assert kept <= completed_numbers(store, task)  # every trial finished before a kill is kept
    counted = [
        t
        for t in study.trials
        if t.state != optuna.trial.TrialState.FAIL or "failure_reason" in t.user_attrs
    ]
    assert len(counted) == BUDGET  # the two cut-off trials did not eat the budget
    assert sum(s == optuna.trial.TrialState.FAIL for s in states.values()) >= 2

    parents = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert len(parents) == 1  # resumed, not restarted
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweepflow.stage"] == "registered"
    assert parent.data.tags["sweepflow.session"] == "closed"
    trials = client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")
    numbers = sorted(int(r.data.tags["trial_number"]) for r in trials)
    assert numbers == sorted(states)  # exactly one MLflow run per Optuna trial
    for run in trials:
        state = states[int(run.data.tags["trial_number"])]
        assert run.info.status == (
            "FAILED" if state == optuna.trial.TrialState.FAIL else "FINISHED"
        )
    cut = [r for r in trials if r.info.status == "FAILED"]
    assert any("interrupted" in r.data.tags.get("failure_reason", "") for r in cut)  # the kill -9
    assert any(r.data.tags.get("failure_reason") == "KeyboardInterrupt" for r in cut)  # Ctrl-C
    champion = client.get_model_version_by_alias(task, "champion")
    assert str(champion.version) == "1" and "test_mae" in champion.tags


def test_crash_during_registration_is_redone_without_a_half_applied_champion(
    tmp_path, monkeypatch, prefect_harness
):
    task = "tiny_crash"
    yaml_path = write_task(tmp_path, task, "binary")
    store = Store(tmp_path / "store")
    real = registry.promote_if_better

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(registry, "promote_if_better", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path))
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    (version,) = client.search_model_versions(f"name = '{task}'")
    assert "test_accuracy" in version.tags  # the version was created with its evaluation
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(task, "champion")

    monkeypatch.setattr(registry, "promote_if_better", real)
    report = tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path))
    assert report.version == "1" and report.promoted  # reused, not registered twice
    assert len(client.search_model_versions(f"name = '{task}'")) == 1
    exp = client.get_experiment_by_name(task).experiment_id
    parents = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert len(parents) == 1 and parents[0].info.run_id == report.parent_run_id
    assert len(client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")) == 2  # no rerun
    assert str(client.get_model_version_by_alias(task, "champion").version) == "1"


def test_full_disk_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    path = write_task(tmp_path, "tiny_disk", "regression")
    monkeypatch.setenv("SWEEPFLOW_MIN_FREE_MB", str(10**12))
    assert main(["tune", str(path), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MB free" in err[0] and "--store" in err[0]
    assert not (tmp_path / "store" / "mlflow.db").exists()


def test_locked_sqlite_store_gives_a_hint_to_move_to_postgresql(tmp_path, monkeypatch, capsys):
    path = write_task(tmp_path, "tiny_lock", "regression")
    store = Store(tmp_path / "store")
    store.ensure()
    MlflowClient(store.mlflow_uri).search_experiments()  # create the schema
    monkeypatch.setenv("SWEEPFLOW_DATA_DIR", str(tmp_path))
    holder = sqlite3.connect(store.root / "mlflow.db", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        code = main(["worker", str(path), "--store", str(store.root), "--wait", "0"])
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("sweepflow: error:") and "PostgreSQL" in err[-1]


def test_a_diverging_trial_and_an_out_of_memory_trial_fail_with_reasons_and_the_study_goes_on(
    tmp_path,
):
    from sweepflow.command import Command
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.model.trial import run_trial
    from sweepflow.tune import stage_search

    yaml_path = write_task(
        tmp_path,
        "tiny_bad_trials",
        "regression",
        overrides={
            "search": {"trials": 2, "seed": 0, "sampler": "grid", "pruner": "none"},
            "space": {
                "layers": 1,
                "units": 4,
                "learning_rate": {"type": "choice", "values": [1.0e12, 0.01]},
                "optimizer": "sgd",
                "batch_size": 16,
                "epochs": 5,
            },
        },
    )
    cfg = load_task(str(yaml_path), tmp_path)
    data = prepare(cfg, tmp_path)

    # A layer no machine can hold: TensorFlow's real allocation failure, caught for this trial.
    huge = {"layers": 1, "units_1": 2**40, "learning_rate": 0.01, "optimizer": "adam"}
    outcome = run_trial(
        {**huge, "batch_size": 16, "epochs": 2, "dropout": 0.0},
        data,
        number=0,
        base_seed=0,
        objective="val_mae",
        patience=2,
    )
    assert outcome.state == "failed" and "OOM when allocating" in outcome.reason

    store = Store(tmp_path / "store")
    result = stage_search(cfg, data, Command(store))  # the diverging trial must not end the study
    assert result.summary.counts == {"complete": 1, "pruned": 0, "failed": 1}
    assert result.summary.best_params["learning_rate"] == 0.01
    study = optuna.load_study(study_name="tiny_bad_trials", storage=store.study_storage)
    (failed,) = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert "diverged" in failed.user_attrs["failure_reason"]
    client = MlflowClient(store.mlflow_uri)
    exp = client.get_experiment_by_name("tiny_bad_trials").experiment_id
    (run,) = client.search_runs([exp], "tags.state = 'failed'")
    assert run.info.status == "FAILED" and "diverged" in run.data.tags["failure_reason"]


def start_mid_trial(
    tmp_path: Path, task: str
) -> tuple[Store, list[str], dict[str, str], subprocess.Popen]:
    """A 3-trial `sweepflow tune` of long (~10 s) trials, running, returned inside trial 2.

    No PREFECT_API_URL: the command starts (and owns) its temporary Prefect server.
    """
    yaml_path = write_task(
        tmp_path,
        task,
        "regression",
        make_table("regression", n=3000),
        overrides={
            "search": {"trials": 3, "seed": 3, "pruner": "none"},
            "training": {"patience": 40},
            "space": {"layers": 1, "units": 16, "learning_rate": 0.003, "optimizer": "adam"}
            | {"batch_size": 16, "epochs": 40},
        },
    )
    store = Store(tmp_path / "store")
    env = child_env(SWEEPFLOW_DATA_DIR=str(tmp_path))
    env.pop("PREFECT_API_URL", None)
    args = ["tune", str(yaml_path), "--store", str(store.root)]
    proc = sweepflow_proc(args, env)
    wait_mid_trial(proc, store.root / "mlflow.db", finished_at_least=1)
    return store, args, env, proc


def store_processes(store: Path) -> list[int]:
    """Live processes whose environment points at `store` (sweepflow, workers, Prefect server)."""
    marker = f"PREFECT_HOME={store.resolve() / 'prefect'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                state = (proc / "stat").read_text().split(")")[-1].split()[0]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow  # two real `sweepflow tune` processes (~1-2 min); CI runs it (make test-slow)
@pytest.mark.parametrize("how", ["SIGTERM to the group", "SIGHUP"])
def test_a_supervisors_signal_ends_like_ctrl_c_and_leaves_no_process(tmp_path, how):
    """`kill -TERM -- -PGID` (systemd, docker stop, CI) or a hang-up mid-trial: the trial FAIL in
    Optuna and failed in MLflow, the parent interrupted and resumable, exit 130 in seconds with no
    traceback, and no process of the command left (its temporary Prefect server included)."""
    task = "tiny_signals"
    store, args, env, proc = start_mid_trial(tmp_path, task)
    db = store.root / "mlflow.db"
    sent = time.monotonic()
    if how == "SIGHUP":
        proc.send_signal(signal.SIGHUP)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err[-3000:]
    assert took < 15, f"exit took {took:.0f} s"
    assert "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("sweepflow: interrupted")
    deadline = time.monotonic() + 10
    while store_processes(store.root) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert store_processes(store.root) == []

    client = MlflowClient(store.mlflow_uri)
    exp = client.get_experiment_by_name(task).experiment_id
    (parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert parent.info.status == "KILLED", parent.data.tags
    assert parent.data.tags["sweepflow.session"] == "open"
    assert parent.data.tags["sweepflow.stage"] == "interrupted"
    assert trial_runs(db).get("RUNNING", 0) == 0
    states = [
        t.state for t in optuna.load_study(study_name=task, storage=store.study_storage).trials
    ]
    assert optuna.trial.TrialState.RUNNING not in states
    assert optuna.trial.TrialState.FAIL in states

    # the re-run resumes the same session and runs only what its budget still misses
    again = sweepflow_proc(args, env)
    out, err = again.communicate(timeout=400)
    assert again.returncode == 0, err[-3000:]
    assert "resuming the interrupted search run" in err + out
    (parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    assert parent.data.tags["sweepflow.session"] == "closed"
    study = optuna.load_study(study_name=task, storage=store.study_storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3  # the budget, not a fresh budget on top
    assert store_processes(store.root) == []


def _can_freeze(folder: Path) -> bool:
    """True where `chattr +i` works here (root on ext4/xfs): the real read-only fault."""
    probe = folder / "chattr-probe"
    probe.write_text("x")
    frozen = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    if frozen:
        subprocess.run(["chattr", "-i", str(probe)], check=True)
        try:
            probe.write_text("y")
        except OSError:
            return False
    return frozen and os.geteuid() == 0


@pytest.mark.slow  # two real `sweepflow tune` processes (~1-2 min); CI runs it (make test-slow)
def test_a_store_that_turns_read_only_mid_run_ends_in_one_line_and_resumes(tmp_path):
    """`chattr -R +i store` after a trial: exit 2 in seconds with one `sweepflow: error:` line
    naming the store, no traceback; made writable again, the same command resumes the search."""
    if shutil.which("chattr") is None or not _can_freeze(tmp_path):
        pytest.skip("needs chattr +i (root on ext4/xfs) to make the store really read-only")
    task = "tiny_readonly"
    store, args, env, proc = start_mid_trial(tmp_path, task)
    db = store.root / "mlflow.db"
    subprocess.run(["chattr", "-R", "+i", str(store.root)], check=True)
    try:
        frozen_at = time.monotonic()
        out, err = proc.communicate(timeout=180)
        took = time.monotonic() - frozen_at
    finally:
        subprocess.run(["chattr", "-R", "-i", str(store.root)], check=True)
    assert proc.returncode == 2, err[-3000:]
    assert took < 60, f"{took:.0f} s to give up"
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"sweepflow: error: the store {store.root}"), last
    assert "run the same command" in last

    again = sweepflow_proc(args, env)
    out, err = again.communicate(timeout=400)
    assert again.returncode == 0, err[-3000:]
    assert "resuming the interrupted search run" in err + out or "resum" in err + out
    assert trial_runs(db).get("RUNNING", 0) == 0
