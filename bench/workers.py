"""Trials per hour with 1 and 2 worker processes on one study (`make bench-workers`).

Runs `sweepflow tune TASK --workers n` for each n on a fresh store (the same trial budget and
seed), reads the search time and the trials the session ran from its parent MLflow run, and
writes bench/results/workers.md (+ .json). Search time excludes Python/TensorFlow start-up and
the final evaluation: it is the span from opening the search to the last trial's end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import hardware, write_report  # noqa: E402


def run(task: str, workers: int, trials: int, store: Path, prefect_home: Path) -> dict:
    """One tuning run with `workers` processes; its search figures from MLflow."""
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    cmd = [sys.executable, "-m", "sweepflow", "tune", task, "--workers", str(workers)]
    cmd += ["--trials", str(trials), "--store", str(store)]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store.resolve() / 'mlflow.db'}")
    exp = client.get_experiment_by_name(task).experiment_id
    (parent,) = client.search_runs([exp], "tags.`sweepflow.role` = 'search'")
    runs = client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")
    m = parent.data.metrics
    seconds = m["search_seconds"]
    return {
        "workers": workers,
        "trials": int(m["session_trials"]),
        "search_seconds": seconds,
        "trials_per_hour": m["session_trials"] / seconds * 3600,
        "epochs_per_hour": m["epochs_trained"] / seconds * 3600,
        "processes": len({r.data.tags.get("sweepflow.pid") for r in runs}),
        "best_value": m["best_value"],
        "wall_seconds": wall,
    }


def main() -> None:
    """Run n = 1, 2 and write the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="carseats")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    os.environ.setdefault("SWEEPFLOW_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "prefect"  # one Prefect database for all runs: created once
        for n in args.workers:
            results.append(run(args.task, n, args.trials, Path(tmp) / f"store-{n}", home))
            print(json.dumps(results[-1]))
    base = results[0]["trials_per_hour"]
    lines = [
        f"# Trials per hour with worker processes ({args.task}, {args.trials} trials)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {hardware()}; one run per row, in one go.",
        "Reproduce: `make bench-workers` (`python bench/workers.py --task T --trials N`).",
        "",
        "| workers | trials | search s | trials/hour | epochs/hour | processes that ran trials "
        "| speed-up | best val |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['workers']} | {r['trials']} | {r['search_seconds']:.0f} "
            f"| {r['trials_per_hour']:.0f} | {r['epochs_per_hour']:.0f} | {r['processes']} "
            f"| {r['trials_per_hour'] / base:.2f}× | {r['best_value']:.4f} |"
        )
    path = write_report("workers.md", lines)
    path.with_suffix(".json").write_text(
        json.dumps({"machine": hardware(), "runs": results}, indent=1)
    )


if __name__ == "__main__":
    main()
