"""Quality, peak memory and per-trial fixed cost of `sweepflow tune` with the default YAML budget.

For each task and seed: `python -m sweepflow tune <task> --seed <s>` in a child process under
/usr/bin/time -v (peak RSS of exactly what `make tune TASK=<task>` runs), into a fresh store;
then the store's MLflow records give epochs_saved_fraction and the fixed cost per trial (see
bench/common.py). Writes bench/results/quality.md + quality.json (updated after every run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import (
    RESULTS,
    load_json,
    machine,
    mean_sd,
    now,
    save_json,
    search_record,
    tune_subprocess,
)
from variants import VARIANTS, final_variants

# task: (headline test metric, target, higher is better, round-1 target and hand-tuned seed model)
# Targets: issue 18 item 5 (round 2), each below / above what a user's first alternative reaches.
TARGETS = {
    "carseats": ("test_mae", 0.90, False, "≤ 0.95; seed model 1.17 val MAE"),
    "boston_housing": ("test_mae", 2.10, False, "≤ 2.3; seed model test MAE 2.64"),
    "fashion_mnist": ("test_accuracy", 0.91, True, "≥ 0.90; seed model test acc 0.869"),
    "imdb": ("test_accuracy", 0.912, True, "≥ 0.895; seed model test acc 0.880"),
    "reuters": ("test_accuracy", 0.82, True, "≥ 0.81"),
}
# What would close a missed target (printed under the table when the target is missed).
CLOSE = {
    "carseats": "the test MAE swings with the seed (80 test rows; see per-run rows); averaging "
    "the best params over 5 seeds (`final: {ensemble: 5, members: best}`) steadies it. `cv: 4` "
    "ranking would be the next step (carseats_cv4_experiment.json).",
    "boston_housing": "round 1 met it with MEDV standardised for the head; 2.10 is below "
    "HistGB's 2.138 on 102 test rows, where boston_loss.md shows how little CV MAE tells apart. "
    "The runs before the one-iterator feed (e5aaeb9, other shuffles of the same rows) scored "
    "2.2108 ± 0.0482 (best val 1.8716), these 2.2399 ± 0.0531 (1.9039): within the seeds' spread.",
    "fashion_mnist": "`mirror: true` (fashion_mnist.yaml: every epoch on each image and its "
    "left-right mirror, chosen on validation, experiments/fashion_inputs.md) raised the 3 seeds "
    "from 0.9025, 0.9057, 0.9024 to 0.9074, 0.9083, 0.9068; an epoch takes twice the steps "
    "(seed 2 ran alone in 1114 s; seeds 0-1 side by side with other jobs). The test split "
    "scores ~0.9 points below validation (0.916). With mirrors, a units range up to 1,024 "
    "scored lower on validation (0.9137 vs 0.9159, 3 searches) and random 1-px shifts too "
    "(0.9077 vs 0.9139, one fixed net, 2 seeds; experiments/fashion_inputs.md).",
    "imdb": "chi² term selection and NB weights (imdb.yaml, experiments/text_inputs.md) met it; "
    "a larger vocabulary needs bit-packed or sparse inputs to stay in the memory target.",
    "reuters": "log(1 + count) inputs (reuters.yaml, experiments/reuters_inputs.md) and the "
    "mean of 3 networks met it; the test split scores ~2 points below validation.",
}
# Seeds per task: the issue asks for the mean of 3.
SEEDS = {"carseats": 3, "boston_housing": 3, "imdb": 3, "fashion_mnist": 3, "reuters": 3}


def report(runs: list[dict], header: str) -> str:
    """The markdown table."""
    lines = [
        header,
        "",
        "| task | seeds | test metric (mean ± sd, min–max) | target | met? | round 1 "
        "| baselines on the same split (test) | best val | wall per run (s) | peak RSS (GiB) "
        "| epochs trained ÷ budget "
        "| fixed cost per trial (s) | fixed ÷ trial time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task, (metric, target, higher, seed_model) in TARGETS.items():
        rs = [r for r in runs if r["task"] == task and r["ok"]]
        if not rs:
            continue
        vals = [r["test"].get(metric) for r in rs]
        mean = sum(vals) / len(vals)
        met = mean >= target if higher else mean <= target
        sign = "≥" if higher else "≤"
        best_val = mean_sd([r["best_val"] for r in rs], 4)
        lines.append(
            f"| {task} | {len(rs)} | {metric} {mean_sd(vals, 4)} | {sign} {target} | "
            f"{'yes' if met else '**no**'} | {seed_model} | {baselines(task)} | "
            f"{best_val} | "
            f"{mean_sd([r['wall_s'] for r in rs], 0)} | "
            f"{mean_sd([r['peak_rss_gb'] for r in rs], 2)} | "
            f"{mean_sd([1 - r['parent'].get('epochs_saved_fraction', 1) for r in rs], 2)} | "
            f"{mean_sd([r['fixed']['fixed_s_per_trial'] for r in rs], 2)} | "
            f"{mean_sd([r['fixed']['fixed_fraction'] for r in rs], 2)} |"
        )
    misses = [
        f"- **{task}**: {CLOSE[task]}"
        for task, (metric, target, higher, _) in TARGETS.items()
        if CLOSE.get(task)
        and (vals := [r["test"].get(metric) for r in runs if r["task"] == task and r["ok"]])
        and not ((sum(vals) / len(vals) >= target) if higher else (sum(vals) / len(vals) <= target))
    ]
    if misses:
        lines += ["", "What would close the missed targets:", "", *misses]
    lines += variants_table(runs)
    lines += [
        "",
        "Per run (commit: HEAD when the run started, `-dirty` when bench/ or results files "
        "had uncommitted edits; `*`: filled in by hand from the run's start time, for runs "
        "that started before the benchmark recorded it or while it recorded HEAD at the end):",
        "",
        "| task | seed | commit | test | best val | wall (s) | peak RSS (GiB) | fixed ÷ trial |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: (r["task"], r["seed"])):
        metric = TARGETS[r["task"]][0]
        fixed = r.get("fixed", {}).get("fixed_fraction", float("nan"))
        lines.append(
            f"| {r['task']} | {r['seed']} | {r.get('commit', '?')} | "
            f"{metric} {r['test'].get(metric)} | {r['best_val']} | {r['wall_s']:.0f} | "
            f"{r['peak_rss_gb']:.2f} | {fixed:.2f} |"
        )
    return "\n".join(lines) + "\n"


def baselines(task: str) -> str:
    """The task's baselines on the same split (bench/baselines.py): linear, HistGB, NBSVM."""
    found = (load_json("baselines") or {}).get(task, {})
    return ", ".join(f"{name} {value:.4f}" for name, value in found.items()) or "—"


