"""Memory: no RSS growth across a long study, and imdb's peak RSS (issue 5, target 2).

Growth: one in-process search of `--trials` trials (default 50) on a cheap task with tracking
on, as in production; after every trial's training a probe reads VmRSS and VmHWM (peak) from
/proc/self/status. Target: peak after trial 50 ≤ 1.1 × peak after trial 5.
imdb peak RSS of the whole `make tune TASK=imdb` command comes from quality.json (bench/quality.py).
Writes bench/results/memory.md, memory.json and memory.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from common import ENV, RESULTS, ROOT, data_dir, load_json, machine, now, save_json


def rss_gb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in GiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    kb = lambda key: int(fields[key].split()[0])  # noqa: E731
    return kb("VmRSS") / 2**20, kb("VmHWM") / 2**20


def growth(task: str, trials: int, epochs: int) -> list[dict]:
    """RSS after each trial of one long tracked study."""
    os.environ.update(ENV)
    import keras

    from sweepflow.config.space import FixedSpec, SearchSpace
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.engines import make_engine
    from sweepflow.search.stage import run_search
    from sweepflow.store.layout import Store
    from sweepflow.tracking import Tracker

    cfg = load_task(task, ROOT / "search_spaces").with_overrides(trials=trials, seed=0)
    specs = tuple(FixedSpec("epochs", epochs) if s.name == "epochs" else s for s in cfg.space.specs)
    from dataclasses import replace

    cfg = replace(cfg, space=SearchSpace(specs))
    data = prepare(cfg, data_dir())
    samples: list[dict] = []

    class Probe(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            now_gb, peak_gb = rss_gb()
            samples.append({"trial": len(samples) + 1, "rss_gb": now_gb, "peak_gb": peak_gb})

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        run_search(
            cfg,
            data,
            Tracker.for_store(store),
            make_engine("optuna", store),
            extra_callbacks=lambda: [Probe()],
        )
    return samples


def main() -> int:
    """Run the growth study; write the results with imdb's peak RSS from quality.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="carseats")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=30, help="max epochs per trial")
    parser.add_argument("--report", action="store_true", help="rewrite memory.md from .json")
    args = parser.parse_args()
    if args.report:
        earlier = load_json("memory")
        samples, grown_at = earlier["growth"], earlier["growth_run_at"]
    else:
        samples, grown_at = growth(args.task, args.trials, args.epochs), now()
    at = {s["trial"]: s for s in samples}
    last = samples[-1]
    ratio = last["peak_gb"] / at[5]["peak_gb"] if 5 in at else float("nan")
    verdict = "yes" if ratio <= 1.1 else "**no**"
    quality = [r for r in (load_json("quality") or []) if r["task"] == "imdb" and r["ok"]]
    imdb_peaks = [r["peak_rss_gb"] for r in quality]
    later = (load_json("pruning") or {}).get("imdb", {}).get("unpruned")
    save_json(
        "memory",
        {
            "growth": samples,
            "growth_run_at": grown_at,
            "task": args.task,
            "epochs": args.epochs,
            "imdb_peak_rss_gb": imdb_peaks,
        },
    )
    # runs made before multi-hot batches stayed uint8 (7f96f21): float32 batches in tf.data
    before = ("86a362b", "43f2e51")
    final = [r["peak_rss_gb"] for r in quality if not r.get("commit", "?").startswith(before)]
    older = [r["peak_rss_gb"] for r in quality if r.get("commit", "?").startswith(before)]
    commits = sorted({r.get("commit", "?") for r in quality if r["peak_rss_gb"] in final})
    target = 2.5e9 / 2**30  # 2.5 GB in GiB (the peaks are kB / 2**20)
    pruning_line = ""
    if later and later.get("peak_rss_gb"):  # an older commit's run (bench/pruning.py)
        pruning_line = (
            f"\n| same, bench/pruning.py's unpruned imdb run (older code: dense test rows) | "
            f"{later['peak_rss_gb']:.2f} GiB | ≤ 2.33 GiB | superseded |"
        )
    imdb_line = (
        f"| `make tune TASK=imdb` peak RSS (whole command), quality runs of {', '.join(commits)}:"
        f" {len(final)} runs ({', '.join(f'{v:.2f}' for v in final)} GiB) | max "
        f"{max(final):.2f} GiB | ≤ 2.5 GB (2.33 GiB) | "
        f"{'yes' if max(final) <= target else '**no**'} |\n"
        f"| same, runs before uint8 batches (commits 86a362b / 43f2e51) | "
        f"{', '.join(f'{v:.2f}' for v in older) or '—'} GiB | ≤ 2.33 GiB | superseded |"
        + pruning_line
        if final
        else "| `make tune TASK=imdb` peak RSS | not measured (bench/quality.py) | ≤ 2.5 GB | — |"
    )
    lines = [
        "# Memory (issue 5, target 2)",
        "",
        f"Growth study run {grown_at}, table written {now()}, on {machine()}. Command: "
        "`make bench-memory` (growth; `memory.py --report` rewrites the table without re-running "
        "it) and `make bench-quality` (imdb peak RSS, /usr/bin/time -v).",
        "",
        "| measurement | value | target | met? |",
        "|---|---|---|---|",
        imdb_line,
        f"| {args.task}, {args.trials}-trial tracked study (max {args.epochs} epochs): peak RSS "
        f"after trial 5 → after trial {last['trial']} | {at[5]['peak_gb']:.3f} → "
        f"{last['peak_gb']:.3f} GiB (× {ratio:.3f}) | ≤ × 1.1 | {verdict} |",
        f"| same study: current RSS after trial 5 → after trial {last['trial']} | "
        f"{at[5]['rss_gb']:.3f} → {last['rss_gb']:.3f} GiB | — | — |",
        "",
        "imdb matrices are multi-hot uint8 (20,000 words + word pairs: 381 MiB train, 95 MiB "
        "val; the 25,000 test rows, read only by the final evaluation and the baselines, are a "
        "sparse uint8 CSR matrix of ~25 MB since 2026-12-02, 477 MiB dense before: peaks "
        "2.58-2.59 GiB → 1.81-1.82 GiB) and reach the network through `CompactBatches`, uint8 "
        "batches that the "
        "model's float32 input casts inside the graph; Keras' own array adapter would copy the "
        "whole matrix into a tf.data tensor. The first imdb quality runs (commits 86a362b / "
        "43f2e51: 2.66 and 2.61 GB) used the first version, which cast each batch to float32 "
        "in NumPy: tf.data's prefetch then held large float32 batches. Final-code runs: the "
        "imdb quality runs in quality.json made after that change, and the unpruned imdb run "
        "of bench/pruning.py. Ad-hoc check of the same "
        "change (prepare imdb + two trial fits + test prediction, no tracking, one process): "
        "peak RSS 3.26 GB with Keras' "
        "adapter, 2.26 GB with float32 batches, 1.99 GB with uint8 batches; test accuracy of "
        "the two configurations 0.900 / 0.898 in all three.",
        "",
        "Growth: before 2026-11-24 it was linear, ~2.5 MB per trial (× 1.14 at trial 50, "
        "commit 52977c5). Cause: Keras' TensorFlow optimizer all-reduces the gradients even "
        "with no distribution strategy, and each trace of a train step registers a "
        "`CustomGradient-<n>` in TensorFlow's global gradient registry that is never removed; "
        "its closure keeps the whole traced step (FuncGraph, ~2-4 MB) alive after "
        "`clear_session`. `sweepflow.model.network.release_traced_gradients()`, called by every "
        "trial's `fresh_state`, drops the registrations earlier trials made: the curve is now "
        "flat (test: tests/unit/test_model_options.py::"
        "test_trials_do_not_leave_traced_train_steps_behind; "
        "a bare Keras loop of 40 fits grew 827 → 989 MB without it, 827 → 827 MB with it).",
        "",
        "![RSS per trial](memory.png)",
    ]
    (RESULTS / "memory.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot([s["trial"] for s in samples], [s["rss_gb"] for s in samples], label="RSS")
    ax.plot([s["trial"] for s in samples], [s["peak_gb"] for s in samples], label="peak RSS")
    ax.set_xlabel("trial")
    ax.set_ylabel("GiB")
    ax.set_title(f"{args.task}: RSS across a {args.trials}-trial tracked study")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "memory.png", dpi=90)
    print((RESULTS / "memory.md").read_text())
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    sys.exit(main())
