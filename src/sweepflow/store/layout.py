"""Store and data locations, and the process environment the stack needs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sweepflow.environment import STORAGE_ENV, STORAGE_FILE_ENV, TRACKING_ENV
from sweepflow.errors import SweepflowError

DEFAULT_STORE = Path("mlruns")
MIN_FREE_MB = 200  # refuse to start a search with less free disk in the store


@dataclass(frozen=True)
class Store:
    """Where one installation keeps its MLflow database, artifacts and Optuna study."""

    root: Path = DEFAULT_STORE
    # override the SQLite defaults (an MLflow server, postgresql://…); kept out of reprs
    tracking_uri: str | None = field(default=None, repr=False)
    optuna_storage: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, root: str | Path = DEFAULT_STORE) -> Store:
        """The store at `root`, with shared databases taken from $SWEEPFLOW_STORAGE and
        $SWEEPFLOW_TRACKING_URI when they are set."""
        return cls(
            Path(root),
            tracking_uri=os.environ.get(TRACKING_ENV) or None,
            optuna_storage=os.environ.get(STORAGE_ENV) or storage_from_file(),
        )

    @property
    def remote_tracking(self) -> bool:
        """True when MLflow is a tracking server (it decides where artifacts go)."""
        return bool(self.tracking_uri) and self.tracking_uri.startswith(("http://", "https://"))

    @property
    def mlflow_uri(self) -> str:
        """The MLflow tracking URI: an explicit one, else SQLite inside the store."""
        return self.tracking_uri or f"sqlite:///{self.root.resolve() / 'mlflow.db'}"

    @property
    def study_storage(self) -> str:
        """The Optuna storage URL: an explicit one, else SQLite inside the store."""
        return self.optuna_storage or f"sqlite:///{self.root.resolve() / 'optuna.db'}"

    @property
    def artifact_root(self) -> Path:
        """Folder that holds the runs' artifacts (plots, models)."""
        return self.root.resolve() / "artifacts"

    def ensure(self) -> None:
        """Create the store folder, or fail early and clearly when it is not writable."""
        try:
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"  # one per process: no race
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise SweepflowError(
                f"store folder '{self.root}' is not writable ({exc.strerror}); "
                "pass --store with a writable folder"
            ) from None
        free_mb = shutil.disk_usage(self.root).free // 2**20
        need = int(float(os.environ.get("SWEEPFLOW_MIN_FREE_MB") or MIN_FREE_MB))
        if free_mb < need:
            raise SweepflowError(
                f"store folder '{self.root}' has only {free_mb} MB free (need {need} MB for runs, "
                "models and studies); free some disk or pass --store on another disk"
            )

    def fault(self) -> str | None:
        """Why the store no longer takes writes (read-only, full, corrupt), or None if it does.

        Asked after a stage failed: the libraries' own errors from deep inside a write are many
        and vary, the store's state is one question.
        """
        probe = self.root / f".write-test-{os.getpid()}"
        try:
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            return f"its folder cannot be written ({exc.strerror})"
        free_mb = shutil.disk_usage(self.root).free // 2**20
        if free_mb < 1:
            return "its disk is full"
        for url in (self.mlflow_uri, self.study_storage):
            if not url.startswith("sqlite:///"):
                continue
            db = Path(url.removeprefix("sqlite:///"))
            try:
                with contextlib.closing(sqlite3.connect(db, timeout=1)) as con:
                    con.execute("pragma quick_check").fetchall()
                    con.execute("begin immediate")
                    con.execute("rollback")
            except sqlite3.Error as exc:
                if "locked" in str(exc):
                    continue  # busy, not broken
                return f"{db} cannot be written ({exc})"
        return None


def store_fault_error(store: Store, reason: str) -> SweepflowError:
    """The one line for a store that broke during a run, with what to do."""
    return SweepflowError(
        f"the store {store.root} stopped taking writes during the run: {reason}; make it "
        "writable again (permissions, `chattr -i`, a read-only mount, free space) or restore a "
        "corrupt database from a backup, then run the same command: finished trials are kept "
        "and the search resumes"
    )


def storage_from_file() -> str | None:
    """The Optuna storage URL kept in the file $SWEEPFLOW_STORAGE_FILE (no password on any
    command line or in the environment of `ps e`), or None when the variable is unset."""
    name = os.environ.get(STORAGE_FILE_ENV)
    if not name:
        return None
    try:
        url = Path(name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepflowError(
            f"{STORAGE_FILE_ENV}={name}: cannot read the storage URL file ({exc}); "
            "point it at a readable file holding one URL"
        ) from None
    if not url or len(url.splitlines()) != 1:
        raise SweepflowError(
            f"{STORAGE_FILE_ENV}={name}: the file must hold exactly one storage URL "
            "(e.g. postgresql://user:password@host/db)"
        )
    return url


@contextmanager
def store_lock(store: Store, name: str = ".init.lock") -> Iterator[None]:
    """An exclusive lock beside the store (`.init.lock`) while its databases are created.

    MLflow's and Optuna's schema creation and migrations are not safe when two processes open
    a fresh store at once (MLflow's alembic run fails and leaves `_alembic_tmp_*` tables that
    break every later run); whoever holds the lock creates them, the others find them made.
    """
    store.root.mkdir(parents=True, exist_ok=True)
    with open(store.root / name, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def redact(url: str) -> str:
    """A storage URL with any password replaced by ***, safe to log."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)


def store_error(
    what: str, url: str, exc: BaseException, hint: str, line: int = 0
) -> SweepflowError:
    """One clear error for a store that cannot be opened: `line` of the reason, passwords out."""
    text = str(exc).strip()
    reason = redact(text.splitlines()[line]) if text else type(exc).__name__
    return SweepflowError(f"cannot open {what} {redact(url)}: {reason}; {hint}")


LOCKED_HINT = (
    "the SQLite store is locked by other writers (SQLite allows one writer at a time, on one "
    "machine); for several workers put the study in PostgreSQL: "
    "STORAGE=postgresql://user@host/db (see docs/workers.md)"
)


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLite's 'database is locked' error, however deep a library wrapped it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if "database is locked" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
