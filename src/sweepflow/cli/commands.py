"""Command line: `sweepflow tune|tasks|validate` (the Makefile wraps it)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sweepflow import interrupts
from sweepflow.cli.console import quiet_echoes, quiet_user_errors
from sweepflow.cli.parser import build_parser
from sweepflow.cli.tasks import check_data, load_all, task_table
from sweepflow.config.task import load_task
from sweepflow.environment import (
    STORAGE_ENV,
    TRACKING_ENV,
    adopt_user_tracking_uri,
    check_environment,
    configure_environment,
)
from sweepflow.errors import SweepflowError
from sweepflow.model.backend import choose_backend, import_backend
from sweepflow.prefect_server import prefect_api
from sweepflow.search.workers import WorkerPool, threads_per_worker
from sweepflow.store.checks import check_study_kept, init_shared_stores
from sweepflow.store.layout import (
    LOCKED_HINT,
    Store,
    is_locked_error,
    redact,
    store_lock,
)

if TYPE_CHECKING:
    from sweepflow.command import Command


def _open_store(path: str, args: argparse.Namespace | None = None) -> Store:
    """Create the store (or fail early), and set the environment the stack reads on import.

    Shared databases travel in the environment, never as flow parameters (no password is ever
    recorded by Prefect).
    """
    choose_backend(getattr(args, "backend", None))  # before anything is written
    if args is not None and getattr(args, "storage", None):
        os.environ[STORAGE_ENV] = args.storage
    if args is not None and getattr(args, "tracking_uri", None):
        os.environ[TRACKING_ENV] = args.tracking_uri
    store = Store.from_env(Path(path))
    store.ensure()
    configure_environment(store.root)
    import_backend(getattr(args, "verbose", 0))  # the store's modules import Keras
    with store_lock(store):  # one process at a time creates (or migrates) the databases
        init_shared_stores(store)
    logging.getLogger("sweepflow").setLevel(logging.INFO)
    return store


def _open_command(args: argparse.Namespace) -> Command:
    """The store (opened as above), its tracker and the run settings: built once per command."""
    store = _open_store(args.store, args)
    from sweepflow.command import Command  # imports MLflow and Keras: once the store is set

    verbose = getattr(args, "verbose", 0)
    return Command(store, args.data_dir, verbose=verbose, threads=_threads(args))


def _threads(args: argparse.Namespace) -> int:
    """Backend threads per process: the cores split among workers, else --threads, else
    $SWEEPFLOW_THREADS (checked at start-up), else 0 (all cores)."""
    if getattr(args, "workers", 1) > 1:
        return threads_per_worker(args.workers)
    if getattr(args, "threads", None) is not None:
        return int(args.threads)
    return int(float(os.environ.get("SWEEPFLOW_THREADS") or 0))


def _print_summary(title: str, reports: list) -> None:
    print(f"\n{title}")
    for report in reports:
        print("  " + report.line())


def _tune(args: argparse.Namespace) -> int:
    if args.trials is not None and args.trials < 1:
        raise SweepflowError(f"--trials must be ≥ 1, got {args.trials}")
    if args.workers < 1:
        raise SweepflowError(f"--workers must be ≥ 1, got {args.workers}")
    configs = load_all(
        args.tasks, Path(args.spaces), trials=args.trials, engine=args.engine, seed=args.seed
    )
    if args.workers > 1:
        for cfg in configs:
            if cfg.search.engine != "optuna":
                raise SweepflowError(
                    f"{cfg.source_file}: field 'search.engine': workers > 1 need the optuna engine"
                )
    check_data(configs, args.data_dir)  # the data fits the task: before anything is written
    command = _open_command(args)
    check_study_kept(command.store, configs)  # a lost study is never silently started again
    with prefect_api() as ready:
        from flows.tune import tune  # imports Prefect, TensorFlow: only once the input is valid

        quiet_user_errors()
        if not args.verbose:
            quiet_echoes()  # again: importing Prefect sets up its loggers anew
        ready()
        reports = []
        for cfg in configs:
            with WorkerPool(cfg, args, args.workers - 1, command.threads):
                reports.append(tune(cfg, command))
    _print_summary("sweepflow summary", reports)
    print(
        "Browse them: make ui  (MLflow on http://127.0.0.1:5000, store "
        f"{redact(command.store.mlflow_uri)})"
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    cfg = load_task(args.task, Path(args.spaces))
    command = _open_command(args)
    from sweepflow.data.prepare import prepare
    from sweepflow.tune import stage_size, stage_work

    worker = args.worker_id if args.worker_id is not None else 1 + os.getpid() % 9973
    data = prepare(cfg, command.data_dir)
    cfg = stage_size(cfg, data)
    ran = stage_work(cfg, data, command, worker, args.wait)
    print(f"worker {worker}: ran {ran} trial(s) of {cfg.name}; the search's budget is spent")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    configs = load_all(args.tasks, Path(args.spaces))
    command = _open_command(args)
    with prefect_api() as ready:
        from flows.retrain import retrain

        quiet_user_errors()
        ready()
        reports = [retrain(cfg, command) for cfg in configs]
    _print_summary("sweepflow retrain summary", reports)
    return 0


def _schedule(args: argparse.Namespace) -> int:
    cfg = load_task(args.task, Path(args.spaces))
    store = _open_store(args.store)
    from flows.schedule import schedule_retrain

    deployment_id = schedule_retrain(cfg.source_file, args.cron, store, args.data_dir, args.spaces)
    print(
        f"scheduled retrain of {cfg.name} at '{args.cron}' (deployment {deployment_id}); "
        "`make serve` runs it"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    store = _open_store(args.store)
    from flows.schedule import serve_scheduled

    quiet_user_errors()
    serve_scheduled(store)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    name = load_task(args.task, Path(args.spaces)).name
    store = _open_store(args.store, args)
    import optuna
    import optuna_dashboard

    missing = store.optuna_storage is None and not (store.root / "optuna.db").is_file()
    try:
        if missing:
            raise KeyError(name)
        storage = optuna.storages.RDBStorage(store.study_storage)
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        raise SweepflowError(
            f"no study '{name}' in {redact(store.study_storage)}; run `make tune TASK={name}`"
        ) from None
    print(f"study '{name}': http://{args.host}:{args.port}/dashboard/studies/{study_id}")
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    adopt_user_tracking_uri()
    interrupts.clear()  # SIGTERM and SIGHUP close the running trial like Ctrl-C does
    signal.signal(signal.SIGTERM, interrupts.handle)
    signal.signal(signal.SIGHUP, interrupts.handle)  # terminal closed, supervisor hang-up
    if not getattr(args, "verbose", 0):
        quiet_echoes()  # before the store opens: its schema creation is one of the echoes
    try:
        check_environment()
        if args.command == "tune":
            return _tune(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "retrain":
            return _retrain(args)
        if args.command == "schedule":
            return _schedule(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "dashboard":
            return _dashboard(args)
        if args.command == "tasks":
            print(task_table(Path(args.spaces)))
            return 0
        configs = load_all(args.tasks, Path(args.spaces))
        for cfg, summary in zip(configs, check_data(configs, args.data_dir), strict=True):
            budget = "default space and budget" if cfg.auto else f"{cfg.search.trials} trials"
            print(f"ok: {cfg.source_file} ({cfg.kind}, {cfg.objective}, {budget}) — {summary}")
        return 0
    except SweepflowError as exc:
        print(f"sweepflow: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not is_locked_error(exc):
            raise
        print(f"sweepflow: error: {LOCKED_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "sweepflow: interrupted; run the same command again to resume the study",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
