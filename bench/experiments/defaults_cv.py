"""Which default preprocessing for a user's CSV: k-fold CV on the training rows only.

    python bench/experiments/defaults_cv.py            # every table in ../shared/tables

One fixed, mid-sized network (the centre of the default space) is trained on 4 folds of each
table's train+val rows (split seed 0; the test split is never read) under each variant:
numeric scaling quantile / standard / minmax, and for regression the target standardised or
raw. The mean fold validation metric (val_mae or val_accuracy at the restored epoch) decides.
Writes bench/results/experiments/defaults_cv.md + .json.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import machine, now, save_json, write_report  # noqa: E402
from tables import TABLES, TARGETS, minimal_yaml  # noqa: E402

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.model.trial import run_trial
from sweepflow.search.cv import fold_splits

MAX_ROWS = 6000  # larger tables are subsampled (train+val rows) to keep this to minutes
VARIANTS = {
    "quantile": {"scaling": "quantile"},
    "standard": {"scaling": "standard"},
    "minmax": {"scaling": "minmax"},
    "quantile, raw target": {"scaling": "quantile", "target_scaling": "none"},
}


def cv_score(table: str, variant: dict, seed: int = 0) -> float | None:
    """Mean 4-fold validation metric of the fixed network on the table's train+val rows.

    `seed` draws the folds, the subsample and the networks' seeds.
    """
    kind = table.rsplit("_", 1)[1]
    if kind != "regression" and "target_scaling" in variant:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_task(str(minimal_yaml(Path(tmp), table, 0, variant)), Path(tmp))
    data = prepare(cfg, TABLES)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    keep = np.random.default_rng(seed).permutation(len(y))[:MAX_ROWS]
    whole = replace(data, x_train=x[keep], y_train=y[keep], x_val=x[keep][:0], y_val=y[keep][:0])
    metric = "val_mae" if kind == "regression" else "val_accuracy"
    params = {"layers": 2, "units": 64, "dropout": 0.1, "learning_rate": 3e-3, "l2": 1e-5}
    params.update(
        {"optimizer": "adam", "epochs": 100, "batch_size": 32 if len(keep) < 1000 else 128}
    )
    values = []
    for i, (tr, va) in enumerate(fold_splits(whole, 4, seed)):
        fold = replace(
            whole,
            x_train=whole.x_train[tr],
            y_train=whole.y_train[tr],
            x_val=whole.x_train[va],
            y_val=whole.y_train[va],
        )
        out = run_trial(params, fold, number=i, base_seed=seed, objective=metric, patience=10)
        values.append(out.value)
    return statistics.mean(values)


def main() -> None:
    """Every table × variant; the table of mean CV metrics."""
    rows = {}
    for table in sorted(TARGETS):
        rows[table] = {name: cv_score(table, v) for name, v in VARIANTS.items()}
        print(table, rows[table], flush=True)
    save_json("experiments/defaults_cv", rows)
    lines = [
        "# Default preprocessing chosen on 4-fold CV inside the training rows",
        "",
        f"{now()} · {machine()}",
        "Command: `python bench/experiments/defaults_cv.py`. Fixed network 2 × 64, adam 3e-3, "
        "dropout 0.1, l2 1e-5, 100 epochs, patience 10; split seed 0; test rows never read.",
        "",
        "| table | metric | " + " | ".join(VARIANTS) + " |",
        "|---|---|" + "---|" * len(VARIANTS),
    ]
    for table, scores in rows.items():
        metric = "val_mae" if table.endswith("regression") else "val_accuracy"
        cells = ["—" if v is None else f"{v:.4f}" for v in scores.values()]
        lines.append(f"| {table} | {metric} | " + " | ".join(cells) + " |")
    write_report("experiments/defaults_cv.md", lines)


if __name__ == "__main__":
    main()
