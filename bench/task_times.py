"""Wall time and peak RSS of one default `sweepflow tune` per built-in task (`make tasks` shows it).

Tasks already measured by `make bench-quality` take the median of those runs; the others are run
once here (seed 0, a fresh store each). Writes bench/results/task_times.json.

    .venv/bin/python bench/task_times.py [--tasks diabetes digits ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, hardware, load_json, now, save_json, tune_subprocess  # noqa: E402


def main() -> None:
    """Measure the tasks that bench-quality has not, merge, and save."""
    tasks = sorted(p.stem for p in (ROOT / "search_spaces").glob("*.yaml"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=tasks)
    args = parser.parse_args()
    quality: dict[str, list[dict]] = {}
    for run in load_json("quality") or []:
        if run.get("ok"):
            quality.setdefault(run["task"], []).append(run)
    times = (load_json("task_times") or {}).get("tasks", {})
    for task in args.tasks:
        if task in quality:
            runs = quality[task]
            times[task] = {
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
                "runs": len(runs),
                "from": "bench/results/quality.json (median)",
            }
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run = tune_subprocess(task, 0, Path(tmp) / f"store-{task}")
        if not run["ok"]:
            print(f"{task}: failed, see bench/results/{run['log']}")
            continue
        times[task] = {
            "wall_s": run["wall_s"],
            "peak_rss_gb": run["peak_rss_gb"],
            "runs": 1,
            "from": f"bench/task_times.py, seed 0, {run['commit']}",
        }
        print(f"{task}: {run['wall_s']:.0f} s, {run['peak_rss_gb']:.2f} GB")
    save_json("task_times", {"machine": hardware(), "when": now(), "tasks": times})


if __name__ == "__main__":
    main()
