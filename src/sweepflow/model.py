"""What one trial does: build a Dense network from a plain dict of params and train it."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from sweepflow.space import unit_names

# The head, loss and metrics each kind of task dictates.
HEADS: dict[str, tuple[str | None, str]] = {
    "regression": (None, "mse"),
    "binary": ("sigmoid", "binary_crossentropy"),
    "multiclass": ("softmax", "sparse_categorical_crossentropy"),
}


@dataclass(frozen=True)
class ModelSpec:
    """What the data dictates about the network: input width, task kind and output units."""

    kind: str
    n_features: int
    n_outputs: int = 1


@dataclass
class FitResult:
    """The outcome of one training run."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int  # 1-based epoch with the lowest val_loss (its weights are restored)
    failed_reason: str | None = None

    first_epoch: int = 1  # epoch number of history[...][0] (> 1 when continuing a run)

    def metrics_at_best(self) -> dict[str, float]:
        """Every logged metric at the best epoch."""
        i = self.best_epoch - self.first_epoch
        return {k: float(v[i]) for k, v in self.history.items() if i < len(v)}


def metric_objects(kind: str) -> list[Any]:
    """The metrics compiled into a model of this kind."""
    if kind == "regression":
        return ["mae"]
    if kind == "binary":
        return ["accuracy", keras.metrics.AUC(name="auc")]
    return ["accuracy"]


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """An optimizer by name (adam, rmsprop, sgd)."""
    classes = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; use one of {sorted(classes)}")
    return classes[name](learning_rate=learning_rate)


def layer_units(params: dict[str, Any]) -> list[int]:
    """The hidden-layer widths a params dict describes (units_1…units_n, or one `units` for all)."""
    n = int(params["layers"])
    return [int(params.get(key, params.get("units", 0))) for key in unit_names(n)]


def build_model(params: dict[str, Any], spec: ModelSpec) -> keras.Model:
    """A compiled Sequential of relu Dense layers (+ dropout) and the kind's head."""
    activation, loss = HEADS[spec.kind]
    dropout = float(params.get("dropout", 0.0))
    model = keras.Sequential(name="sweepflow_dense")
    model.add(keras.Input(shape=(spec.n_features,), dtype="float32"))
    for i, units in enumerate(layer_units(params), start=1):
        model.add(keras.layers.Dense(units, activation="relu", name=f"hidden_{i}"))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout, name=f"dropout_{i}"))
    model.add(keras.layers.Dense(spec.n_outputs, activation=activation, name="head"))
    model.compile(
        optimizer=make_optimizer(str(params["optimizer"]), float(params["learning_rate"])),
        loss=loss,
        metrics=metric_objects(spec.kind),
    )
    return model


def fresh_state(seed: int) -> None:
    """Clear Keras' global state and seed Python, NumPy and the backend for one trial."""
    keras.backend.clear_session(free_memory=True)
    keras.utils.set_random_seed(seed)


def fit(
    model: keras.Model,
    params: dict[str, Any],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    patience: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
    epochs: int | None = None,
    verbose: int = 0,
) -> FitResult:
    """Train with early stopping on val_loss (best weights restored); NaN loss ends the run."""
    own: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN()]
    if validation is not None:
        own.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    history = model.fit(
        train[0],
        train[1],
        validation_data=validation,
        epochs=int(epochs or params["epochs"]),
        batch_size=int(params["batch_size"]),
        callbacks=own + list(callbacks or []),
        verbose=verbose,
    ).history
    return summarize_history(history)


def summarize_history(history: dict[str, list[Any]], initial_epoch: int = 0) -> FitResult:
    """Epochs run, the best (lowest val_loss) epoch and divergence, from a Keras history.

    `initial_epoch` offsets epoch numbers for runs that continue an earlier one (Hyperband).
    """
    history = {k: [float(v) for v in vals] for k, vals in history.items()}
    losses = history.get("loss", [])
    epochs_run = initial_epoch + len(losses)
    failed = None
    if any(not math.isfinite(v) for v in losses):
        failed = f"loss became {losses[-1]} at epoch {epochs_run} (diverged)"
    watch = history.get("val_loss") or losses
    finite = [v if math.isfinite(v) else math.inf for v in watch]
    best_epoch = initial_epoch + int(np.argmin(finite)) + 1 if finite else 0
    return FitResult(history, epochs_run, best_epoch, failed, first_epoch=initial_epoch + 1)


def configure_devices() -> str:
    """Turn on GPU memory growth where there are GPUs; describe the device used."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices from predict() on fresh models
    threads = int(os.environ.get("SWEEPFLOW_THREADS", 0))
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
