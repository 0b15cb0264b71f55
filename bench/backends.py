"""Keras backends per built-in task: TensorFlow vs JAX (vs torch where installed), A B A B.

Each pair runs the same default `sweepflow tune TASK --trials N --seed S` once per backend, in
turn, into fresh stores; ratios are taken pair by pair (B ÷ A) so that a shared, noisy machine
moves both sides of a pair alike. Per run: whole-process wall, steady seconds per epoch and fixed
cost per trial (from the trial runs' epoch timestamps, bench/common.py:fixed_cost) and peak RSS.
Writes bench/results/backends.json and backends.md (`--name`: another pair of files, e.g. for a
run with other settings that must not replace those rows).

    .venv/bin/python bench/backends.py [--tasks carseats imdb ...] [--pairs 2] [--trials 4]
        [--backends tensorflow torch] [--name experiments/backends_carseats_20trials]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    hardware,
    load_json,
    now,
    save_json,
    search_record,
    tune_subprocess,
    write_report,
)

KINDS = {
    "carseats": "regression",
    "boston_housing": "regression",
    "diabetes": "regression",
    "breast_cancer": "binary",
    "imdb": "binary (text)",
    "reuters": "multiclass (text)",
    "digits": "multiclass",
    "fashion_mnist": "multiclass (image)",
}
BACKENDS = ("tensorflow", "jax", "torch")  # the table's order; TensorFlow is the ratios' base


def one_run(task: str, backend: str, seed: int, trials: int) -> dict:
    """One tune of `task` on `backend` into a fresh store; wall, RSS and per-trial timings."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / f"store-{backend}"
        extra = ("--backend", backend, "--trials", str(trials))
        run = tune_subprocess(task, seed, store, extra=extra)
        if run["ok"]:
            record = search_record(store, task)
            run.update(record["fixed"], backend_tag=record["backend"])
    run["backend"] = backend
    run["when"] = now()
    mark = f"{run['wall_s']:.0f} s" if run["ok"] else f"FAILED (bench/results/{run['log']})"
    print(f"  {task} {backend} seed {seed}: {mark}", flush=True)
    return run


def ratios(runs: list[dict], key: str, a: str, b: str) -> list[float]:
    """B ÷ A of `key`, pair by pair (pair i = the i-th run of each backend)."""
    side_a = [r for r in runs if r["backend"] == a and r["ok"]]
    side_b = [r for r in runs if r["backend"] == b and r["ok"]]
    return [rb[key] / ra[key] for ra, rb in zip(side_a, side_b, strict=False) if ra.get(key)]


def table(results: dict[str, list[dict]], pairs: int, trials: int, command: str) -> list:
    """The markdown report: medians per backend, ratios pair by pair against TensorFlow."""
    base = BACKENDS[0]
    lines = [
        "# Keras backends per built-in task",
        "",
        f"Last run: {hardware()}; {now()}. Default YAML of each task, `--trials {trials}`, "
        f"alternating pairs (tensorflow, then each other backend measured for that task; pair i "
        f"on seed i; the last run took {pairs}), a fresh store each; a task's pairs are the "
        "values in its ratios' parentheses; `measured`: the task's first run (UTC).",
        "Ratio = other ÷ TensorFlow, pair by pair (median, then the pairs). Regenerate: "
        f"`.venv/bin/python bench/backends.py{command}`.",
        "",
        "| task | kind | backend | measured | wall s | s/epoch | fixed s/trial | fixed % "
        "| peak RSS GB | wall ratio | s/epoch ratio | fixed ratio | RSS ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task, runs in results.items():
        when = runs[0].get("when", "") if runs else ""
        for backend in [b for b in BACKENDS if any(r["backend"] == b for r in runs)]:
            mine = [r for r in runs if r["backend"] == backend and r["ok"]]
            head = f"| {task} | {KINDS.get(task, '')} | {backend} | {when} |"
            if not mine:
                lines.append(f"{head} failed | | | | |||||")
                continue

            def med(key: str, rows: list[dict] = mine) -> float:
                return statistics.median(r[key] for r in rows)

            cells = [
                f"{med('wall_s'):.0f}",
                f"{med('s_per_epoch'):.3f}",
                f"{med('fixed_s_per_trial'):.2f}",
                f"{100 * med('fixed_fraction'):.0f}",
                f"{med('peak_rss_gb'):.2f}",
            ]
            if backend == base:
                cells += ["", "", "", ""]
            else:
                for key in ("wall_s", "s_per_epoch", "fixed_s_per_trial", "peak_rss_gb"):
                    rs = ratios(runs, key, base, backend)
                    pairs_text = ", ".join(f"{r:.2f}" for r in rs)
                    cells.append(f"{statistics.median(rs):.2f} ({pairs_text})" if rs else "—")
            lines.append(f"{head} " + " | ".join(cells))
    return lines


def main() -> None:
    """Run the alternating pairs per task and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(KINDS))
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--backends", nargs="*", default=None)
    parser.add_argument("--name", default="backends", help="results files under bench/results/")
    args = parser.parse_args()
    installed = [b for b in BACKENDS[1:] if importlib.util.find_spec(b)]
    backends = args.backends or [BACKENDS[0], *installed]
    command = "" if args.name == "backends" else f" --name {args.name}"
    # tasks measured before and not asked for now are kept (a run per task takes minutes)
    results: dict[str, list[dict]] = (load_json(args.name) or {}).get("runs", {})
    for task in args.tasks:
        results[task] = []
        for pair in range(args.pairs):
            for backend in backends:
                results[task].append(one_run(task, backend, pair, args.trials))
        save_json(args.name, {"machine": hardware(), "when": now(), "runs": results})
        write_report(f"{args.name}.md", table(results, args.pairs, args.trials, command))
    print(f"written under {ROOT / 'bench' / 'results'}")


if __name__ == "__main__":
    main()
