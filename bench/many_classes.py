"""Peak RSS of a minimal-YAML task on a table with many classes, end to end (issue 17).

    .venv/bin/python bench/many_classes.py [--classes 1000] [--rows 1000]

Writes a synthetic table (`--rows` rows, 20 numeric columns, `--classes` target classes, each
at least once), the four-line YAML for it, and runs `sweepflow tune` on it under
/usr/bin/time -v in a fresh store. Records wall time, peak RSS, the outcome and the evaluation
artifacts' sizes in bench/results/many_classes.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import hardware, load_json, now, save_json, tune_subprocess  # noqa: E402


def main() -> None:
    """Make the table, tune it, save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.arange(args.classes), rng.integers(0, args.classes, args.rows)])
    labels = labels[: max(args.rows, args.classes)]
    frame = pd.DataFrame(rng.normal(size=(len(labels), 20)), columns=[f"x{i}" for i in range(20)])
    frame["y"] = [f"class_{c}" for c in labels]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame.to_csv(folder / "many.csv", index=False)
        task = f"many_classes_{args.classes}"
        spec = {"task": task, "kind": "multiclass"}
        spec["data"] = {"source": "csv", "path": str(folder / "many.csv"), "target": "y"}
        (folder / f"{task}.yaml").write_text(yaml.safe_dump(spec))
        run = tune_subprocess(str(folder / f"{task}.yaml"), 0, folder / "store")
        plots = sorted((folder / "store" / "artifacts").rglob("*.png"))
        run["png_kb"] = {p.name: round(p.stat().st_size / 1024) for p in plots[-4:]}
    results = load_json("many_classes") or {}
    results[f"{args.classes} classes, {len(labels)} rows"] = {
        **run,
        "machine": hardware(),
        "when": now(),
    }
    save_json("many_classes", results)
    print(run)


if __name__ == "__main__":
    main()
