"""carseats / boston_housing: which training set-up, by repeated k-fold CV inside the training rows.

    .venv/bin/python bench/experiments/tabular_cv.py --task carseats [--repeats 2]

Each variant (a data option and one fixed network) is trained on 4 folds of the task's
train+val rows (the test split is never read), repeated with fold seeds 0..repeats-1; the
fold validation MAE at the restored epoch, averaged, decides. Early stopping watches what the
task's YAML says (`training.monitor`). With `--ensemble n` each fold also scores the mean of
n networks (seeds), as `final: {ensemble: n}` does. Writes
bench/results/experiments/<task>_cv.md + .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, ROOT, data_dir, machine, now, save_json, write_report  # noqa: E402

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.model.network import build_model, fit, fresh_state
from sweepflow.model.trial import model_spec, run_trial
from sweepflow.search.cv import fold_splits

SEARCHED = {"layers": 1, "units_1": 32, "dropout": 0.1, "learning_rate": 0.014, "batch_size": 8}
SLOW = {"layers": 1, "units_1": 32, "dropout": 0.1, "learning_rate": 3e-3, "batch_size": 16}
CARSEATS: dict[str, tuple[dict, dict]] = {
    # name: (data overrides, params)
    "as searched (1x32, lr 0.014, batch 8)": ({}, SEARCHED),
    "slower (lr 3e-3, batch 16)": ({}, SLOW),
    "slower + l2 1e-3": ({}, {**SLOW, "l2": 1e-3}),
    "slower + l2 1e-2": ({}, {**SLOW, "l2": 1e-2}),
    "slower, standard scaling": ({"scaling": "standard"}, SLOW),
    "slower, target standardised": ({"target_scaling": "standard"}, SLOW),
    "2x64, dropout 0.2, l2 1e-3": (
        {},
        {**SLOW, "layers": 2, "units_1": 64, "units_2": 64, "dropout": 0.2, "l2": 1e-3},
    ),
    "linear (no hidden layer)": ({}, {"layers": 0, "learning_rate": 1e-2, "batch_size": 16}),
    # second pass, after the first eight: the two changes that helped, together
    "standard scaling + l2 1e-2": ({"scaling": "standard"}, {**SLOW, "l2": 1e-2}),
    "standard scaling + l2 3e-2": ({"scaling": "standard"}, {**SLOW, "l2": 3e-2}),
    "standard + l2 1e-2, no dropout": (
        {"scaling": "standard"},
        {**SLOW, "l2": 1e-2, "dropout": 0.0},
    ),
    "standard + l2 1e-2, 2x32": (
        {"scaling": "standard"},
        {**SLOW, "layers": 2, "units_2": 32, "l2": 1e-2},
    ),
}
# boston: the kind of network its 20-trial searches find (quality.json members), then one
# change at a time: weight decay (what helped carseats), width, depth, batch, optimizer
BOSTON_NET = {
    "layers": 2, "units_1": 96, "units_2": 96, "dropout": 0.1, "optimizer": "rmsprop",
    "learning_rate": 2e-3, "batch_size": 16, "lr_decay": 0.98,
}  # fmt: skip
BOSTON: dict[str, tuple[dict, dict]] = {
    "2x96 rmsprop, lr 2e-3, dropout 0.1 (as searched)": ({}, BOSTON_NET),
    "+ l2 1e-3": ({}, {**BOSTON_NET, "l2": 1e-3}),
    "+ l2 1e-2": ({}, {**BOSTON_NET, "l2": 1e-2}),
    "+ l2 3e-2": ({}, {**BOSTON_NET, "l2": 3e-2}),
    "2x256, dropout 0.2": ({}, {**BOSTON_NET, "units_1": 256, "units_2": 256, "dropout": 0.2}),
    "3x96": ({}, {**BOSTON_NET, "layers": 3, "units_3": 96}),
    "batch 8": ({}, {**BOSTON_NET, "batch_size": 8}),
    "adam": ({}, {**BOSTON_NET, "optimizer": "adam"}),
    "no dropout": ({}, {**BOSTON_NET, "dropout": 0.0}),
    "minmax scaling": ({"scaling": "minmax"}, BOSTON_NET),
    "quantile scaling": ({"scaling": "quantile"}, BOSTON_NET),
    # second pass: more dropout (none was much worse), and weight decay with adam (both helped)
    "dropout 0.2": ({}, {**BOSTON_NET, "dropout": 0.2}),
    "dropout 0.3": ({}, {**BOSTON_NET, "dropout": 0.3}),
    "adam + l2 1e-2": ({}, {**BOSTON_NET, "optimizer": "adam", "l2": 1e-2}),
    "adam + l2 1e-2, dropout 0.2": (
        {},
        {**BOSTON_NET, "optimizer": "adam", "l2": 1e-2, "dropout": 0.2},
    ),
    "adam, 2x256, dropout 0.3, l2 1e-2": (
        {},
        {
            **BOSTON_NET,
            "optimizer": "adam",
            "units_1": 256,
            "units_2": 256,
            "dropout": 0.3,
            "l2": 1e-2,
        },
    ),
}
TASKS = {  # task: (variants, epochs, patience)
    "carseats": (CARSEATS, 150, 10),
    "boston_housing": (BOSTON, 200, 20),
}


def variant_data(task: str, overrides: dict):
    """The task prepared with its YAML's data section, `overrides` applied; and its config."""
    cfg = load_task(task, ROOT / "search_spaces")
    cfg = replace(cfg, data=replace(cfg.data, **overrides))
    return prepare(cfg, data_dir()), cfg


