"""What one trial does: build a Dense network from a plain dict of params and train it."""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from sweepflow.config.kinds import F1_OBJECTIVES, KINDS
from sweepflow.config.monitor import VAL_LOSS, Monitor
from sweepflow.config.space import unit_names
from sweepflow.data.compact import CompactBatches, Mirrored, is_compact, predict_scores
from sweepflow.model.feed import array_fit_args
from sweepflow.model.metrics import class_weights, validation_scores


@dataclass(frozen=True)
class ModelSpec:
    """What the data dictates about the network: input width, task kind and output units."""

    kind: str
    n_features: int
    n_outputs: int = 1
    target_offset: float = 0.0  # regression: predictions are offset + scale * head
    target_scale: float = 1.0
    # per-input weights applied before the first layer (text nb ratios); None: inputs as they are
    feature_scale: np.ndarray | None = field(default=None, compare=False, repr=False)
    image_shape: tuple[int, int] | None = None  # (height, width) of flattened image inputs


@dataclass
class FitResult:
    """The outcome of one training run."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int  # 1-based epoch with the best monitored value (its weights are restored)
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
        return [
            "accuracy",
            keras.metrics.AUC(name="auc"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
        ]
    return ["accuracy"]


class ValidationScores(keras.callbacks.Callback):
    """Adds val_f1 + val_threshold (binary) or val_macro_f1 (multiclass) to each epoch's logs.

    It runs before early stopping and the pruner, so both can watch these scores.
    """

    def __init__(self, kind: str, x_val: Any, y_val: np.ndarray) -> None:
        super().__init__()
        self.kind, self.x_val, self.y_val = kind, x_val, y_val

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Score the validation rows with the epoch's weights."""
        if logs is not None:
            scores = predict_scores(self.model, self.x_val)
            logs.update(validation_scores(self.kind, self.y_val, scores))


def score_callbacks(
    objective: str | None, validation: tuple[Any, np.ndarray] | None
) -> list[keras.callbacks.Callback]:
    """The validation-scoring callback when the objective is an F1 score (none otherwise)."""
    if validation is None or objective not in F1_OBJECTIVES:
        return []
    kind = "binary" if objective == "val_f1" else "multiclass"
    return [ValidationScores(kind, validation[0], validation[1])]


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


def build_model(
    params: dict[str, Any], spec: ModelSpec, name: str = "sweepflow_dense"
) -> keras.Model:
    """A compiled Sequential of relu Dense layers (+ L2, batch norm, dropout) and the head."""
    activation, loss = KINDS[spec.kind].activation, KINDS[spec.kind].loss
    dropout = float(params.get("dropout", 0.0))
    l2 = float(params.get("l2", 0.0))
    batch_norm = bool(params.get("batch_norm", False))
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=(spec.n_features,), dtype="float32"))
    if spec.feature_scale is not None:  # a constant inside the saved model: serving needs it too
        model.add(keras.layers.Rescaling(spec.feature_scale, name="feature_scale"))
    for i, units in enumerate(layer_units(params), start=1):
        model.add(
            keras.layers.Dense(
                units,
                activation=None if batch_norm else "relu",
                kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
                name=f"hidden_{i}",
            )
        )
        if batch_norm:  # Dense → BatchNorm → relu
            model.add(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
            model.add(keras.layers.Activation("relu", name=f"relu_{i}"))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout, name=f"dropout_{i}"))
    # with no hidden layer the head is a linear / logistic model: the L2 penalty moves to it
    head_l2 = keras.regularizers.L2(l2) if l2 > 0 and not layer_units(params) else None
    model.add(
        keras.layers.Dense(
            spec.n_outputs, activation=activation, kernel_regularizer=head_l2, name="head"
        )
    )
    if spec.kind == "regression" and (spec.target_offset, spec.target_scale) != (0.0, 1.0):
        # The head learns standardised targets; the loss and metrics stay in the target's units.
        model.add(
            keras.layers.Rescaling(spec.target_scale, spec.target_offset, name="target_scale")
        )
    model.compile(
        optimizer=make_optimizer(str(params["optimizer"]), float(params["learning_rate"])),
        loss=loss,
        metrics=metric_objects(spec.kind),
    )
    # Optimizer slots created now, eagerly: created lazily inside the first traced step, each
    # slot leaves a small initialisation graph that TensorFlow keeps for the process's life.
    model.optimizer.build(model.trainable_variables)
    return model


