"""Store checks before anything is written: half-done migrations, dead servers, lost studies."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from sweepflow.config.task import TaskConfig
from sweepflow.store.layout import Store


def leftover_migration(db: Path) -> str | None:
    """The repair for tables an interrupted schema migration left in a SQLite file, if any.

    Alembic migrates a SQLite table by copying it into `_alembic_tmp_<name>`, dropping the
    original and renaming the copy; cut off in between, the copy stays and every later migration
    fails with "table _alembic_tmp_<name> already exists".
    """
    if not db.is_file() or db.stat().st_size == 0:
        return None
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        names = {row[0] for row in con.execute("select name from sqlite_master where type='table'")}
    steps = []
    for tmp in sorted(n for n in names if n.startswith("_alembic_tmp_")):
        table = tmp.removeprefix("_alembic_tmp_")
        # the original still there: the copy is a spare; gone: the copy holds the rows
        steps.append(
            f"DROP TABLE {tmp};" if table in names else f"ALTER TABLE {tmp} RENAME TO {table};"
        )
    if not steps:
        return None
    return (
        f"{db} holds what an interrupted schema migration left ({len(steps)} _alembic_tmp_ "
        f'table(s)); back the file up, then repair it with: sqlite3 {db} "{" ".join(steps)}" '
        "and run again (docs/reliability.md: Repairing a store)"
    )


def check_tracking_server(uri: str, seconds: float = 5.0) -> None:
    """Fail in seconds, not after minutes of retries, when no tracking server answers at `uri`."""
    import http.client
    import urllib.error
    import urllib.request

    from sweepflow.errors import SweepflowError
    from sweepflow.store.layout import redact

    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=seconds):  # noqa: S310 (http/https only)
            return
    except urllib.error.HTTPError:
        return  # something answers: a server behind a proxy or with auth says the rest itself
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise SweepflowError(
            f"no MLflow tracking server answers at {redact(uri)} ({reason}); start it "
            "(`mlflow server --host 127.0.0.1 …`) or unset MLFLOW_TRACKING_URI / "
            "SWEEPFLOW_TRACKING_URI to use the SQLite store"
        ) from None


def check_database(what: str, url: str, seconds: int = 5) -> None:
    """Connect once to a PostgreSQL/MySQL store, so a wrong host, database or role fails in
    seconds with the server's own first line, instead of after MLflow's or Optuna's retries."""
    import sqlalchemy

    from sweepflow.errors import SweepflowError
    from sweepflow.store.layout import redact

    if not url.startswith(("postgresql", "mysql")):
        return
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": seconds})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        text = str(getattr(exc, "orig", None) or exc).strip()
        reason = redact(text.splitlines()[0]) if text else type(exc).__name__
        raise SweepflowError(
            f"cannot open {what} {redact(url)}: {reason}; check the URL (host, port, database, "
            "user) and that the database exists (createdb …)"
        ) from None


def init_shared_stores(store: Store) -> None:
    """Create the MLflow and Optuna schemas once, before workers race to create them."""
    from mlflow import MlflowClient

    from sweepflow.errors import SweepflowError
    from sweepflow.store.layout import is_locked_error, store_error
    from sweepflow.store.optuna_storage import make_storage

    for url in (store.mlflow_uri, store.study_storage):
        if url.startswith("sqlite:///") and (repair := leftover_migration(Path(url[10:]))):
            raise SweepflowError(repair)
    if store.remote_tracking:
        check_tracking_server(store.mlflow_uri)
    check_database("the MLflow store", store.mlflow_uri)
    check_database("the Optuna storage", store.study_storage)
    try:
        uri = store.mlflow_uri
        MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
    except Exception as exc:
        if is_locked_error(exc):
            raise
        hint = "check MLFLOW_TRACKING_URI / --tracking-uri"
        raise store_error("the MLflow store", store.mlflow_uri, exc, hint, line=-1) from None
    make_storage(store.study_storage)


def check_study_kept(store: Store, configs: list[TaskConfig]) -> None:
    """Refuse to restart a lost study: MLflow trial runs of a task, but no Optuna study beside them.

    An empty, deleted or replaced optuna.db would otherwise start the study again at trial 0 and
    mix a second trial-0 into the task's MLflow experiment.
    """
    import optuna
    from mlflow import MlflowClient

    from sweepflow.errors import SweepflowError
    from sweepflow.store.layout import redact

    client = MlflowClient(tracking_uri=store.mlflow_uri, registry_uri=store.mlflow_uri)
    studies: set[str] | None = None
    for cfg in configs:
        if cfg.search.engine != "optuna":
            continue
        exp = client.get_experiment_by_name(cfg.name)
        if exp is None or exp.lifecycle_stage != "active":
            continue
        if studies is None:
            studies = set(optuna.get_all_study_names(store.study_storage))
        if cfg.name in studies:
            continue
        trials = client.search_runs(
            [exp.experiment_id], "tags.`sweepflow.role` = 'trial'", max_results=1
        )
        if trials:
            raise SweepflowError(
                f"{redact(store.study_storage)} has no study '{cfg.name}', but MLflow's experiment "
                f"'{cfg.name}' already holds its trial runs: the study was lost (an empty, deleted "
                "or replaced optuna.db). Restore optuna.db from a backup; to start a new study on "
                "purpose, give the task another name (`task:` in its YAML) or use another STORE"
            )
