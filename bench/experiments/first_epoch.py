"""Where a new network's first epoch goes, and what one prediction call costs: per task.

Each fit (sweepflow's `fit`, the task's training and validation rows, a fixed small network)
is timed by a callback at its edges: before `on_train_begin` (the data adapter and callbacks'
set-up), the first train batch (the train step's trace and first run) and the first
validation batch (the test step's trace). Then the fitted network scores the validation rows,
twice, with the setting of the pair: Keras' `model.predict` (a data pipeline per call) or
`predict_scores` (`predict_on_batch` in 1,024-row batches, since fb72bd2): the call an F1
objective makes every epoch and the final evaluation makes once.
Settings alternate A B A B after a warm-up fit; medians, ratio pair by pair. Writes
bench/results/experiments/first_epoch.{json,md} (or `--name`).

    .venv/bin/python bench/experiments/first_epoch.py [--tasks carseats imdb] [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: common.py
from common import alternate_fits, machine, now, save_json, write_report  # noqa: E402

PARAMS = {"layers": 1, "units": 32, "learning_rate": 1e-2, "optimizer": "adam", "l2": 0.03}
SETTINGS = ("model.predict", "predict_scores")
PARTS = ("before train begins", "first train batch", "first validation batch")


def marks_callback() -> Any:
    """A callback recording the time of the fit's first events."""
    import keras

    class Marks(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.t: dict[str, float] = {"start": time.perf_counter()}

        def _mark(self, key: str) -> None:
            self.t.setdefault(key, time.perf_counter())

        def on_train_begin(self, logs: Any = None) -> None:
            self._mark("train_begin")

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self._mark("b0_begin")

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self._mark("b0_end")

        def on_test_begin(self, logs: Any = None) -> None:
            self._mark("test_begin")

        def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
            self._mark("test_b0_end")

    return Marks()


def one_fit(data: Any, setting: str, epochs: int, batch: int) -> dict:
    """One fit timed at its edges, then two scoring calls on the validation rows."""
    from sweepflow.data.compact import predict_scores
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    fresh_state(0)
    params = {**PARAMS, "batch_size": batch, "epochs": epochs}
    model = build_model(params, model_spec(data))
    marks = marks_callback()
    fit(model, params, (data.x_train, data.y_train), (data.x_val, data.y_val),
        patience=epochs, callbacks=[marks])  # fmt: skip
    t = marks.t
    parts = {
        PARTS[0]: t["train_begin"] - t["start"],
        PARTS[1]: t["b0_end"] - t["b0_begin"],
        PARTS[2]: t["test_b0_end"] - t["test_begin"],
    }
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        if setting == SETTINGS[0]:
            model.predict(data.x_val, batch_size=1024, verbose=0)
        else:
            predict_scores(model, data.x_val)
        calls.append(time.perf_counter() - start)
    return {**parts, "first call": calls[0], "next call": calls[1], "rows": len(data.y_val)}


def main() -> None:
    """Alternate the two scoring calls on each task and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["carseats", "imdb"])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--name", default="experiments/first_epoch")
    args = parser.parse_args()
    results = alternate_fits(args.tasks, SETTINGS, one_fit, args.pairs, SETTINGS[0])
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    save_json(args.name, {"machine": machine(), "when": now(), "backend": backend, "runs": results})
    med = statistics.median
    lines = [
        f"# A new network's first epoch, and one scoring call ({backend})",
        "",
        f"{machine()}; {now()}. Network {PARAMS} through sweepflow's `fit` on each task's "
        "training rows, validating each epoch (small tables: batch 32, larger: 256); medians "
        f"of {args.pairs} fits per setting. Command: `.venv/bin/python "
        f"bench/experiments/first_epoch.py --tasks {' '.join(args.tasks)} --pairs {args.pairs}"
        f"{'' if args.name == 'experiments/first_epoch' else f' --name {args.name}'}`.",
        "",
        "| task | " + " | ".join(f"{p} (s)" for p in PARTS) + " |",
        "|---|" + "---|" * len(PARTS),
    ]
    for task, runs in results.items():
        rows = [r for setting in SETTINGS for r in runs[setting]]
        cells = " | ".join(f"{med(r[p] for r in rows):.3f}" for p in PARTS)
        lines.append(f"| {task} | {cells} |")
    lines += [
        "",
        "Scoring the validation rows once the network is fitted (s per call; ratio "
        "predict_scores ÷ model.predict, pair by pair):",
        "",
        "| task | validation rows | call | model.predict | predict_scores | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for task, runs in results.items():
        a, b = runs[SETTINGS[0]], runs[SETTINGS[1]]
        for call in ("first call", "next call"):
            r = [y[call] / x[call] for x, y in zip(a, b, strict=True)]
            pairs = ", ".join(f"{v:.2f}" for v in r)
            lines.append(
                f"| {task} | {a[0]['rows']} | {call} | {med(x[call] for x in a):.4f} | "
                f"{med(y[call] for y in b):.4f} | {med(r):.2f} ({pairs}) |"
            )
    write_report(f"{args.name}.md", lines)


if __name__ == "__main__":
    main()
