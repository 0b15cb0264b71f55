"""XLA on TensorFlow for sweepflow's networks: forced on vs Keras' CPU default (off), per fit.

Keras' `jit_compile="auto"` turns XLA off on a CPU-only TensorFlow machine; setting
`model.jit_compile` after compile forces it on. Alternating in one process (A B A B …, a warm-up
fit first), the same network on a task's real training rows: time of the first epoch (tracing +
compiling) and of the steady epochs after it. Writes bench/results/experiments/jit_compile.*.

    .venv/bin/python bench/experiments/jit_compile.py [--tasks carseats imdb] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: common.py
from common import alternate_fits, epoch_clock, machine, now, save_json, write_report  # noqa: E402

JIT = {"xla": True, "default": None}  # setting → model.jit_compile (None: as compiled)
PARAMS = {"layers": 2, "units_1": 64, "units_2": 32, "learning_rate": 1e-3, "optimizer": "adam"}


def one_fit(data, setting: str, epochs: int, batch: int) -> dict:
    """Build, compile and fit once; the first epoch's and the steady epochs' seconds."""

    from sweepflow.model.network import build_model, fresh_state
    from sweepflow.model.trial import model_spec

    times: list[float] = []
    fresh_state(0)
    start = time.perf_counter()
    model = build_model({**PARAMS, "batch_size": batch}, model_spec(data))
    jit = JIT[setting]
    if jit is not None:  # None: as compiled (Keras' "auto": off on CPU)
        model.jit_compile = jit
    built = time.perf_counter() - start
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=batch,
        verbose=0,
        callbacks=[epoch_clock(times)],
    )
    return {"build_s": built, "first_s": times[0], "steady_s": statistics.median(times[1:])}


def main() -> None:
    """Alternate the two settings on each task and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=["carseats", "imdb"])
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    results = alternate_fits(args.tasks, tuple(JIT), one_fit, args.pairs, "default")
    save_json("experiments/jit_compile", {"machine": machine(), "when": now(), "runs": results})
    lines = [
        "# XLA on TensorFlow (CPU): forced on vs Keras' default (off on CPU)",
        "",
        f"{machine()}; {now()}. Same network ({PARAMS}), alternating A B per pair, medians; "
        "ratio = default ÷ xla, pair by pair.",
        "",
        "| task | setting | first epoch s | steady epoch s | first ratio | steady ratio |",
        "|---|---|---|---|---|---|",
    ]
    for task, runs in results.items():
        for key in ("xla", "default"):
            rows = runs[key]
            first = statistics.median(r["first_s"] for r in rows)
            steady = statistics.median(r["steady_s"] for r in rows)
            ratios = ["", ""]
            if key == "default":
                pairs = list(zip(runs["xla"], rows, strict=True))
                fr = [b["first_s"] / a["first_s"] for a, b in pairs]
                sr = [b["steady_s"] / a["steady_s"] for a, b in pairs]
                ratios = [
                    f"{statistics.median(fr):.2f} ({', '.join(f'{r:.2f}' for r in fr)})",
                    f"{statistics.median(sr):.2f} ({', '.join(f'{r:.2f}' for r in sr)})",
                ]
            lines.append(
                f"| {task} | {key} | {first:.2f} | {steady:.3f} | {ratios[0]} | {ratios[1]} |"
            )
    write_report("experiments/jit_compile.md", lines)


if __name__ == "__main__":
    main()
