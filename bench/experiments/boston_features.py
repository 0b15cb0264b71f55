"""boston_housing: do log(1 + x) of skewed columns and a standardised target help a Dense net?

data.log1p and data.target_scaling, on fixed networks.

Chosen on the training split only: 4-fold cross-validation of fixed networks on Keras' 404
training rows, each fold's curve averaged, the best mean epoch picked; then, for the record,
5 seeds retrained on all 404 rows for that epoch and scored on the 102 test rows (single
networks' mean and their 5-network average). Writes
bench/results/experiments/boston_features.md + .json;
variants already in the .json are kept (--redo runs them all again).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: common.py
from common import ENV, data_dir, load_json, machine, mean_sd, now, save_json, write_report

SKEWED = ["CRIM", "ZN", "DIS", "LSTAT"]  # long right tails, all ≥ 0
BASE = {"layers": 2, "units": 64, "optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 16}
TUNED = {**BASE, "learning_rate": 3e-3, "lr_decay": 0.985}
# name: (log1p columns, params, epochs, target standardised on the fitting rows)
VARIANTS: dict[str, tuple[list[str], dict[str, Any], int, bool]] = {
    "seed model (64-64 rmsprop 1e-3)": ([], BASE, 150, False),
    "+ log1p": (SKEWED, BASE, 150, False),
    "+ log1p, 128-128": (SKEWED, {**BASE, "units": 128}, 150, False),
    "+ log1p, lr 3e-3, lr_decay 0.985": (SKEWED, TUNED, 200, False),
    "+ log1p, target_scaling": (SKEWED, BASE, 150, True),
    "+ log1p, lr 3e-3, lr_decay 0.985, target_scaling": (SKEWED, TUNED, 200, True),
}
FOLDS, SEEDS = 4, 5


def run_variant(
    log1p: list[str], params: dict[str, Any], epochs: int, scaled: bool
) -> dict[str, Any]:
    """k-fold curve on train, then SEEDS final networks at the best mean epoch, scored on test."""
    from sweepflow.data import sources
    from sweepflow.data.prepare import target_stats
    from sweepflow.data.preprocess import TabularPreprocessor
    from sweepflow.model.network import ModelSpec, build_model, fit, fresh_state

    train, test, _ = sources.boston_housing(data_dir())
    features = [c for c in train.columns if c != "MEDV"]
    y, y_test = train["MEDV"].to_numpy(np.float32), test["MEDV"].to_numpy(np.float32)
    params = {**params, "epochs": epochs}

    def spec(targets: np.ndarray) -> ModelSpec:
        if not scaled:
            return ModelSpec("regression", len(features))
        return ModelSpec("regression", len(features), 1, *target_stats(targets))

    def matrices(fit_rows: np.ndarray, other: Any) -> tuple[np.ndarray, np.ndarray]:
        pre = TabularPreprocessor.fit(train.iloc[fit_rows][features], [], "standard", log1p)
        return pre.transform(train.iloc[fit_rows]), pre.transform(other)

    curves = []
    size = len(train) // FOLDS
    for k in range(FOLDS):
        val = np.arange(k * size, (k + 1) * size)
        rest = np.setdiff1d(np.arange(len(train)), val)
        x_tr, x_va = matrices(rest, train.iloc[val])
        fresh_state(k)
        result = fit(
            build_model(params, spec(y[rest])),
            params,
            (x_tr, y[rest]),
            (x_va, y[val]),
            patience=epochs,
        )
        curves.append(result.history["val_mae"])
    curve = np.mean(curves, axis=0)
    best_epoch = int(np.argmin(curve)) + 1
    x_all, x_test = matrices(np.arange(len(train)), test)
    preds = []
    for seed in range(SEEDS):
        fresh_state(100 + seed)
        model = build_model(params, spec(y))
        fit(model, params, (x_all, y), None, patience=1, epochs=best_epoch)
        preds.append(model.predict(x_test, verbose=0).ravel())
    singles = [float(np.abs(p - y_test).mean()) for p in preds]
    return {
        "cv_mae": float(curve.min()),
        "best_epoch": best_epoch,
        "test_mae_single": singles,
        "test_mae_average": float(np.abs(np.mean(preds, axis=0) - y_test).mean()),
    }


def main() -> None:
    """Run every variant not yet recorded and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redo", action="store_true", help="run every variant again")
    args = parser.parse_args()
    os.environ.update(ENV)
    old = {} if args.redo else (load_json("experiments/boston_features") or {})
    results = {}
    for name, (log1p, params, epochs, scaled) in VARIANTS.items():
        if name in old:
            results[name] = {"target_scaling": False, **old[name]}
            continue
        start = time.perf_counter()
        results[name] = {
            **run_variant(log1p, params, epochs, scaled),
            "log1p": log1p,
            "params": params,
            "target_scaling": scaled,
        }
        results[name]["seconds"] = time.perf_counter() - start
        print(name, results[name], flush=True)
        save_json("experiments/boston_features", results)
    lines = [
        "# boston_housing: log(1 + x) of skewed columns (data.log1p) and a standardised target "
        "(data.target_scaling)",
        "",
        f"Table written {now()} on {machine()}. Command: `cd bench && ../.venv/bin/python "
        f"boston_features.py`. Chosen by {FOLDS}-fold CV on the 404 training rows (mean curve, "
        f"best epoch); test: {SEEDS} seeds retrained on all 404 rows for that epoch. "
        "target_scaling: the head learns MEDV standardised on the rows each network is fitted "
        "on (a Rescaling layer maps it back; losses and MAE stay in MEDV units).",
        "",
        "| variant | log1p | CV MAE (train folds) | best epoch | test MAE, single nets "
        f"(mean ± sd of {SEEDS}) | test MAE, average of {SEEDS} |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {', '.join(r['log1p']) or '—'} | {r['cv_mae']:.3f} | {r['best_epoch']} | "
            f"{mean_sd(r['test_mae_single'], 3)} | {r['test_mae_average']:.3f} |"
        )
    write_report("experiments/boston_features.md", lines)


if __name__ == "__main__":
    main()
