"""boston_housing: would the top trials' fold networks make a better final model than retraining?

For each boston search recorded in quality.json (bench/quality.py), the same top-5 trials are
turned into a final model two ways and scored on the 102 test rows:
- retrained (the pipeline's `final: {ensemble: 5, members: top}`): each trial's params trained
  on all 404 rows for its best mean epoch, with its recorded seed (reproduces quality.json);
- fold networks: each trial's params trained on the search's 4 folds, stopped early on the
  fold's validation rows (best weights restored), so 20 networks, each seeing 3/4 of the rows.
Writes bench/results/experiments/boston_final.md + .json.
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
from common import ENV, ROOT, data_dir, load_json, machine, now, save_json, write_report


def score_search(run: dict[str, Any]) -> dict[str, Any]:
    """Both final models of one recorded search: test MAE per member and of each average."""
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec, trial_seed
    from sweepflow.search.cv import fold_splits

    cfg = load_task("boston_housing", ROOT / "search_spaces")
    data = prepare(cfg, data_dir())
    spec = model_spec(data)
    x, y = np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val])

    def mae(pred: np.ndarray) -> float:
        return float(np.abs(pred.ravel() - data.y_test.ravel()).mean())

    def trained(params: dict[str, Any], seed: int, train: Any, val: Any, epochs: int) -> Any:
        fresh_state(seed)
        network = build_model(params, spec)
        result = fit(
            network,
            params,
            train,
            val,
            patience=cfg.patience,
            epochs=epochs,
            monitor=cfg.stop_monitor,
        )
        return network.predict(data.x_test, verbose=0).ravel(), result.best_epoch

    members, full, folded = [], [], []
    for m in run["members"]:
        p = m["params"]
        pred, _ = trained(
            p,
            m["seed"],
            ([data.x_train, data.x_val], [data.y_train, data.y_val]),
            None,
            m["epochs"],
        )
        preds, stops = [], []
        for tr, va in fold_splits(data, cfg.cv, cfg.data.split_seed):
            fold_pred, best = trained(
                p,
                trial_seed(run["seed"], m["trial"]),
                (x[tr], y[tr]),
                (x[va], y[va]),
                int(p["epochs"]),
            )
            preds.append(fold_pred)
            stops.append(best)
        full.append(pred)
        folded.extend(preds)
        members.append(
            {
                "trial": m["trial"],
                "recorded": m["test_mae"],
                "retrained": mae(pred),
                "fold_networks": mae(np.mean(preds, axis=0)),
                "fold_best_epochs": stops,
            }
        )
    return {
        "seed": run["seed"],
        "commit": run["commit"],
        "recorded": run["test"]["test_mae"],
        "retrained": mae(np.mean(full, axis=0)),
        "fold_networks": mae(np.mean(folded, axis=0)),
        "both": mae(np.mean(full + folded, axis=0)),
        "members": members,
    }


def main() -> None:
    """Score every recorded boston search (or --seeds) and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", help="only these quality seeds")
    args = parser.parse_args()
    os.environ.update(ENV)
    runs = [r for r in load_json("quality") or [] if r["task"] == "boston_housing" and r["ok"]]
    runs = [r for r in runs if args.seeds is None or r["seed"] in args.seeds]
    if not runs:
        raise SystemExit("no boston_housing runs in bench/results/quality.json: run quality.py")
    old = {r["seed"]: r for r in load_json("experiments/boston_final") or []}
    for run in sorted(runs, key=lambda r: r["seed"]):
        start = time.perf_counter()
        old[run["seed"]] = {**score_search(run), "seconds": time.perf_counter() - start}
        print(old[run["seed"]], flush=True)
        save_json("experiments/boston_final", sorted(old.values(), key=lambda r: r["seed"]))
    rows = sorted(old.values(), key=lambda r: r["seed"])
    lines = [
        "# boston_housing: the final model from retrained trials vs their fold networks",
        "",
        f"Table written {now()} on {machine()}. Command: `cd bench && ../.venv/bin/python "
        "boston_final.py`. The top 5 trials of each search in quality.json; retrained: each on "
        "all 404 rows for its best mean epoch (the default `final:`); fold networks: each on the "
        "search's 4 folds, stopped early on the fold's validation rows (20 networks). Test MAE "
        "on the 102 test rows.",
        "",
        "| quality seed | commit | recorded | retrained (5) | fold networks (20) | all 25 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['commit']} | {r['recorded']:.4f} | {r['retrained']:.4f} | "
            f"{r['fold_networks']:.4f} | {r['both']:.4f} |"
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("retrained", "fold_networks", "both")}
    lines.append(
        f"| mean | | | {mean['retrained']:.4f} | {mean['fold_networks']:.4f} | {mean['both']:.4f} |"
    )
    write_report("experiments/boston_final.md", lines)


if __name__ == "__main__":
    main()
