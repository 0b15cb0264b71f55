"""Store and data locations, and the process environment the stack needs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STORE = Path("mlruns")
DEFAULT_DATA_DIR = Path("data")
DEFAULT_SPACES_DIR = Path("search_spaces")

# Settings the stack needs to run offline and quietly; applied before the libraries are imported.
_QUIET_ENV = {
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


@dataclass(frozen=True)
class Store:
    """Where one installation keeps its MLflow database, artifacts and Optuna study."""

    root: Path = DEFAULT_STORE
    tracking_uri: str | None = None  # overrides the SQLite default (e.g. an MLflow server)
    optuna_storage: str | None = None  # overrides the SQLite default (e.g. postgresql://…)

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
        from sweepflow.errors import SweepflowError

        try:
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise SweepflowError(
                f"store folder '{self.root}' is not writable ({exc.strerror}); "
                "pass --store with a writable folder"
            ) from None


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """The local data folder: an explicit one, else $SWEEPFLOW_DATA_DIR, else ./data."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("SWEEPFLOW_DATA_DIR", DEFAULT_DATA_DIR))


def offline() -> bool:
    """True when downloads are forbidden ($SWEEPFLOW_OFFLINE=1): only local files are read."""
    return os.environ.get("SWEEPFLOW_OFFLINE", "").lower() in {"1", "true", "yes"}


def configure_environment(store: Store) -> None:
    """Set the environment the stack reads at import time (call before importing it)."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(store.root.resolve() / "prefect"))


def redact(url: str) -> str:
    """A storage URL with any password replaced by ***, safe to log."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)
