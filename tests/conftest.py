"""Shared fixtures: a quiet offline environment, tiny generated datasets, one Prefect harness."""

from __future__ import annotations

import os

# Before TensorFlow, Keras, MLflow or Prefect are imported anywhere in the test session.
os.environ.update(
    {
        "SWEEPFLOW_OFFLINE": "1",  # tests never download; missing files must give a clear error
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
)

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

# Variables that point sweepflow at other stores. mlflow.set_tracking_uri() exports
# MLFLOW_TRACKING_URI inside this test process, so child processes must not inherit it.
_STORE_VARS = ("MLFLOW_TRACKING_URI", "SWEEPFLOW_TRACKING_URI", "SWEEPFLOW_STORAGE")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child `sweepflow` process: this one's, minus store pointers."""
    env = {k: v for k, v in os.environ.items() if k not in _STORE_VARS}
    env.update(extra)
    return env


SMALL_SPACE = {
    "layers": {"type": "int", "min": 1, "max": 2},
    "units": {"type": "int", "min": 4, "max": 16, "log": True},
    "dropout": {"type": "float", "min": 0.0, "max": 0.2},
    "learning_rate": {"type": "float", "min": 0.005, "max": 0.05, "log": True},
    "optimizer": {"type": "choice", "values": ["adam", "rmsprop"]},
    "batch_size": {"type": "choice", "values": [16, 32]},
    "epochs": 6,
}


def make_table(kind: str, n: int = 160, seed: int = 0) -> pd.DataFrame:
    """A small learnable table: two numerics, one categorical, and a target of the given kind."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    effect = pd.Series(color).map({"red": 1.0, "green": 0.0, "blue": -1.0}).to_numpy()
    signal = 2 * x1 - 0.3 * x2 + effect
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color})
    if kind == "regression":
        frame["y"] = signal + rng.normal(scale=0.1, size=n)
    elif kind == "binary":
        frame["y"] = np.where(signal > np.median(signal), "yes", "no")
    else:
        frame["y"] = pd.cut(signal, 3, labels=["low", "mid", "high"]).astype(str)
    return frame


def write_task(
    folder: Path,
    name: str,
    kind: str,
    frame: pd.DataFrame | None = None,
    overrides: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Write `<name>.csv` and `<name>.yaml` (a CSV task) into `folder`; return the YAML path.

    `data` adds keys to the task's `data:` mapping; `overrides` replaces top-level sections.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (frame if frame is not None else make_table(kind)).to_csv(folder / f"{name}.csv", index=False)
    spec = {
        "task": name,
        "kind": kind,
        "data": {"source": "csv", "path": f"{name}.csv", "target": "y", **(data or {})},
        "search": {"trials": 2, "seed": 1, "pruner": "none"},
        "training": {"patience": 2},
        "space": SMALL_SPACE,
    }
    spec.update(overrides or {})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def _no_store_pointers_between_tests():
    """Each test starts with no store variables (in-process CLI calls and MLflow set them)."""
    for var in _STORE_VARS:
        os.environ.pop(var, None)
    yield
    for var in _STORE_VARS:
        os.environ.pop(var, None)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect database for the whole session (~30 s to create)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
