"""TensorFlow's graph optimiser (Grappler) on sweepflow's small networks: on vs off, per fit.

Each new network's first epoch traces its train and test steps and hands the graphs to
Grappler, TensorFlow's graph optimiser, before running them: most of a small trial's fixed
cost (bench/results/fixed_cost.md). Turning Grappler's meta-optimiser off
(`tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})`) skips that
pass. Alternating in one process (A B A B …, a warm-up fit first), the same network on a
task's real training rows: the first epoch's seconds (tracing, optimising, running) and the
steady epochs' after it. Writes bench/results/experiments/trace_cost.*.

    .venv/bin/python bench/experiments/trace_cost.py [--tasks carseats imdb] [--pairs 4]
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
    machine,
    now,
    save_json,
    settings_rows,
    write_report,
)

PARAMS = {"layers": 2, "units_1": 64, "units_2": 32, "learning_rate": 1e-3, "optimizer": "adam"}
SETTINGS = ("grappler on (default)", "grappler off")


def one_fit(data, setting: str, epochs: int, batch: int) -> dict:
    """Build, compile and fit once through sweepflow's `fit`; first and steady epoch seconds."""
    import tensorflow as tf

    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    grappler = setting == SETTINGS[0]
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not grappler})
    times: list[float] = []
    fresh_state(0)
    start = time.perf_counter()
    params = {**PARAMS, "batch_size": batch, "epochs": epochs}
    model = build_model(params, model_spec(data))
    built = time.perf_counter() - start
    got = fit(
        model,
        params,
        (data.x_train, data.y_train),
        (data.x_val, data.y_val),
        patience=epochs,
        callbacks=[epoch_clock(times)],
    )
    return {
        "build_s": built,
        "first_s": times[0],
        "steady_s": statistics.median(times[1:]),
        "fit_s": time.perf_counter() - start,
        "best_val_loss": min(got.history["val_loss"]),
    }


def main() -> None:
    """Alternate the two settings on each task and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["carseats", "imdb"])
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    results = alternate_fits(args.tasks, SETTINGS, one_fit, args.pairs, SETTINGS[0])
    save_json("experiments/trace_cost", {"machine": machine(), "when": now(), "runs": results})
    lines = [
        "# Grappler (TensorFlow's graph optimiser) on vs off, per fit",
        "",
        f"{machine()}; {now()}. Same network ({PARAMS}) through sweepflow's `fit`, alternating "
        "on, off per pair, medians; ratio = off ÷ on, pair by pair. Command: "
        "`.venv/bin/python bench/experiments/trace_cost.py`.",
        "",
        "| task | setting | first epoch s | steady epoch s | best val_loss | first ratio "
        "| steady ratio |",
        "|---|---|---|---|---|---|---|",
    ]

    def cells(task: str, setting: str, rows: list[dict]) -> str:
        med = statistics.median
        return (
            f"{task} | {setting} | {med(r['first_s'] for r in rows):.2f} | "
            f"{med(r['steady_s'] for r in rows):.3f} | {med(r['best_val_loss'] for r in rows):.4f}"
        )

    lines += settings_rows(results, cells, ("first_s", "steady_s"))
    write_report("experiments/trace_cost.md", lines)


if __name__ == "__main__":
    main()
