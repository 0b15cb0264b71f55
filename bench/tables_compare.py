"""Two `bench/tables.py` result files side by side: differences split seed by split seed."""

from __future__ import annotations

import statistics

HEADLINE = {"regression": ("test_mae", False), "binary": ("test_accuracy", True)}
HEADLINE["multiclass"] = HEADLINE["binary"]
SECOND = {"regression": ("test_rmse", False), "binary": ("test_roc_auc", True)}


def paired(rows: list[dict], base: list[dict], table: str) -> list[tuple[dict, dict]]:
    """(this run, the other) for each split seed both finished on `table`."""
    return [
        (r, b)
        for r in rows
        for b in base
        if r["table"] == b["table"] == table and r["seed"] == b["seed"]
        if r.get("ok") and b.get("ok")
    ]


def deltas(pairs: list[tuple[dict, dict]], metric: str, higher: bool) -> list[str]:
    """Cells: the metric, its mean difference, and better / worse / level pair by pair."""
    if not all(metric in side["metrics"] for pair in pairs for side in pair):
        return [metric, "—", "—"]
    diffs = [r["metrics"][metric] - b["metrics"][metric] for r, b in pairs]
    sign = 1 if higher else -1
    better = sum(sign * d > 1e-12 for d in diffs)
    worse = sum(sign * d < -1e-12 for d in diffs)
    level = len(diffs) - better - worse
    return [metric, f"{statistics.mean(diffs):+.4f}", f"{better} / {worse} / {level}"]


def compare(rows: list[dict], base: list[dict], name: str, against: str) -> list[str]:
    """Markdown: per table, this run's metrics minus `against`'s, paired by split seed."""
    lines = [
        "",
        f"## {name} against {against}, seed by seed",
        "",
        "Δ = this run − the other (MAE, RMSE: negative is better; accuracy, AUC: positive).",
        "",
        "| table | metric | Δ mean | better / worse / level | metric 2 | Δ mean "
        "| better / worse / level | best CV/val: here, there | trials: here, there | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for table in sorted({r["table"] for r in rows}):
        pairs = paired(rows, base, table)
        if not pairs:
            continue
        kind = table.rsplit("_", 1)[1]
        cells = deltas(pairs, *HEADLINE[kind])
        cells += deltas(pairs, *SECOND[kind]) if kind in SECOND else ["—", "—", "—"]
        for key, digits in (("best_value", 4), ("session_trials", 0)):
            here, there = (statistics.mean(p[i]["metrics"][key] for p in pairs) for i in (0, 1))
            cells.append(f"{here:.{digits}f}, {there:.{digits}f}")
        lines.append(f"| {table} | " + " | ".join(cells) + f" | {len(pairs)} |")
    return lines
