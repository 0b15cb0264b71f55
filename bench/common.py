"""Shared helpers of the benchmarks: machine line, tune subprocess, MLflow read-back, results."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def hardware() -> str:
    """One line describing this machine: cores, CPU, memory, OS, Python."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def machine() -> str:
    """The machine line of the issue-5 results, which ran beside other users' jobs."""
    return f"{hardware()}; shared with other users' jobs (timings are noisy)"


def write_report(name: str, lines: list[str], folder: Path = RESULTS) -> Path:
    """Write a results table (`<folder>/<name>`) and print it."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())
    return path


def now() -> str:
    """UTC timestamp for results files."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def data_dir() -> Path:
    """The data folder (../shared/data on these machines)."""
    default = ROOT.parent / "shared" / "data"
    return Path(os.environ.get("SWEEPFLOW_DATA_DIR", default if default.exists() else "data"))


def epoch_clock(times: list[float]) -> Any:
    """A Keras callback appending each epoch's wall seconds to `times`."""
    import keras

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.t)

    return Clock()


def alternate_fits(
    tasks: list[str],
    settings: tuple[str, ...],
    one_fit: Callable[[Any, str, int, int], dict],
    pairs: int,
    warm_up: str,
) -> dict[str, dict[str, list[dict]]]:
    """Per task (its default YAML's data, TensorFlow), `one_fit(data, setting, epochs, batch)`
    under each setting in turn, A B A B …, after one `warm_up` fit (TensorFlow's first-use
    costs). Small tables fit 12 epochs of batch 32, larger ones 4 of batch 256."""
    os.environ.update(ENV)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare

    results = {}
    for task in tasks:
        data = prepare(load_task(task, ROOT / "search_spaces"), data_dir())
        epochs, batch = (12, 32) if len(data.y_train) < 5000 else (4, 256)
        one_fit(data, warm_up, 2, batch)
        runs: dict[str, list[dict]] = {s: [] for s in settings}
        for _ in range(pairs):
            for setting in settings:
                runs[setting].append(one_fit(data, setting, epochs, batch))
        results[task] = runs
        print(task, runs, flush=True)
    return results


