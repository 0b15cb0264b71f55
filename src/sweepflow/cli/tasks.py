"""Loading the tasks a command names, the `tasks` table, and the data check before any write."""

from __future__ import annotations

import json
from pathlib import Path

from sweepflow.config.task import DEFAULT_TASKS, TaskConfig, known_tasks, load_task


def expand(names: list[str]) -> list[str]:
    """`default` stands for the offline tasks of each kind."""
    out: list[str] = []
    for name in names:
        out.extend(DEFAULT_TASKS if name == "default" else [name])
    return out


def load_all(names: list[str], spaces: Path, **overrides: object) -> list[TaskConfig]:
    """Load and validate every task before anything runs."""
    return [load_task(n, spaces).with_overrides(**overrides) for n in expand(names)]


# Measured wall time of one default run per built-in task (make bench-task-times).
TASK_TIMES = Path(__file__).resolve().parents[3] / "bench" / "results" / "task_times.json"


def _rough_time(name: str, times: dict) -> str:
    """'~3 min' from the measured run of a built-in task, '—' for one never measured."""
    wall = times.get(name, {}).get("wall_s")
    if wall is None:
        return "—"
    return f"~{wall:.0f} s" if wall < 90 else f"~{wall / 60:.0f} min"


def task_table(spaces: Path) -> str:
    """The built-in tasks, one line each: kind, data, budget, ranking, final model, rough time."""
    times = json.loads(TASK_TIMES.read_text())["tasks"] if TASK_TIMES.is_file() else {}
    rows = [("task", "kind", "data", "budget", "ranking", "final model", "time (2 cores)")]
    for name in known_tasks(spaces):
        cfg = load_task(name, spaces)
        d = cfg.data
        data = d.path if d.source == "csv" else f"{d.source}:{d.name}"
        budget = "default (sized from the table)" if cfg.auto else f"{cfg.search.trials} trials"
        if cfg.search.timeout:
            budget += f" or {cfg.search.timeout:.0f} s"
        ranking = f"{cfg.cv}-fold CV" if cfg.cv else cfg.objective
        final = (
            f"mean of {cfg.final.ensemble} ({cfg.final.members})" if cfg.final.ensemble > 1 else "1"
        )
        rows.append((name, cfg.kind, str(data), budget, ranking, final, _rough_time(name, times)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def check_data(configs: list[TaskConfig], data_dir: str | None) -> list[str]:
    """Open each task's data (no TensorFlow): target, kind and columns; a summary line each."""
    from sweepflow.data.check import check_task
    from sweepflow.environment import resolve_data_dir

    return [check_task(cfg, resolve_data_dir(data_dir)) for cfg in configs]
