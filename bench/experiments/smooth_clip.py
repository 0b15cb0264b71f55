"""A lead from RealMLP (TABULAR_NOTES.md): numeric inputs smoothly clipped after scaling.

    .venv/bin/python bench/experiments/smooth_clip.py [--tables T ...] [--seeds 0 1 2]

RealMLP scales numeric features robustly and then applies x / sqrt(1 + (x / 3)^2), which leaves
ordinary values almost as they are and bends outliers towards ±3. Here it is sweepflow's own
`data.clip: 3` after the default standard scaling (the numeric columns only: indicators and
one-hot columns stay 0/1). `defaults_cv.cv_score`'s fixed network on 4 folds of each
table's train+val rows (split seed 0; the test split is never read), the same folds and
seeds with and without it, repeated for each --seeds value (new folds, subsample and network
seeds).
Writes bench/results/experiments/smooth_clip.md + .json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, now, save_json, write_report  # noqa: E402
from defaults_cv import cv_score  # noqa: E402
from tables import TARGETS  # noqa: E402

CLIPPED = {"scaling": "standard", "clip": 3.0}  # RealMLP's bend, as the data.clip key does it


def main() -> None:
    """Each table with and without the clip; the table of mean CV metrics and differences."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="*", default=sorted(TARGETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    rows: dict[str, dict[str, list[float]]] = {}
    for table in args.tables:
        rows[table] = {"standard": [], "standard + smooth clip": []}
        for seed in args.seeds:
            rows[table]["standard"].append(cv_score(table, {"scaling": "standard"}, seed=seed))
            clipped = cv_score(table, CLIPPED, seed=seed)
            rows[table]["standard + smooth clip"].append(clipped)
        print(table, rows[table], flush=True)
    save_json("experiments/smooth_clip", rows)
    lines = [
        "# Smooth clipping of numeric inputs (a RealMLP lead), 4-fold CV inside the training rows",
        "",
        f"{now()} · {machine()}",
        "Command: `python bench/experiments/smooth_clip.py"
        + (f" --tables {' '.join(args.tables)}" if args.tables != sorted(TARGETS) else "")
        + f" --seeds {' '.join(map(str, args.seeds))}`. Fixed network 2 × 64, adam 3e-3, "
        "dropout 0.1, l2 1e-5, 100 epochs, patience 10 (`defaults_cv.py`); split seed 0; test "
        "rows never read; per seed, the same folds and network seeds in both columns.",
        "",
        "| table | metric | standard (mean of seeds) | + smooth clip | Δ mean "
        "| clip better / worse / level, seed by seed |",
        "|---|---|---|---|---|---|",
    ]
    tables_better = 0
    for table, scores in rows.items():
        regression = table.endswith("regression")
        a, b = scores["standard"], scores["standard + smooth clip"]
        sign = -1 if regression else 1
        diffs = [sign * (y - x) for x, y in zip(a, b, strict=True)]
        won, lost = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        tables_better += statistics.mean(diffs) > 0
        metric = "val_mae" if regression else "val_accuracy"
        lines.append(
            f"| {table} | {metric} | {statistics.mean(a):.4f} | {statistics.mean(b):.4f} | "
            f"{statistics.mean(b) - statistics.mean(a):+.4f} | {won} / {lost} / "
            f"{len(diffs) - won - lost} |"
        )
    lines += ["", f"The clip scored better on average on {tables_better} of {len(rows)} tables."]
    write_report("experiments/smooth_clip.md", lines)


if __name__ == "__main__":
    main()
