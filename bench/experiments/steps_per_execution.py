"""Keras' `steps_per_execution` on sweepflow's small networks: train steps per graph call.

A small table's epoch is mostly per-step Python, not arithmetic: Keras calls the traced train
step once per batch and runs its callbacks' batch hooks between calls. With
`steps_per_execution=k` (compile) TensorFlow runs up to k steps inside one call (a
`tf.while_loop` in the graph). Alternating in one process (A B C A B C …, a warm-up fit first),
the same network through sweepflow's `fit` on a task's real training rows: the first epoch's
seconds (tracing and running), the steady epochs' after it, and the best validation loss (the
same steps in the same order: it should not move). Writes
bench/results/experiments/steps_per_execution.* (or `--name`). The run named
`steps_per_execution_before_feed` was made at fb72bd2, when `fit` still gave Keras the arrays.

    .venv/bin/python bench/experiments/steps_per_execution.py [--tasks carseats imdb] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: common.py
from common import (  # noqa: E402
    alternate_fits,
    epoch_clock,
    fit_cells,
    machine,
    now,
    save_json,
    settings_rows,
    write_report,
)

PARAMS = {"layers": 1, "units": 32, "learning_rate": 1e-2, "optimizer": "adam", "l2": 0.03}
SETTINGS = ("1 (default)", "8", "64")


def one_fit(data, setting: str, epochs: int, batch: int) -> dict:
    """Build, compile with the setting's steps_per_execution and fit once; epoch seconds."""
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    times: list[float] = []
    fresh_state(0)
    start = time.perf_counter()
    params = {**PARAMS, "batch_size": batch, "epochs": epochs}
    model = build_model(params, model_spec(data))
    model.steps_per_execution = int(setting.split()[0])  # what compile(steps_per_execution=) sets
    got = fit(
        model,
        params,
        (data.x_train, data.y_train),
        (data.x_val, data.y_val),
        patience=epochs,
        callbacks=[epoch_clock(times)],
    )
    return {
        "first_s": times[0],
        "steady_s": statistics.median(times[1:]),
        "fit_s": time.perf_counter() - start,
        "best_val_loss": min(got.history["val_loss"]),
        "steps_per_epoch": -(-len(data.y_train) // batch),
    }


def main() -> None:
    """Alternate the settings on each task and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["carseats", "imdb"])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--name", default="experiments/steps_per_execution")
    args = parser.parse_args()
    results = alternate_fits(args.tasks, SETTINGS, one_fit, args.pairs, SETTINGS[0])
    save_json(args.name, {"machine": machine(), "when": now(), "runs": results})
    lines = [
        "# steps_per_execution: train steps per call of the traced function (TensorFlow)",
        "",
        f"{machine()}; {now()}. Same network ({PARAMS}) through sweepflow's `fit`, the settings "
        f"in turn, {args.pairs} rounds, medians; ratio = setting ÷ default, round by round. "
        "Command: `.venv/bin/python bench/experiments/steps_per_execution.py "
        f"--tasks {' '.join(args.tasks)} --pairs {args.pairs}`.",
        "",
        "| task | steps per epoch | steps_per_execution | first epoch s | steady epoch s | fit s "
        "| best val_loss | steady ratio | fit ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cells(task: str, setting: str, rows: list[dict]) -> str:
        return f"{task} | {rows[0]['steps_per_epoch']} | {setting} | {fit_cells(rows)}"

    lines += settings_rows(results, cells, ("steady_s", "fit_s"))
    write_report(f"{args.name}.md", lines)


if __name__ == "__main__":
    main()
