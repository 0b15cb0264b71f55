"""The Keras backend the process runs on, imported once and quietly."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


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