def tune_subprocess(
    task: str, seed: int, store: Path, spaces: Path | None = None, extra: tuple[str, ...] = ()
) -> dict:
    """`python -m sweepflow tune` in a child under /usr/bin/time -v: summary line + peak RSS."""
    cmd = [sys.executable, "-m", "sweepflow", "tune", task, "--seed", str(seed)]
    cmd += ["--store", str(store), "--data-dir", str(data_dir()), *extra]
    if spaces is not None:
        cmd += ["--spaces", str(spaces)]
    env = {**os.environ, **ENV, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    commit = subprocess.run(  # the code this run uses: HEAD when it starts
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    name = Path(task).stem  # a built-in task's name, or a task YAML's file name
    log = RESULTS / f"{name}-seed{seed}-{store.name}.log"
    log.write_text(proc.stdout + "\n" + proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    line = next((ln for ln in proc.stdout.splitlines() if ln.strip().startswith(f"{name}:")), "")
    test = {k: float(v) for k, v in re.findall(r"(test_\w+)=([-\d.]+)", line)}
    best = re.search(r"best (val_\w+)=([-\d.]+)", line)
    return {
        "task": task,
        "seed": seed,
        "commit": commit,
        "ok": proc.returncode == 0,
        "wall_s": wall,
        "peak_rss_gb": int(rss.group(1)) / 2**20 if rss else None,
        "best_val": float(best.group(2)) if best else None,
        "test": test,
        "log": log.name,
    }


def search_record(store: Path, task: str) -> dict[str, Any]:
    """The latest search run of `task` in a store: its metrics and per-trial fixed cost."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    exp = client.get_experiment_by_name(task)
    runs = client.search_runs([exp.experiment_id], "tags.`sweepflow.role` = 'search'")
    parent = max(runs, key=lambda r: r.info.start_time)
    trials = client.search_runs(
        [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    # a cv trial's fits are its fold runs (one query for all); fixed cost is then per fold fit
    ids = {trial.info.run_id for trial in trials}
    folds = [
        run
        for run in client.search_runs([exp.experiment_id], "tags.`sweepflow.role` = 'fold'")
        if run.data.tags.get("mlflow.parentRunId") in ids
    ]
    record = {
        "parent": dict(parent.data.metrics),
        "fixed": fixed_cost(client, trials + folds),
        "backend": parent.data.tags.get("backend"),
    }
    try:  # an ensemble's members, each with its own test metric
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(parent.info.run_id, "evaluation/ensemble.json", tmp)
            record["members"] = json.loads(Path(path).read_text())["members"]
    except Exception:  # a single final network has no ensemble.json
        pass
    return record


def fixed_cost(client: Any, trials: list) -> dict[str, float]:
    """Per-trial time outside steady-state epochs (build, compile, tracing, run open/close).

    A trial run lasts from run creation to its close; epoch k ends at its logged timestamp. The
    steady epoch time is (t_last - t_first) / (n - 1); fixed = duration - n * steady.
    """
    fixed, total, used, epochs, steady_sum = 0.0, 0.0, 0, 0, 0.0
    for run in trials:
        if run.info.end_time is None:
            continue
        stamps = sorted(m.timestamp for m in client.get_metric_history(run.info.run_id, "loss"))
        if len(stamps) < 2:
            continue
        duration = (run.info.end_time - run.info.start_time) / 1000
        steady = (stamps[-1] - stamps[0]) / 1000 / (len(stamps) - 1)
        fixed += max(0.0, duration - len(stamps) * steady)
        total += duration
        used += 1
        epochs += len(stamps)
        steady_sum += steady * len(stamps)
    return {
        "trials": used,
        "fixed_s_per_trial": fixed / used if used else float("nan"),
        "trial_s": total / used if used else float("nan"),
        "fixed_fraction": fixed / total if total else float("nan"),
        "s_per_epoch": steady_sum / epochs if epochs else float("nan"),
    }


def paired_ratio(base: list[dict], runs: list[dict], key: str) -> str:
    """Median of runs ÷ base for `key`, pair by pair, then each pair's: '0.38 (0.38, 0.34)'."""
    r = [b[key] / a[key] for a, b in zip(base, runs, strict=True)]
    return f"{statistics.median(r):.2f} ({', '.join(f'{x:.2f}' for x in r)})"


def fit_cells(runs: list[dict]) -> str:
    """Medians of one setting's fits: first epoch s | steady epoch s | fit s | best val_loss."""
    med = statistics.median
    return (
        f"{med(r['first_s'] for r in runs):.2f} | {med(r['steady_s'] for r in runs):.3f} | "
        f"{med(r['fit_s'] for r in runs):.2f} | {med(r['best_val_loss'] for r in runs):.4f}"
    )


def settings_rows(
    results: dict[str, dict[str, list[dict]]],
    cells: Callable[[str, str, list[dict]], str],
    ratio_keys: tuple[str, ...],
) -> list[str]:
    """Table rows, one per task and setting (`alternate_fits`' results): `cells(task, setting,
    runs)` then, after the first setting, each `ratio_keys` ratio to the first setting's runs."""
    lines = []
    for task, runs in results.items():
        settings = list(runs)
        for setting in settings:
            ratios = [
                "" if setting == settings[0] else paired_ratio(runs[settings[0]], runs[setting], k)
                for k in ratio_keys
            ]
            lines.append(f"| {cells(task, setting, runs[setting])} | " + " | ".join(ratios) + " |")
    return lines


def mean_sd(values: list[float], digits: int = 3) -> str:
    """'mean ± sd (min–max)' or '—' (None and NaN, e.g. no fixed cost for cv trials, left out)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    sd = statistics.stdev(values)
    return (
        f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f})"
    )


def save_json(name: str, obj: Any) -> None:
    """Write bench/results/<name>.json (`experiments/<name>`: a one-off experiment's)."""
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=str))


def load_json(name: str) -> Any:
    """Read bench/results/<name>.json (None when absent)."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
