"""The command line's arguments: `sweepflow tune|worker|retrain|schedule|serve|dashboard|…`."""

from __future__ import annotations

import argparse

from sweepflow.environment import DEFAULT_SPACES_DIR, STORAGE_ENV
from sweepflow.model.backend import BACKENDS
from sweepflow.store.layout import DEFAULT_STORE


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    parser = argparse.ArgumentParser(
        prog="sweepflow", description="Tune, track and register small Keras networks."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tune = sub.add_parser("tune", help="tune, track and register one or more tasks")
    tune.add_argument(
        "tasks",
        nargs="*",
        default=["default"],
        help="task names or YAML paths ('default': one task of each kind, offline)",
    )
    tune.add_argument("--trials", type=int, help="override the YAML's trial budget")
    tune.add_argument("--engine", help="override the YAML's engine")
    tune.add_argument("--seed", type=int, help="override the YAML's search seed")
    tune.add_argument("--store", default=str(DEFAULT_STORE), help="MLflow + Optuna store folder")
    tune.add_argument(
        "--data-dir", help="local data folder (default $SWEEPFLOW_DATA_DIR or ./data)"
    )
    tune.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR), help="task YAML folder")
    tune.add_argument("--verbose", type=int, default=0, help="Keras epoch output (0, 1 or 2)")
    tune.add_argument(
        "--workers", type=int, default=1, help="processes on the study (this one + n-1 workers)"
    )
    backend_arg(tune)
    storage_args(tune)
    work = sub.add_parser("worker", help="one more worker process on a task's running search")
    work.add_argument("task")
    work.add_argument("--store", default=str(DEFAULT_STORE))
    work.add_argument("--data-dir")
    work.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR))
    work.add_argument("--worker-id", type=int, help="distinct per worker (default: from the pid)")
    work.add_argument("--wait", type=float, default=600, help="seconds to wait for the search")
    work.add_argument("--verbose", type=int, default=0)
    work.add_argument("--threads", type=int, help="backend threads (default $SWEEPFLOW_THREADS)")
    backend_arg(work)
    storage_args(work)
    again = sub.add_parser("retrain", help="retrain champions; promote only really better ones")
    again.add_argument("tasks", nargs="+")
    again.add_argument("--store", default=str(DEFAULT_STORE))
    again.add_argument("--data-dir")
    again.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR))
    backend_arg(again)
    plan = sub.add_parser("schedule", help="create a scheduled retrain deployment (needs a server)")
    plan.add_argument("task")
    plan.add_argument("--cron", required=True, help='e.g. "0 3 * * 1" (Mondays 03:00)')
    plan.add_argument("--store", default=str(DEFAULT_STORE))
    plan.add_argument("--data-dir")
    plan.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR))
    runner = sub.add_parser("serve", help="run the scheduled retrain deployments (blocks)")
    runner.add_argument("--store", default=str(DEFAULT_STORE))
    dash = sub.add_parser("dashboard", help="optuna-dashboard over a task's study (127.0.0.1)")
    dash.add_argument("task")
    dash.add_argument("--store", default=str(DEFAULT_STORE))
    dash.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR))
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8080)
    storage_args(dash)
    tasks = sub.add_parser("tasks", help="list the known tasks")
    tasks.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR))
    check = sub.add_parser(
        "validate", help="check task YAMLs and open their data (no training, no TensorFlow)"
    )
    check.add_argument("tasks", nargs="+")
    check.add_argument("--spaces", default=str(DEFAULT_SPACES_DIR))
    check.add_argument("--data-dir", help="local data folder (default $SWEEPFLOW_DATA_DIR)")
    return parser


def backend_arg(parser: argparse.ArgumentParser) -> None:
    """The Keras backend option (its default: $SWEEPFLOW_BACKEND, $KERAS_BACKEND, tensorflow)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras 3 backend (default $SWEEPFLOW_BACKEND or $KERAS_BACKEND, else tensorflow)",
    )


def storage_args(parser: argparse.ArgumentParser) -> None:
    """Options that point a command at shared databases."""
    parser.add_argument(
        "--storage", help=f"Optuna storage URL, e.g. postgresql://… (default ${STORAGE_ENV})"
    )
    parser.add_argument(
        "--tracking-uri", help="MLflow tracking server or database (default $MLFLOW_TRACKING_URI)"
    )
