"""The Keras backend the process runs on, imported once and quietly."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator

from sweepflow.errors import SweepflowError

# Keras 3 backends: name → (module that must import, the pip extra that installs it)
BACKENDS = ("tensorflow", "jax", "torch")
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def choose_backend(explicit: str | None = None) -> str:
    """The backend for this process: --backend, else $SWEEPFLOW_BACKEND, else $KERAS_BACKEND,
    else tensorflow. Sets KERAS_BACKEND (before Keras is imported); refuses one not installed."""
    name = explicit or os.environ.get("SWEEPFLOW_BACKEND") or os.environ.get("KERAS_BACKEND")
    name = (name or "tensorflow").strip().lower()
    if name not in BACKENDS:
        raise SweepflowError(
            f"backend '{name}' (--backend / SWEEPFLOW_BACKEND / KERAS_BACKEND) is not one of "
            f"{', '.join(BACKENDS)}"
        )
    if importlib.util.find_spec(_MODULES[name]) is None:
        raise SweepflowError(
            f"backend '{name}' is not installed in {sys.prefix}; `make install-{name}` "
            f"(or pip install '.[{name}]') adds it"
        )
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != name:
        raise SweepflowError(
            f"Keras is already imported here with the {keras.backend.backend()} backend, not "
            f"'{name}'; choose the backend before anything imports Keras"
        )
    os.environ["KERAS_BACKEND"] = name
    return name


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: C++ libraries write there before any logger exists."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_backend(verbose: int = 0) -> str:
    """Import Keras and its backend once, without TensorFlow's absl/oneDNN start-up lines.

    TensorFlow prints "All log messages before absl::InitializeLog()" and the oneDNN notice once
    per native library it loads (twice per process) straight to file descriptor 2, where neither
    TF_CPP_MIN_LOG_LEVEL nor Python's logging reach. An import error still surfaces: it is raised
    after stderr is restored. `verbose` keeps them.
    """
    if "keras" in sys.modules or verbose:
        import keras
    else:
        with _native_stderr_silenced():
            import keras
    return str(keras.backend.backend())
