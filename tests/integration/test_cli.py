"""The command line: bad input gives one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import child_env, write_task

REPO = Path(__file__).resolve().parents[2]  # the repository root


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweepflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=child_env(),
    )


def test_tasks_lists_the_builtin_tasks():
    out = cli("tasks")
    assert out.returncode == 0
    assert {"carseats", "imdb", "diabetes"} <= set(out.stdout.split())
    imdb = next(line for line in out.stdout.splitlines() if line.startswith("imdb "))
    assert imdb.split()[1:3] == ["binary", "keras:imdb"] and "trials" in imdb


def test_tasks_rough_time_comes_from_the_measured_run():
    from sweepflow.cli.tasks import _rough_time

    times = {"quick": {"wall_s": 44.6}, "long": {"wall_s": 610.0}}
    assert _rough_time("quick", times) == "~45 s"
    assert _rough_time("long", times) == "~10 min"
    assert _rough_time("never_run", times) == "—"


def test_unknown_task(tmp_path):
    out = cli("tune", "imbd", "--store", str(tmp_path / "s"))
    assert out.returncode == 2
    assert "unknown task 'imbd'" in out.stderr and "imdb" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "s").exists()  # validated before anything is created


def test_invalid_yaml_field(tmp_path):
    path = write_task(
        tmp_path,
        "t",
        "regression",
        overrides={
            "space": {
                "layers": 1,
                "units": 8,
                "learning_rate": 0,
                "optimizer": "adam",
                "batch_size": 8,
                "epochs": 2,
            }
        },
    )
    out = cli("validate", str(path))
    assert out.returncode == 2
    assert f"{path}: field 'space.learning_rate': learning rate must be > 0" in out.stderr
    assert "Traceback" not in out.stderr


def test_dashboard_needs_an_existing_study(tmp_path):
    path = write_task(tmp_path, "nostudy", "binary")
    out = cli("dashboard", str(path), "--store", str(tmp_path / "s"))
    assert out.returncode == 2
    assert "no study 'nostudy'" in out.stderr and "make tune TASK=nostudy" in out.stderr
