"""How arrays reach `model.fit` on TensorFlow: Keras' array adapter vs one iterator per fit.

From NumPy arrays Keras' TensorFlow trainer makes new tf.data iterators for the training and
the validation rows every epoch. `model/feed.py:array_fit_args` (what sweepflow's `fit` uses
since this commit) feeds a repeated dataset with `steps_per_epoch` instead: one iterator per
fit. Alternating in one process (A B A B …, a warm-up fit first), the same network through
sweepflow's `fit` on a task's real training rows, A with `array_fit_args` swapped for the
plain arrays Keras took before: the first epoch's seconds, the steady epochs' after it, the
whole fit, and the best validation loss (the same rows per epoch, in another shuffled
order). Writes bench/results/experiments/feed.{json,md}.

    .venv/bin/python bench/experiments/feed.py [--tasks carseats diabetes ...] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

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
SETTINGS = ("Keras' array adapter (before)", "one iterator per fit (array_fit_args)")
TASKS = ["carseats", "diabetes", "breast_cancer", "digits"]


def plain_arrays(x: Any, y: Any, validation: Any, batch_size: int) -> dict[str, Any]:
    """The arguments sweepflow's `fit` gave Keras before: the arrays themselves."""
    return {"x": x, "y": y, "batch_size": batch_size, "validation_data": validation}


def one_fit(data: Any, setting: str, epochs: int, batch: int) -> dict:
    """Build, compile and fit once through sweepflow's `fit` fed as the setting says."""
    from sweepflow.model import feed, network
    from sweepflow.model.trial import model_spec

    network.array_fit_args = plain_arrays if setting == SETTINGS[0] else feed.array_fit_args
    times: list[float] = []
    network.fresh_state(0)
    start = time.perf_counter()
    params = {**PARAMS, "batch_size": batch, "epochs": epochs}
    model = network.build_model(params, model_spec(data))
    got = network.fit(
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
        "rows": len(data.y_train),
    }


def main() -> None:
    """Alternate the two feeds on each task and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=TASKS)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    results = alternate_fits(args.tasks, SETTINGS, one_fit, args.pairs, SETTINGS[0])
    save_json("experiments/feed", {"machine": machine(), "when": now(), "runs": results})
    lines = [
        "# Arrays into `model.fit` on TensorFlow: a new iterator per epoch vs one per fit",
        "",
        f"{machine()}; {now()}. Same network ({PARAMS}) through sweepflow's `fit` on each "
        "task's training rows (12 epochs of batch 32; validation every epoch), the feeds in "
        f"turn, {args.pairs} pairs, medians; ratio = one iterator ÷ array adapter, pair by "
        "pair. Command: `.venv/bin/python bench/experiments/feed.py "
        f"--tasks {' '.join(args.tasks)} --pairs {args.pairs}`.",
        "",
        "| task | training rows | feed | first epoch s | steady epoch s | fit s | best val_loss "
        "| steady ratio | fit ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cells(task: str, setting: str, rows: list[dict]) -> str:
        return f"{task} | {rows[0]['rows']} | {setting} | {fit_cells(rows)}"

    lines += settings_rows(results, cells, ("steady_s", "fit_s"))
    write_report("experiments/feed.md", lines)


if __name__ == "__main__":
    main()
