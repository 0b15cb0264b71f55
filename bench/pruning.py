"""Pruning: epochs trained ÷ (trials × max epochs) with the YAML's pruner vs none (target 5).

For each task: `python -m sweepflow tune <task> --seed 0` with pruner `none` (a copy of the task
YAML in a temp folder), compared with the same command with the YAML's own pruner — taken from
bench/results/quality.json (seed 0) when bench/quality.py already ran it, else run here.
Targets: ratio ≤ 0.5 with pruning, best test metric within 0.005 of the unpruned search.
Writes bench/results/pruning.md + pruning.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from common import (
    ROOT,
    load_json,
    machine,
    now,
    save_json,
    search_record,
    tune_subprocess,
    write_report,
)

METRIC = {"imdb": "test_accuracy", "fashion_mnist": "test_accuracy"}


def run(task: str, pruner: str, tmp: Path) -> dict:
    """One tune of `task` at seed 0 with `pruner`."""
    spaces = tmp / f"spaces-{pruner}"
    spaces.mkdir(exist_ok=True)
    raw = yaml.safe_load((ROOT / "search_spaces" / f"{task}.yaml").read_text())
    raw.setdefault("search", {})["pruner"] = pruner
    (spaces / f"{task}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    store = tmp / f"store-{task}-{pruner}"
    out = tune_subprocess(task, 0, store, spaces)
    out.update(search_record(store, task) if out["ok"] else {"parent": {}})
    shutil.rmtree(store, ignore_errors=True)
    return out


def main() -> int:
    """Pruned vs unpruned search per task."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(METRIC))
    parser.add_argument("--report", action="store_true", help="only rewrite pruning.md")
    args = parser.parse_args()
    if args.report:
        args.tasks = []
    results = load_json("pruning") or {}
    quality = load_json("quality") or []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            pruned = next(
                (r for r in quality if r["task"] == task and r["seed"] == 0 and r["ok"]), None
            )
            if pruned is None:
                pruned = run(task, "hyperband", Path(tmp))
            results[task] = {"pruned": pruned, "unpruned": run(task, "none", Path(tmp))}
            save_json("pruning", results)
            print(task, results[task]["unpruned"]["test"], flush=True)
    lines = [
        "# Pruning (issue 5, target 5)",
        "",
        f"Table written {now()} from runs made on {machine()}. "
        "Command: `make bench-pruning`. Seed 0, the YAML's "
        "default budget; the pruned side is seed 0 of bench/results/quality.json.",
        "",
        "| task | pruner | epochs trained ÷ (trials × max epochs) | target ≤ 0.5 | best val | "
        "test metric | Δ test vs no pruning (target ≥ −0.005) | wall (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, pair in results.items():
        metric = METRIC[task]
        base = pair["unpruned"]["test"].get(metric)
        for side in ("pruned", "unpruned"):
            r = pair[side]
            used = 1 - r["parent"].get("epochs_saved_fraction", float("nan"))
            test = r["test"].get(metric)
            delta = test - base if test is not None and base is not None else float("nan")
            ok_used = "yes" if used <= 0.5 else "**no**"
            ok_delta = "yes" if delta >= -0.005 else "**no**"
            lines.append(
                f"| {task} | {'hyperband' if side == 'pruned' else 'none'} | {used:.3f} | "
                f"{ok_used if side == 'pruned' else '—'} | {r['best_val']} | {metric} {test} | "
                f"{f'{delta:+.4f} ({ok_delta})' if side == 'pruned' else '—'} | "
                f"{r['wall_s']:.0f} |"
            )
    for task in METRIC:
        r = next((r for r in quality if r["task"] == task and r["seed"] == 0 and r["ok"]), None)
        if task not in results and r is not None:
            used = 1 - r["parent"].get("epochs_saved_fraction", float("nan"))
            lines.append(
                f"| {task} | hyperband | {used:.3f} | {'yes' if used <= 0.5 else '**no**'} | "
                f"{r['best_val']} | {METRIC[task]} {r['test'].get(METRIC[task])} | not measured: "
                f"the unpruned search was not run in the time box | {r['wall_s']:.0f} |"
            )
    lines += [
        "",
        "Without pruning, early stopping (patience from the YAML) still ends trials early, so "
        "the unpruned ratio is below 1. `epochs_saved_fraction` (= 1 − the ratio) is logged on "
        "every search's parent run.",
    ]
    write_report("pruning.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
