"""TPE (sweepflow's settings) against random sampling at an equal trial budget.

    python bench/experiments/sampler.py [--tasks carseats] [--seeds 0 1 2]

Each task's own YAML (its 20-trial budget, no timeout) is run once as it is (TPE with start-up
trials scaled to the budget, multivariate, grouped) and once with `search.sampler: random`,
for each seed, in fresh stores. `--samplers random` runs only random search and takes the TPE
runs from bench/results/quality.json (the same command, `sweepflow tune <task> --seed s`).
Compared on the search's best validation value (training rows
only) and, for the record, the test metric. Writes bench/results/experiments/sampler.md + .json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (  # noqa: E402
    ROOT,
    load_json,
    machine,
    now,
    save_json,
    tune_subprocess,
    write_report,
)


def spaces_with(sampler: str, folder: Path) -> Path:
    """A copy of search_spaces/ whose tasks use `sampler`."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (ROOT / "search_spaces").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        spec.setdefault("search", {})["sampler"] = sampler
        (folder / path.name).write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def main() -> None:
    """Both samplers × seeds × tasks; the comparison table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="*", default=["carseats"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--samplers", nargs="*", default=["tpe", "random"])
    args = parser.parse_args()
    rows = []
    if "tpe" not in args.samplers:  # the default YAML's runs, as bench-quality recorded them
        rows += [
            {"sampler": "tpe", **r}
            for r in load_json("experiments/quality") or []
            if r["task"] in args.tasks and r["seed"] in args.seeds
        ]
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in args.samplers:
            spaces = spaces_with(sampler, Path(tmp) / sampler)
            for task in args.tasks:
                for seed in args.seeds:
                    store = Path(tmp) / f"store-{sampler}-{task}-{seed}"
                    run = tune_subprocess(task, seed, store, spaces=spaces)
                    rows.append({"sampler": sampler, **run})
                    print(sampler, task, seed, run["best_val"], run["test"], flush=True)
                    save_json("experiments/sampler", rows)
    lines = [
        "# TPE against random sampling at an equal trial budget",
        "",
        f"{now()} · {machine()}",
        "Command: `python bench/experiments/sampler.py "
        f"--tasks {' '.join(args.tasks)} --seeds {' '.join(map(str, args.seeds))}`",
        "",
        "| task | sampler | best validation value (mean over seeds) | per seed | test (mean) |",
        "|---|---|---|---|---|",
    ]
    for task in args.tasks:
        for sampler in ("tpe", "random"):
            done = [r for r in rows if r["task"] == task and r["sampler"] == sampler and r["ok"]]
            best = [r["best_val"] for r in done]
            test = [next(iter(r["test"].values())) for r in done]
            lines.append(
                f"| {task} | {sampler} | {statistics.mean(best):.4f} | "
                f"{', '.join(f'{v:.4f}' for v in best)} | {statistics.mean(test):.4f} |"
            )
    write_report("experiments/sampler.md", lines)


if __name__ == "__main__":
    main()