def average_model(members: list[keras.Model], spec: ModelSpec) -> keras.Model:
    """One Keras model whose output is the mean of the members' outputs (mean probabilities)."""
    if len(members) == 1:
        return members[0]
    features = keras.Input(shape=(spec.n_features,), dtype="float32", name="features")
    mean = keras.layers.Average(name="ensemble_mean")([m(features) for m in members])
    return keras.Model(features, mean, name="sweepflow_ensemble")


def fresh_state(seed: int) -> None:
    """Clear Keras' global state and seed Python, NumPy and the backend for one trial."""
    keras.backend.clear_session(free_memory=False)
    release_traced_gradients()
    gc.collect()
    keras.utils.set_random_seed(seed)


_GRADIENT_BASELINE: set[str] | None = None


def release_traced_gradients() -> int:
    """Forget the custom gradients earlier trials' train steps registered; return how many.

    Keras' TensorFlow optimizer all-reduces the gradients even with no distribution strategy,
    and each trace of a train step registers a `CustomGradient-<n>` in TensorFlow's global
    gradient registry, never removed: its closure keeps the whole traced step (FuncGraph)
    alive, ~2-4 MB per trial. Entries that existed before sweepflow's first trial are kept.
    """
    global _GRADIENT_BASELINE
    if keras.backend.backend() != "tensorflow":
        return 0
    from tensorflow.python.framework import ops  # private: the registry has no public API

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):
        return 0
    if _GRADIENT_BASELINE is None:
        _GRADIENT_BASELINE = set(registry)
        return 0
    stale = [k for k in registry if k.startswith("CustomGradient-") and k not in _GRADIENT_BASELINE]
    for key in stale:
        del registry[key]
    return len(stale)


def lr_decay_callbacks(params: dict[str, Any]) -> list[keras.callbacks.Callback]:
    """Per-epoch learning-rate decay, lr × lr_decay^epoch, when the params ask for it.

    Per epoch rather than per step, so a trial and the final retrain (on more rows, hence
    more steps per epoch) follow the same schedule; independent of the epoch budget, so early
    stopping does not cut a schedule short.
    """
    decay = float(params.get("lr_decay", 1.0))
    if decay >= 1.0:
        return []
    lr0 = float(params["learning_rate"])

    def schedule(epoch: int, _lr: float) -> float:
        return float(lr0 * decay ** int(epoch))  # a plain float: Keras refuses NumPy scalars

    return [keras.callbacks.LearningRateScheduler(schedule)]


def stopping_callbacks(
    params: dict[str, Any], patience: int | None, monitor: Monitor = VAL_LOSS
) -> list[keras.callbacks.Callback]:
    """NaN guard, the params' lr decay and (with a patience) early stopping on `monitor`."""
    own: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN()]
    own += lr_decay_callbacks(params)
    if patience is not None:
        own.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor.name,
                mode=monitor.mode,
                patience=patience,
                restore_best_weights=True,
            )
        )
    return own


