"""Two parts of a trial's fixed cost, A B A B in one process: the full gc of `fresh_state` with
the survivors of the first trial frozen (`gc.freeze`) or not, and the learning-curve PNG with
the legend placed at "best" or fixed at "upper right".

Each gc round first does what a trial leaves behind (a network built, compiled and fitted for
two epochs on the task's real training rows), then times `clear_session` + `gc.collect()`;
`gc.unfreeze()` / `gc.freeze()` switch between the two arms. Each PNG round draws the same
40-epoch history. Writes bench/results/experiments/fresh_state.md + .json.

    .venv/bin/python bench/experiments/fresh_state.py [--tasks carseats imdb] [--pairs 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: common.py
from common import ENV, ROOT, data_dir, machine, now, save_json, write_report  # noqa: E402

PARAMS = {
    "layers": 2,
    "units_1": 64,
    "units_2": 32,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "batch_size": 32,
    "epochs": 2,
}


def leave_a_trial_behind(data) -> None:
    """What one trial makes: a compiled network fitted for two epochs (then dropped)."""
    from sweepflow.model.network import build_model, fit
    from sweepflow.model.trial import model_spec

    model = build_model(PARAMS, model_spec(data))
    fit(model, PARAMS, (data.x_train, data.y_train), (data.x_val, data.y_val), patience=5)


def time_gc(frozen: bool) -> float:
    """Seconds of clear_session + full gc, with the first trial's survivors frozen or not."""
    import keras

    (gc.freeze if frozen else gc.unfreeze)()
    start = time.perf_counter()
    keras.backend.clear_session(free_memory=False)
    gc.collect()
    return time.perf_counter() - start


def time_png(loc: str) -> float:
    """Seconds to draw the learning-curve PNG of a 40-epoch history with the legend at loc."""
    import numpy as np
    from matplotlib.axes import Axes

    from sweepflow import plots

    epochs = np.arange(40)
    history = {
        "loss": list(1 / (1 + epochs)),
        "val_loss": list(1.2 / (1 + epochs) + 0.01 * epochs),
        "mae": list(2 / (1 + epochs)),
        "val_mae": list(2.2 / (1 + epochs) + 0.01 * epochs),
    }
    legend = Axes.legend
    Axes.legend = lambda self, *a, **k: legend(self, *a, **{**k, "loc": loc})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            plots.learning_curve(history, Path(tmp) / "c.png", "trial 0 (complete)", 12)
            return time.perf_counter() - start
    finally:
        Axes.legend = legend


def main() -> int:
    """Alternate the arms and write the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["carseats", "imdb"])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(ENV)
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare

    results: dict[str, dict[str, list[float]]] = {}
    for task in args.tasks:
        data = prepare(load_task(task, ROOT / "search_spaces"), data_dir())
        leave_a_trial_behind(data)  # warm-up: TensorFlow's one-off set-up
        time_gc(False)
        arms: dict[str, list[float]] = {"gc, not frozen": [], "gc, frozen": []}
        for _ in range(args.pairs):
            for frozen in (False, True):
                leave_a_trial_behind(data)
                arms["gc, frozen" if frozen else "gc, not frozen"].append(time_gc(frozen))
        results[task] = arms
    png: dict[str, list[float]] = {"PNG, legend best": [], "PNG, legend upper right": []}
    time_png("best")
    for _ in range(args.pairs * 2):
        png["PNG, legend best"].append(time_png("best"))
        png["PNG, legend upper right"].append(time_png("upper right"))
    results["png"] = png
    save_json("experiments/fresh_state", {"machine": machine(), "when": now(), **results})
    lines = [
        "# Fresh state's gc with the survivors frozen, and the PNG's legend (fresh_state)",
        "",
        f"{machine()}; {now()}. Median seconds of {args.pairs} A B pairs (PNG: "
        f"{args.pairs * 2}) in one process; regenerate: "
        "`.venv/bin/python bench/experiments/fresh_state.py`.",
        "",
        "| where | arm | median s | min–max | ratio B ÷ A, pair by pair (median) |",
        "|---|---|---|---|---|",
    ]
    for where, arms in results.items():
        (a_name, a), (b_name, b) = arms.items()
        ratios = [y / x for x, y in zip(a, b, strict=True) if x > 0]
        for name, vals in ((a_name, a), (b_name, b)):
            ratio = f"{statistics.median(ratios):.2f}" if name == b_name else ""
            lines.append(
                f"| {where} | {name} | {statistics.median(vals):.3f} | "
                f"{min(vals):.3f}–{max(vals):.3f} | {ratio} |"
            )
    write_report("experiments/fresh_state.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
