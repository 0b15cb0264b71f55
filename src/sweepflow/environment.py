"""The process environment: what the stack reads on import, and sweepflow's own variables."""

from __future__ import annotations

import math
import os
from pathlib import Path

from sweepflow.errors import SweepflowError

# Environment variables that point a store at shared databases (never passed as flow parameters,
# so a password in them is never recorded by Prefect).
STORAGE_ENV = "SWEEPFLOW_STORAGE"  # Optuna storage URL, e.g. postgresql://user:pw@host/db
# MLflow tracking server or database URI. Not MLFLOW_TRACKING_URI itself: mlflow.set_tracking_uri()
# rewrites that variable in-process; the CLI copies the user's value here at start-up.
TRACKING_ENV = "SWEEPFLOW_TRACKING_URI"
STORAGE_FILE_ENV = "SWEEPFLOW_STORAGE_FILE"  # a file holding the Optuna storage URL (chmod 600)

DEFAULT_DATA_DIR = Path("data")


DEFAULT_SPACES_DIR = Path("search_spaces")


# Settings the stack needs to run offline and quietly; applied before the libraries are imported.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",  # only the word `true` works
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's first flow run on a fresh PREFECT_HOME needs ~30 s on 2 cores to create its DB.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "sweepflow",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "KERAS_BACKEND": "tensorflow",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


# Numeric settings read from the environment: name → (lowest allowed value, what it is).
NUMERIC_ENV = {
    "SWEEPFLOW_HEARTBEAT_SECONDS": (1, "seconds between Optuna heartbeats"),
    "SWEEPFLOW_SQLITE_TIMEOUT": (1, "seconds to wait for a locked SQLite store"),
    "SWEEPFLOW_MIN_FREE_MB": (0, "MB of free disk the store needs"),
    "SWEEPFLOW_THREADS": (0, "TensorFlow threads per process (0: all cores)"),
}


def check_environment() -> None:
    """Refuse a numeric SWEEPFLOW_* variable that is not a finite number ≥ its minimum."""
    for name, (low, what) in NUMERIC_ENV.items():
        raw = os.environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low:
            raise SweepflowError(
                f"environment variable {name}={raw!r}: must be a number ≥ {low} ({what}); "
                f"unset it or fix its value"
            )


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """The local data folder: an explicit one, else $SWEEPFLOW_DATA_DIR, else ./data."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("SWEEPFLOW_DATA_DIR", DEFAULT_DATA_DIR))


def offline() -> bool:
    """True when downloads are forbidden ($SWEEPFLOW_OFFLINE=1): only local files are read."""
    return os.environ.get("SWEEPFLOW_OFFLINE", "").lower() in {"1", "true", "yes"}


def adopt_user_tracking_uri() -> None:
    """Take the user's $MLFLOW_TRACKING_URI as the store's tracking URI (call at start-up)."""
    user = os.environ.get("MLFLOW_TRACKING_URI")
    if user and not os.environ.get(TRACKING_ENV):
        os.environ[TRACKING_ENV] = user


def configure_environment(store_root: Path) -> None:
    """Set the environment the stack reads at import time (call before importing it)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(Path(store_root).resolve() / "prefect"))


def sqlite_timeout() -> float:
    """Seconds a SQLite writer waits for a lock ($SWEEPFLOW_SQLITE_TIMEOUT)."""
    return float(os.environ.get("SWEEPFLOW_SQLITE_TIMEOUT") or 60)