def fit(
    model: keras.Model,
    params: dict[str, Any],
    train: tuple[Any, Any],
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    patience: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
    epochs: int | None = None,
    verbose: int = 0,
    monitor: Monitor = VAL_LOSS,
    objective: str | None = None,
    image_shape: tuple[int, int] | None = None,
) -> FitResult:
    """Train with early stopping on `monitor` (best weights restored); NaN loss ends the run.

    `train` may hold lists of row blocks (train + val for the final model, never concatenated);
    compact (uint8/bool) inputs are fed through `CompactBatches`. An F1 `objective` is scored
    on the validation rows each epoch; `class_weight: balanced` in params weights the loss.
    `mirror: true` in params (images of `image_shape`) trains each epoch on every image and its
    left-right mirror, flipped batch by batch (no copy).
    """
    own = score_callbacks(objective, validation)
    own += stopping_callbacks(params, patience if validation is not None else None, monitor)
    batch_size = int(params["batch_size"])
    run: dict[str, Any] = {
        "epochs": int(epochs or params["epochs"]),
        "callbacks": own + list(callbacks or []),
    }
    xs, ys = train
    prebuild(model, xs, ys)
    weights = fit_class_weights(params, ys)
    if weights:
        run["class_weight"] = weights
    mirror = bool(params.get("mirror", False))
    if mirror or is_compact(xs):
        blocks = (list(xs), list(ys)) if isinstance(xs, list | tuple) else ([xs], [ys])
        if mirror:
            blocks = mirrored_blocks(*blocks, image_shape)
        val = None
        if validation is not None:
            val = CompactBatches([validation[0]], [validation[1]], batch_size, shuffle=False)
        history = model.fit(
            CompactBatches(*blocks, batch_size, shuffle=True),
            validation_data=val,
            verbose=verbose,
            **run,
        ).history
    else:
        if isinstance(xs, list | tuple):
            xs, ys = np.concatenate(xs), np.concatenate(ys)
        feed = array_fit_args(xs, ys, validation, batch_size)
        history = model.fit(**feed, verbose=verbose, **run).history
    return summarize_history(history, monitor=monitor)


def mirrored_blocks(
    xs: list[Any], ys: list[Any], image_shape: tuple[int, int] | None
) -> tuple[list[Any], list[Any]]:
    """Row blocks plus, for each, a view of its flattened images mirrored left-right."""
    if image_shape is None:
        raise ValueError("mirror: true needs image inputs (their height and width)")
    return xs + [Mirrored(x, image_shape) for x in xs], ys + ys


def prebuild(model: keras.Model, xs: Any, ys: Any) -> None:
    """Create the compiled loss' and metrics' variables now, from the first row (TensorFlow).

    With no distribution strategy Keras' TensorFlow trainer defers them to the first traced
    train step, and a tf.function whose first trace creates variables traces again: one
    redundant trace (~0.4 s) per trial. The JAX and torch trainers build them before fitting.
    """
    if keras.backend.backend() != "tensorflow" or not hasattr(model, "_symbolic_build"):
        return
    x, y = (xs[0], ys[0]) if isinstance(xs, list | tuple) else (xs, ys)
    if not hasattr(x, "shape") or not hasattr(y, "shape"):  # a generator or dataset: as Keras does
        return
    model._symbolic_build(data_batch=(np.asarray(x[:1], dtype="float32"), np.asarray(y[:1])))


def fit_class_weights(params: dict[str, Any], ys: Any) -> dict[int, float] | None:
    """Per-class loss weights when params ask for class_weight: balanced (else None)."""
    if params.get("class_weight", "none") != "balanced":
        return None
    y = np.concatenate(ys) if isinstance(ys, list | tuple) else ys
    return class_weights(y)


def summarize_history(
    history: dict[str, list[Any]], initial_epoch: int = 0, monitor: Monitor = VAL_LOSS
) -> FitResult:
    """Epochs run, the best (monitored) epoch and divergence, from a Keras history.

    `initial_epoch` offsets epoch numbers for runs that continue an earlier one (Hyperband).
    """
    history = {k: [float(v) for v in vals] for k, vals in history.items()}
    losses = history.get("loss", [])
    epochs_run = initial_epoch + len(losses)
    failed = None
    if any(not math.isfinite(v) for v in losses):
        failed = f"loss became {losses[-1]} at epoch {epochs_run} (diverged)"
    watch = history.get(monitor.name)
    if not watch:  # no validation data: the training loss
        watch, monitor = losses, VAL_LOSS
    best_epoch = initial_epoch + monitor.best_index(watch) + 1 if watch else 0
    return FitResult(history, epochs_run, best_epoch, failed, first_epoch=initial_epoch + 1)