def variants_table(runs: list[dict]) -> list[str]:
    """Test metric of each final-model variant, rebuilt from the same searches."""
    rows = [r for r in runs if r.get("variants")]
    if not rows:
        return []
    names = list(VARIANTS)
    lines = [
        "",
        "Final-model variants on the same searches (bench/variants.py: each run's study read "
        "back, its final stage re-run with `final: {ensemble: n, members: best|top}`; "
        "`best xn`: the best trial's params with n seeds, `top xn`: the n best trials):",
        "",
        "| task | seeds | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for task, (metric, *_rest) in TARGETS.items():
        rs = [r for r in rows if r["task"] == task]
        if not rs:
            continue
        cells = [
            mean_sd([r["variants"][n]["test"][metric] for r in rs if n in r["variants"]], 4)
            for n in names
        ]
        lines.append(f"| {task} | {len(rs)} | " + " | ".join(cells) + " |")
    return lines


def merged(runs: list[dict]) -> list[dict]:
    """These runs plus any another instance saved meanwhile (one record per task and seed)."""
    done = {(r["task"], r["seed"]): r for r in load_json("quality") or []}
    done.update({(r["task"], r["seed"]): r for r in runs})
    return list(done.values())


def main() -> int:
    """Run every (task, seed) not yet in quality.json; rewrite the table after each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(TARGETS))
    parser.add_argument("--seeds", type=int, help="seeds per task (default: SEEDS)")
    parser.add_argument(
        "--only-seeds", type=int, nargs="*", help="run just these seeds (parallel instances)"
    )
    parser.add_argument(
        "--variants",
        nargs="*",
        default=["carseats", "boston_housing"],
        help="tasks whose final stage is re-run with other ensemble settings (bench/variants.py)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore earlier results")
    parser.add_argument(
        "--redo",
        action="store_true",
        help="drop the earlier results of --tasks (e.g. after changing their YAML) and re-run",
    )
    parser.add_argument("--report", action="store_true", help="only rewrite quality.md")
    args = parser.parse_args()
    runs: list[dict] = [] if args.fresh else (load_json("quality") or [])
    if args.redo:
        runs = [r for r in runs if r["task"] not in args.tasks]
        save_json("quality", runs)  # merged() must not bring the dropped runs back
    header = (
        f"# Quality with the default YAML budget (issue 5; issue 18's round-2 targets)\n\n"
        f"Table written {now()} from runs made on {machine()}.\n"
        "One `python -m sweepflow tune <task> --seed <s>` "
        "(what `make tune TASK=<task>` runs) per seed in a fresh store; command: "
        "`make bench-quality`. Test metric: the final model (the YAML's `final:` setting: the best "
        "trial, or the mean of the top n trials, retrained on train+val) "
        "on the test split. Peak RSS: /usr/bin/time -v of the whole command. Fixed cost: trial "
        "run duration minus epochs × steady epoch time (build, compile, first-step tracing, "
        "run open/close, learning-curve PNG); for a `cv:` task, per fold fit (each fold is its own "
        "fit)."
    )
    if args.report:
        args.tasks = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            for seed in args.only_seeds or range(args.seeds or SEEDS[task]):
                if any(r["task"] == task and r["seed"] == seed for r in runs):
                    continue
                store = Path(tmp) / f"store-{task}-{seed}"
                run = tune_subprocess(task, seed, store)
                run.update(search_record(store, task) if run["ok"] else {"parent": {}})
                if run["ok"] and task in args.variants:
                    run["variants"] = final_variants(task, seed, store)
                runs.append(run)
                print(
                    f"{task} seed {seed}: ok={run['ok']} test={run['test']} "
                    f"wall={run['wall_s']:.0f}s rss={run['peak_rss_gb']}",
                    flush=True,
                )
                runs = merged(runs)
                save_json("quality", runs)
                (RESULTS / "quality.md").write_text(report(runs, header))
    (RESULTS / "quality.md").write_text(report(merged(runs), header))
    print((RESULTS / "quality.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
