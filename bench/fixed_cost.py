"""Where a trial's fixed cost goes: a cProfile of one tracked search, split by part of the trial.

In one process (a discarded 2-trial search first warms TensorFlow up), the task's default search
runs `--trials N` with real MLflow tracking into a fresh store under cProfile. Each fit's fixed
cost is its run's duration minus its epochs at the steady epoch time (bench/common.py:
fixed_cost); the profile then says which parts of the code the time outside the epochs went
to: fresh state (clear_session, gc), build + compile, the first train step's tracing and the
other one-off work inside `fit`, validation scoring, the trial's MLflow run (open, params,
close, curves) and the learning-curve PNGs (since a4e6709 drawn for the 3 best trials once the
search is done, outside every trial's run; before, one per trial inside its run close).
Writes bench/results/fixed_cost.md + .json.

    .venv/bin/python bench/fixed_cost.py [--tasks carseats imdb] [--trials 6] [--name fixed_cost]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ENV,
    ROOT,
    data_dir,
    fixed_cost,
    load_json,
    machine,
    now,
    save_json,
    write_report,
)

# part of a trial → the functions whose cumulative time is that part (file suffix, name)
PARTS = {
    "fresh state (clear_session, gc, seed)": [("model/network.py", "fresh_state")],
    "build + compile": [("model/network.py", "build_model")],
    "fit (all epochs, incl. first-step tracing)": [("model/network.py", "fit")],
    "MLflow run open + params": [("tracking.py", "start_run")],
    "MLflow run close (state, metrics; the PNG before a4e6709)": [("tracking.py", "finish_trial")],
    "learning-curve PNGs (since a4e6709: 3 best trials, after the search)": [
        ("sweepflow/plots.py", "learning_curve")
    ],
    "epoch curves flushed": [("tracking.py", "flush")],
    "whole trial (recorder)": [("search/recorder.py", "__call__")],
}


def seconds_in(stats: pstats.Stats, suffix: str, name: str) -> tuple[float, int]:
    """Cumulative seconds and primitive calls of the functions named `name` in `*suffix`."""
    total, calls = 0.0, 0
    for (path, _line, func), (cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and path.endswith(suffix):
            total += ct
            calls += cc
    return total, calls


def profile_task(task: str, trials: int, root: Path) -> dict:
    """One warm-up search, then the profiled one; the parts per fit and the measured fixed cost."""
    from mlflow import MlflowClient

    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.engines.optuna_engine import OptunaEngine
    from sweepflow.search.stage import run_search
    from sweepflow.store.layout import Store
    from sweepflow.tracking import Tracker
    from sweepflow.tune import stage_size

    cfg = load_task(task, ROOT / "search_spaces")
    data = prepare(cfg, data_dir())
    cfg = stage_size(cfg, data)
    warm = Store(root / "warm")
    run_search(
        cfg.with_overrides(trials=2),
        data,
        Tracker.for_store(warm),
        OptunaEngine(warm.study_storage),
    )
    store = Store(root / "store")
    tracker = Tracker.for_store(store)
    tracker.client.search_experiments()  # the store's tables: once per store, not per trial
    profiler = cProfile.Profile()
    profiler.enable()
    result = run_search(
        cfg.with_overrides(trials=trials), data, tracker, OptunaEngine(store.study_storage)
    )
    profiler.disable()
    stats = pstats.Stats(profiler)
    client = MlflowClient(store.mlflow_uri)
    exp = client.get_experiment_by_name(cfg.name).experiment_id
    fits = [
        r
        for r in client.search_runs([exp])
        if r.data.tags.get("sweepflow.role") in ("fold", "trial")
        and (cfg.cv is None or r.data.tags.get("sweepflow.role") == "fold")
    ]
    measured = fixed_cost(client, fits)
    n_fits = max(1, measured["trials"])
    parts = {}
    for part, funcs in PARTS.items():
        seconds = sum(seconds_in(stats, suffix, name)[0] for suffix, name in funcs)
        parts[part] = seconds / n_fits
    steady = (
        measured["s_per_epoch"]
        * sum(len(client.get_metric_history(r.info.run_id, "loss")) for r in fits)
        / n_fits
    )
    parts["fit minus its steady epochs (tracing, callbacks set-up, restore)"] = (
        parts["fit (all epochs, incl. first-step tracing)"] - steady
    )
    return {
        "task": task,
        "fits": n_fits,
        "trials": len(result.summary.session_outcomes),
        "cv": cfg.cv,
        "measured": measured,
        "steady_epochs_s_per_fit": steady,
        "parts_s_per_fit": parts,
    }


def report(rows: list[dict], name: str) -> list[str]:
    """The markdown table: seconds per fit in each part, beside the measured fixed cost."""
    lines = [
        f"# Fixed cost per trial: where it goes ({name})",
        "",
        f"{machine()}; {now()}. Default task YAML, one tracked search under cProfile after a "
        "warm-up search in the same process. Per fit (a trial, or one fold of a cv trial). "
        f"Regenerate: `.venv/bin/python bench/fixed_cost.py --name {name}`.",
        "",
    ]
    for row in rows:
        m = row["measured"]
        lines += [
            f"## {row['task']} ({row['fits']} fits, {row['trials']} trials"
            + (f", {row['cv']}-fold cv" if row["cv"] else "")
            + ")",
            "",
            f"Measured fixed cost: **{m['fixed_s_per_trial']:.2f} s per fit = "
            f"{100 * m['fixed_fraction']:.0f} %** of {m['trial_s']:.2f} s; steady epoch "
            f"{m['s_per_epoch']:.3f} s.",
            "",
            "| part | s per fit | share of fit run |",
            "|---|---|---|",
        ]
        for part, seconds in row["parts_s_per_fit"].items():
            lines.append(f"| {part} | {seconds:.3f} | {100 * seconds / m['trial_s']:.0f} % |")
        lines.append("")
    return lines


def main() -> None:
    """Profile each task and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["carseats", "imdb"])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--name", default="fixed_cost")
    args = parser.parse_args()
    os.environ.update(ENV)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    rows = {r["task"]: r for r in (load_json(args.name) or {}).get("rows", [])}
    for task in args.tasks:
        with tempfile.TemporaryDirectory() as tmp:
            rows[task] = profile_task(task, args.trials, Path(tmp))
        print(task, rows[task]["measured"], flush=True)
        save_json(args.name, {"machine": machine(), "when": now(), "rows": list(rows.values())})
        write_report(f"{args.name}.md", report(list(rows.values()), args.name))


if __name__ == "__main__":
    main()
