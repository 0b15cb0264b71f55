"""boston_housing: at equal CV MAE, how far apart are test MAEs? (training loss mse/huber/mae)

The same network as boston_features' best variant (64-64 rmsprop, lr 3e-3, lr_decay 0.985,
log1p of the skewed columns, 200 epochs) trained on three losses. Each is scored like
boston_features: 4-fold CV on the 404 training rows (mean curve, best epoch), then 5 seeds
retrained on all 404 rows for that epoch and scored on the 102 test rows. The point is the
spread of test MAE among configurations the training rows cannot tell apart. Writes
bench/results/experiments/boston_loss.md + .json.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: common.py
from common import ENV, machine, mean_sd, now, save_json, write_report
from experiments.boston_features import BASE, FOLDS, SEEDS, SKEWED, run_variant

PARAMS = {**BASE, "learning_rate": 3e-3, "lr_decay": 0.985}
LOSSES = ["mse", "huber", "mae"]  # mse is what the regression head compiles with


def main() -> None:
    """Train the network on each loss and write the table."""
    os.environ.update(ENV)
    from dataclasses import replace

    from sweepflow.config.kinds import KINDS

    default = KINDS["regression"]
    results = {}
    for loss in LOSSES:
        KINDS["regression"] = replace(default, loss=loss)
        start = time.perf_counter()
        try:
            results[loss] = run_variant(SKEWED, PARAMS, 200)
        finally:
            KINDS["regression"] = default
        results[loss]["seconds"] = time.perf_counter() - start
        print(loss, results[loss], flush=True)
    save_json("experiments/boston_loss", {"params": PARAMS, "log1p": SKEWED, "results": results})
    lines = [
        "# boston_housing: test MAE spread at equal CV MAE (training loss)",
        "",
        f"Table written {now()} on {machine()}. Command: `cd bench && ../.venv/bin/python "
        f"boston_loss.py`. Network: {PARAMS}, log1p of {', '.join(SKEWED)}, 200 epochs. "
        f"{FOLDS}-fold CV on the 404 training rows (mean curve, best epoch); test: {SEEDS} seeds "
        "retrained on all 404 rows for that epoch.",
        "",
        f"| training loss | CV MAE | best epoch | test MAE, single nets (mean ± sd of {SEEDS}) "
        f"| test MAE, average of {SEEDS} |",
        "|---|---|---|---|---|",
    ]
    for loss, r in results.items():
        lines.append(
            f"| {loss} | {r['cv_mae']:.3f} | {r['best_epoch']} | "
            f"{mean_sd(r['test_mae_single'], 3)} | {r['test_mae_average']:.3f} |"
        )
    cv = [r["cv_mae"] for r in results.values()]
    test = [r["test_mae_average"] for r in results.values()]
    lines += [
        "",
        f"CV MAE range {max(cv) - min(cv):.3f}; test MAE (average of {SEEDS}) range "
        f"{max(test) - min(test):.3f}.",
    ]
    write_report("experiments/boston_loss.md", lines)


if __name__ == "__main__":
    main()