def folds(data, seed: int):
    """The 4 (train, val) Prepared folds of train+val under fold seed `seed`."""
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    whole = replace(data, x_train=x, y_train=y, x_val=x[:0], y_val=y[:0])
    for tr, va in fold_splits(whole, 4, seed):
        yield replace(whole, x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va])


def ensemble_mae(params: dict, fold, n: int, patience: int, monitor) -> float:
    """Validation MAE of the mean of n networks (seeds 0..n-1) trained on the fold."""
    preds = []
    for s in range(n):
        fresh_state(s)
        model = build_model(params, model_spec(fold))
        fit(
            model,
            params,
            (fold.x_train, fold.y_train),
            (fold.x_val, fold.y_val),
            patience=patience,
            monitor=monitor,
            objective="val_mae",
        )
        preds.append(model.predict(fold.x_val, verbose=0).ravel())
    return float(np.mean(np.abs(np.mean(preds, axis=0) - fold.y_val)))


def main() -> None:
    """Every variant × fold seed; the table of mean CV MAE (paired with the first variant)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), default="carseats")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ensemble", type=int, default=0)
    parser.add_argument("--patience", type=int, help="default: 10 carseats, 20 boston_housing")
    parser.add_argument("--only", nargs="*", help="run these variants; keep the others' rows")
    args = parser.parse_args()
    variants, epochs, patience = TASKS[args.task]
    args.patience = args.patience or patience
    name_out = f"{args.task}_cv"
    old = RESULTS / "experiments" / f"{name_out}.json"
    rows: dict = {}
    for name, (overrides, params) in variants.items():
        if args.only and name not in args.only:
            continue
        data, cfg = variant_data(args.task, overrides)
        p = {"optimizer": "adam", "epochs": epochs, **params}
        single, ens = [], []  # per fold, in the same fold order for every variant
        for seed in range(args.repeats):
            for i, fold in enumerate(folds(data, seed)):
                out = run_trial(
                    p,
                    fold,
                    number=i,
                    base_seed=seed,
                    objective="val_mae",
                    patience=args.patience,
                    monitor=cfg.stop_monitor,
                )
                single.append(out.value)
                if args.ensemble > 1:
                    ens.append(
                        ensemble_mae(p, fold, args.ensemble, args.patience, cfg.stop_monitor)
                    )
        rows[name] = {
            "single": statistics.mean(single),
            "ensemble": statistics.mean(ens) if ens else None,
            "single_sd": statistics.stdev(single),
            "folds": single,
            "params": p,
            "data": overrides,
        }
        print(name, rows[name], flush=True)
    if args.only and old.exists():  # read at the end: `--only` runs side by side all land
        rows = {**json.loads(old.read_text())["rows"], **rows}
    rows = {k: rows[k] for k in [*variants, *rows] if k in rows}  # the table's order
    save_json(f"experiments/{name_out}", {"when": now(), "machine": machine(), "rows": rows})
    n_rows = len(data.x_train) + len(data.x_val)
    lines = [
        f"# {args.task}: training set-ups by repeated 4-fold CV inside the training rows",
        "",
        f"{now()} · {machine()}",
        f"Command: `.venv/bin/python bench/experiments/tabular_cv.py --task {args.task} "
        f"--repeats {args.repeats} --ensemble {args.ensemble}` (a second pass with "
        f"`--only <names>` adds rows). 4 folds of the {n_rows} train+val rows × {args.repeats} "
        f"fold seeds (the same folds for every variant); patience {args.patience}, {epochs} "
        "epochs, adam unless named; test rows never read.",
        "Paired: the mean and standard error of the per-fold difference to the first row "
        "(negative: lower MAE), where both rows kept their folds.",
        "",
        f"| variant | CV MAE, one network (sd over {4 * args.repeats} folds) | paired difference "
        "| CV MAE, mean of `--ensemble` networks (—: not run) |",
        "|---|---|---|---|",
    ]
    base = next(iter(rows.values()), {}).get("folds")
    for name, r in rows.items():
        ens = "—" if r["ensemble"] is None else f"{r['ensemble']:.4f}"
        diff = "—"
        if base and r.get("folds") and len(r["folds"]) == len(base) and r["folds"] is not base:
            d = np.array(r["folds"]) - np.array(base)
            diff = f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}"
        lines.append(f"| {name} | {r['single']:.4f} ({r['single_sd']:.3f}) | {diff} | {ens} |")
    write_report(f"experiments/{name_out}.md", lines)


if __name__ == "__main__":
    main()
