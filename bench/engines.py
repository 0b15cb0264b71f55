"""Which engine finds the better model for the same wall-clock budget? (`make bench-engines`)

For each task (real data from the data folder) and each engine setting, run the task's own
search space under the same wall-clock budget, for several seeds, with tracking on as in
production. A probe callback scores every trained model (best weights restored) on the test
split at the end of its training — the search itself never sees those numbers. Results go to
bench/results/engines.md (+ .json, + .png of best-so-far against elapsed seconds).

Best-so-far: the trained model with the best validation metric so far (pruned trials' models
included, at their restored epoch); its test metric is what the curve and "time to target" use.
Probe time (test-set prediction) is subtracted from elapsed times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import hardware as machine  # noqa: E402

ENGINES = {
    "optuna TPE + hyperband": {"engine": "optuna", "sampler": "tpe", "pruner": "hyperband"},
    "optuna random, no pruning": {"engine": "optuna", "sampler": "random", "pruner": "none"},
    "keras-tuner hyperband": {"engine": "keras-tuner", "tuner": "hyperband"},
    "keras-tuner bayesian": {"engine": "keras-tuner", "tuner": "bayesian"},
}
# Budget per run (seconds) and the test accuracy "time to target" is measured against.
TASKS = {"fashion_mnist": (120.0, 0.88), "imdb": (60.0, 0.885)}


def make_probe(data, events: list, clock: dict, budget: float):
    """Keras callbacks per trial: a hard deadline at the budget, then a test-set probe."""
    import keras
    import numpy as np

    from sweepflow.evaluate.final import predict_labels

    class Deadline(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - clock["start"] > budget:
                self.model.stop_training = True  # the budget binds inside a trial too

    class Probe(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            t0 = time.perf_counter()
            hist = self.model.history.history if self.model.history else {}
            if not hist.get("val_loss"):
                return
            best = int(np.nanargmin(hist["val_loss"]))
            val = float(hist["val_accuracy"][best])
            scores = self.model.predict(data.x_test, batch_size=2048, verbose=0)
            test = float(np.mean(predict_labels(data.kind, scores) == data.y_test))
            clock["probe"] += time.perf_counter() - t0
            elapsed = time.perf_counter() - clock["start"] - clock["probe"]
            events.append({"t": elapsed, "val": val, "test": test, "epochs": len(hist["val_loss"])})

    return lambda: [Deadline(), Probe()]


def one_run(task: str, label: str, seed: int, budget: float, data, work: Path) -> dict:
    """One search under the budget; returns its figures."""
    from sweepflow.config.task import load_task
    from sweepflow.engines import make_engine
    from sweepflow.search.stage import run_search
    from sweepflow.store.layout import Store
    from sweepflow.tracking import Tracker

    cfg = load_task(task, ROOT / "search_spaces").with_overrides(
        trials=10_000, seed=seed, timeout=budget, **ENGINES[label]
    )
    store = Store(work / f"{task}-{label.replace(' ', '_')}-{seed}")
    events: list[dict] = []
    clock = {"start": time.perf_counter(), "probe": 0.0}
    result = run_search(
        cfg,
        data,
        Tracker.for_store(store),
        make_engine(cfg.search.engine, store),
        extra_callbacks=make_probe(data, events, clock, budget),
    )
    best_val, curve = -1.0, []
    for e in events:
        if e["val"] > best_val:
            best_val = e["val"]
            curve.append((e["t"], e["val"], e["test"]))
    return {
        "task": task,
        "engine": label,
        "seed": seed,
        "best_val": curve[-1][1] if curve else None,
        "best_test": curve[-1][2] if curve else None,
        "trials": len(result.summary.session_outcomes),
        "models_trained": len(events),
        "epochs": sum(e["epochs"] for e in events),
        "wall": time.perf_counter() - clock["start"],
        "curve": curve,
    }


def time_to(curve: list, target: float) -> float | None:
    """Seconds until the best-so-far model's test metric first reached `target`."""
    return next((t for t, _, test in curve if test >= target), None)


def fmt(values: list[float], digits: int = 4) -> str:
    """mean ± sd."""
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def report(runs: list[dict], out: Path, seeds: int, header: str) -> None:
    """Write engines.md, engines.json and engines.png."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "engines.json").write_text(json.dumps(runs, indent=1))
    lines = [
        header,
        "",
        "| task | engine | best val acc | best test acc | trials | models "
        "trained | epochs trained | time to target (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, (_, target) in TASKS.items():
        for label in ENGINES:
            rs = [r for r in runs if r["task"] == task and r["engine"] == label]
            if not rs:
                continue
            reach = [time_to(r["curve"], target) for r in rs]
            hit = [t for t in reach if t is not None]
            ttt = f"{fmt(hit, 0)} ({len(hit)}/{len(rs)} reached {target})"
            lines.append(
                f"| {task} | {label} | {fmt([r['best_val'] for r in rs if r['best_val']])} | "
                f"{fmt([r['best_test'] for r in rs if r['best_test']])} | "
                f"{fmt([r['trials'] for r in rs], 1)} | {fmt([r['models_trained'] for r in rs], 1)}"
                f" | {fmt([r['epochs'] for r in rs], 0)} | {ttt} |"
            )
    (out / "engines.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(6 * len(TASKS), 4.2), squeeze=False)
    for ax, task in zip(axes[0], TASKS, strict=True):
        for i, label in enumerate(ENGINES):
            for j, r in enumerate(r for r in runs if r["task"] == task and r["engine"] == label):
                if r["curve"]:
                    ts, tests = [c[0] for c in r["curve"]], [c[2] for c in r["curve"]]
                    ax.step(
                        ts + [r["wall"]],
                        tests + tests[-1:],
                        where="post",
                        color=f"C{i}",
                        alpha=0.8,
                        label=label if j == 0 else None,
                    )
        ax.set_title(f"{task}: test acc of best-so-far (by val)")
        ax.set_xlabel("elapsed seconds")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "engines.png", dpi=90)


def main() -> int:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every budget")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    from sweepflow.environment import configure_environment, resolve_data_dir

    configure_environment(Path(tempfile.gettempdir()) / "sweepflow-bench")
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.model.backend import configure_devices

    print(f"device: {configure_devices()}")

    runs: list[dict] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            budget = TASKS[task][0] * args.scale
            data = prepare(load_task(task, ROOT / "search_spaces"), resolve_data_dir())
            for seed in range(args.seeds):
                for label in ENGINES:
                    run = one_run(task, label, seed, budget, data, Path(tmp))
                    runs.append(run)
                    print(
                        f"{task} | {label} | seed {seed}: best val {run['best_val']}, test "
                        f"{run['best_test']}, {run['trials']} trials, {run['epochs']} epochs, "
                        f"{run['wall']:.0f} s",
                        flush=True,
                    )
    budgets = ", ".join(f"{t} {TASKS[t][0] * args.scale:.0f} s" for t in args.tasks)
    header = (
        f"# Engines under one wall-clock budget\n\nRun {started} on {machine()}.\n"
        f"Budget per run: {budgets}; {args.seeds} seeds each; mean ± sd over seeds. "
        "Command: `make bench-engines`."
    )
    report(runs, Path(args.out), args.seeds, header)
    print((Path(args.out) / "engines.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
