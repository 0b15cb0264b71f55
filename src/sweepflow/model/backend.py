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


def configure_devices(threads: int = 0) -> str:
    """Set up the backend's devices and `threads` (0: all cores); describe the device used."""
    import keras  # here, not at the top: this module chooses the backend before Keras loads

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            return f"GPU x{len(gpus)}: {gpus[0].device_kind} (jax)"
        return f"CPU ({os.cpu_count()} cores, jax)"
    if backend == "torch":
        import torch

        if threads:
            torch.set_num_threads(threads)
        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            return f"GPU x{n}: {torch.cuda.get_device_name(0)} (torch)"
        return f"CPU ({os.cpu_count()} cores, torch)"
    return _configure_tensorflow(threads)


def _configure_tensorflow(threads: int) -> str:
    """TensorFlow: threads per worker, GPU memory growth, quiet retracing notices."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices from predict() on fresh models
    if threads:  # several worker processes share the cores
        with contextlib.suppress(RuntimeError):  # already initialised in this process
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):  # already initialised in this process
            tf.config.experimental.set_memory_growth(gpu, True)
    if gpus:
        names = [
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        ]
        return f"GPU x{len(gpus)}: {', '.join(names)}"
    return f"CPU ({os.cpu_count()} cores)"
