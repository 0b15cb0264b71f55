"""Shared test helpers: tiny generated tasks, child environments, in-process flow calls."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
# Variables that point sweepflow at other stores. mlflow.set_tracking_uri()/set_registry_uri()
# export MLFLOW_*_URI inside this test process, so child processes must not inherit them.
STORE_VARS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "SWEEPFLOW_TRACKING_URI",
    "SWEEPFLOW_STORAGE",
)
PG = "postgresql://postgres@127.0.0.1:5432"  # the local PostgreSQL (trust auth, database test)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child `sweepflow` process: this one's, minus store pointers."""
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARS}
    env.update(extra)
    return env


SMALL_SPACE = {
    "layers": {"type": "int", "min": 1, "max": 2},
    "units": {"type": "int", "min": 4, "max": 16, "log": True},
    "dropout": {"type": "float", "min": 0.0, "max": 0.2},
    "learning_rate": {"type": "float", "min": 0.005, "max": 0.05, "log": True},
    "optimizer": {"type": "choice", "values": ["adam", "rmsprop"]},
    "batch_size": {"type": "choice", "values": [16, 32]},
    "epochs": 6,
}


def make_table(kind: str, n: int = 160, seed: int = 0) -> pd.DataFrame:
    """A small learnable table: two numerics, one categorical, and a target of the given kind."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    effect = pd.Series(color).map({"red": 1.0, "green": 0.0, "blue": -1.0}).to_numpy()
    signal = 2 * x1 - 0.3 * x2 + effect
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color})
    if kind == "regression":
        frame["y"] = signal + rng.normal(scale=0.1, size=n)
    elif kind == "binary":
        frame["y"] = np.where(signal > np.median(signal), "yes", "no")
    else:
        frame["y"] = pd.cut(signal, 3, labels=["low", "mid", "high"]).astype(str)
    return frame


def write_task(
    folder: Path,
    name: str,
    kind: str,
    frame: pd.DataFrame | None = None,
    overrides: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Write `<name>.csv` and `<name>.yaml` (a CSV task) into `folder`; return the YAML path.

    `data` adds keys to the task's `data:` mapping; `overrides` replaces top-level sections.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (frame if frame is not None else make_table(kind)).to_csv(folder / f"{name}.csv", index=False)
    spec = {
        "task": name,
        "kind": kind,
        "data": {"source": "csv", "path": f"{name}.csv", "target": "y", **(data or {})},
        "search": {"trials": 2, "seed": 1, "pruner": "none"},
        "training": {"patience": 2},
        "space": SMALL_SPACE,
    }
    spec.update(overrides or {})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def command(store: str | Path, data_dir: str | Path | None = None, verbose: int = 0) -> Any:
    """The Command a CLI call would build over `store` (shared URLs from the environment)."""
    from sweepflow.command import Command
    from sweepflow.store.layout import Store

    return Command(Store.from_env(store), data_dir, verbose=verbose)


def tune(task: str, *, store: str, data_dir: str | None = None, **overrides: Any) -> Any:
    """The `tune` flow in this process, as `sweepflow tune TASK --trials … --store …` runs it."""
    from flows.tune import tune as tune_flow
    from sweepflow.config.task import load_task

    cfg = load_task(task, REPO / "search_spaces").with_overrides(**overrides)
    return tune_flow(cfg, command(store, data_dir))


def retrain(task: str, *, store: str, data_dir: str | None = None) -> Any:
    """The `retrain` flow in this process, as `sweepflow retrain TASK --store …` runs it."""
    from flows.retrain import retrain as retrain_flow
    from sweepflow.config.task import load_task

    return retrain_flow(load_task(task, REPO / "search_spaces"), command(store, data_dir))


def runs_of(client: Any, task: str) -> tuple[list, list]:
    """The task's search runs and trial runs."""
    exp = client.get_experiment_by_name(task)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweepflow.role") == "search"]
    children = [r for r in runs if r.data.tags.get("sweepflow.role") == "trial"]
    return parents, children


def score_from_champion(task: str, data: Any, uri: str) -> float:
    """The headline test metric recomputed from the registered champion on *raw* test inputs."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{task}@champion")
    out = model.predict(data.raw_test)
    if data.kind == "regression":
        return float(np.mean(np.abs(out["prediction"].to_numpy() - data.y_test)))
    assert set(out["label"]) <= set(data.class_names)
    assert ((out["probability"] >= 0) & (out["probability"] <= 1)).all()
    return float(np.mean(out["label_index"].to_numpy() == data.y_test))


def run(args: list[str], env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command from the repository root; it must succeed."""
    out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def stop(proc: subprocess.Popen) -> None:
    """Stop a process group we started (start_new_session=True), by its id."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def run_at_once(cmd: list[str], n: int, timeout: int = 600) -> list[tuple[int, str, str]]:
    """Start `cmd` n times at once from the repository root; (exit code, stdout, stderr) each."""
    procs = [
        subprocess.Popen(
            cmd,
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outs, strict=True)]
