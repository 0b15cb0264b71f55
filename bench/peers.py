"""The scripts a user would write instead of sweepflow, for `bench/engines.py` to rank against.

Each peer searches the task's own space (the YAML's ranges of layers, units per layer on a log
scale, dropout, L2 where the space has it, learning rate, optimizer and batch size; a fixed
value is used as it is, not drawn; sweepflow-only extras such as fashion_mnist's lr_decay are
not searched) on the same prepared split, with plain Keras code
and no tracking. The loss and optimizer tables are the user's own, not sweepflow's:
- `keras_tuner_hyperband`: a `kt.HyperModel` whose `fit` draws the batch size (Keras Tuner's
  documented pattern), searched by `kt.Hyperband(max_epochs=<space epochs>, factor=3)`.
- `optuna_pruning`: optuna-examples' `keras_integration.py` — default `TPESampler`,
  `MedianPruner(n_startup_trials=2)`, `optuna_integration.KerasPruningCallback` on the objective,
  the score returned by `model.evaluate` on the validation rows — under `study.optimize(timeout=)`.

Both train with early stopping on val_loss (patience from the YAML, best weights restored), as
sweepflow does, so the comparison is about the search. `callbacks()` adds the bench's deadline
and test-set probe to every fit; a fit that starts after the deadline raises `budget_spent()`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Callbacks = Callable[[], list[Any]]


def budget_spent() -> Exception:
    """What the bench's deadline raises when a peer starts a fit after the budget: a Keras
    Tuner `FatalError`, the one exception its search loop does not swallow as a failed trial."""
    import keras_tuner as kt

    return kt.errors.FatalError("the benchmark's wall-clock budget is spent")


def _draw(space: Any, name: str, suggest: Any, *, spec_name: str | None = None) -> Any:
    """One hyperparameter: a fixed spec's value, else `suggest(kind, name, spec)`; a name the
    space lacks gives 0 (e.g. no L2). `spec_name` reads another spec (units_1 from units)."""
    from sweepflow.config.space import FixedSpec

    try:
        spec = space[spec_name or name]
    except KeyError:
        return 0
    if isinstance(spec, FixedSpec):
        return spec.value
    return suggest(type(spec).__name__, name, spec)


def _log(name: str, spec: Any) -> bool:
    """Units per layer on a log scale (as sweepflow draws them), else the spec's own scale."""
    return name.startswith("units") or bool(getattr(spec, "log", False))


def _keras_tuner(hp: Any) -> Any:
    """`_draw`'s suggest for Keras Tuner: hp.Int / hp.Float / hp.Choice."""

    def suggest(spec_type: str, name: str, spec: Any) -> Any:
        if spec_type == "ChoiceSpec":
            return hp.Choice(name, list(spec.values))
        draw = hp.Int if spec_type == "IntSpec" else hp.Float
        return draw(name, spec.low, spec.high, sampling="log" if _log(name, spec) else "linear")

    return suggest


def _optuna(trial: Any) -> Any:
    """`_draw`'s suggest for Optuna: trial.suggest_int / suggest_float / suggest_categorical."""

    def suggest(spec_type: str, name: str, spec: Any) -> Any:
        if spec_type == "ChoiceSpec":
            return trial.suggest_categorical(name, list(spec.values))
        draw = trial.suggest_int if spec_type == "IntSpec" else trial.suggest_float
        return draw(name, spec.low, spec.high, log=_log(name, spec))

    return suggest


def _dense(
    kind: str, n_features: int, n_outputs: int, layers: list[int], dropout: float, l2: float
) -> Any:
    """The network a user writes: relu Dense layers with dropout (and L2), and the kind's head."""
    import keras

    model = keras.Sequential([keras.Input(shape=(n_features,))])
    for units in layers:
        penalty = keras.regularizers.L2(l2) if l2 > 0 else None
        model.add(keras.layers.Dense(units, activation="relu", kernel_regularizer=penalty))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout))
    head = {"regression": None, "binary": "sigmoid", "multiclass": "softmax"}[kind]
    model.add(keras.layers.Dense(n_outputs, activation=head))
    return model


def _compile(model: Any, kind: str, optimizer: str, learning_rate: float) -> Any:
    """Compile with the kind's loss and the metric the objective names."""
    import keras

    loss = {
        "regression": "mse",
        "binary": "binary_crossentropy",
        "multiclass": "sparse_categorical_crossentropy",
    }[kind]
    optimizers = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }
    metric = "mae" if kind == "regression" else "accuracy"
    model.compile(optimizer=optimizers[optimizer](learning_rate), loss=loss, metrics=[metric])
    return model


def _feed(data: Any, batch_size: int) -> tuple[dict[str, Any], Any]:
    """fit() arguments for the training rows and the validation data, batched as sweepflow does
    for compact (uint8 multi-hot) inputs so neither side makes a float32 copy of imdb."""
    from sweepflow.data.compact import CompactBatches, is_compact

    if is_compact(data.x_train):
        train = CompactBatches([data.x_train], [data.y_train], batch_size, shuffle=True)
        val = CompactBatches([data.x_val], [data.y_val], batch_size, shuffle=False)
        return {"x": train}, val
    return {"x": data.x_train, "y": data.y_train, "batch_size": batch_size}, (
        data.x_val,
        data.y_val,
    )


def _shape(data: Any) -> tuple[int, int]:
    """Input width and output units."""
    n_outputs = (
        1 if data.kind != "multiclass" else int(max(data.y_train.max(), data.y_val.max())) + 1
    )
    return int(data.x_train.shape[1]), n_outputs


def _early_stopping(patience: int) -> Any:
    import keras

    return keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )


def keras_tuner_hyperband(
    cfg: Any, data: Any, seed: int, callbacks: Callbacks, work: Path, objective: str
) -> int:
    """A plain Keras Tuner Hyperband search; returns the trials it ran."""
    import keras_tuner as kt

    space, kind = cfg.space, data.kind
    n_features, n_outputs = _shape(data)

    class Dense(kt.HyperModel):
        def build(self, hp: kt.HyperParameters) -> Any:
            suggest = _keras_tuner(hp)
            depth = _draw(space, "layers", suggest)
            layers = [_draw(space, f"units_{i}", suggest, spec_name="units") for i in range(depth)]
            dropout, l2 = _draw(space, "dropout", suggest), _draw(space, "l2", suggest)
            model = _dense(kind, n_features, n_outputs, layers, dropout, l2)
            lr = _draw(space, "learning_rate", suggest)
            return _compile(model, kind, _draw(space, "optimizer", suggest), lr)

        def fit(self, hp: kt.HyperParameters, model: Any, *args: Any, **kwargs: Any) -> Any:
            batch_size = _draw(space, "batch_size", _keras_tuner(hp))
            train, val = _feed(data, batch_size)
            kwargs.pop("x", None)  # the tuner's search(x=None): the data come from _feed
            kwargs.pop("validation_data", None)
            return model.fit(**train, validation_data=val, **kwargs)

    direction = "min" if cfg.direction == "minimize" else "max"
    tuner = kt.Hyperband(
        Dense(),
        objective=kt.Objective(objective, direction),
        max_epochs=int(space.max_value("epochs")),
        factor=3,
        hyperband_iterations=1_000,  # go on until the budget is spent
        seed=seed,
        directory=str(work),
        project_name="peer",
        overwrite=True,
    )
    try:
        tuner.search(x=None, callbacks=[_early_stopping(cfg.patience), *callbacks()], verbose=0)
    except kt.errors.FatalError as error:
        if "budget is spent" not in str(error):
            raise
    return len(tuner.oracle.trials)


def optuna_pruning(
    cfg: Any, data: Any, seed: int, callbacks: Callbacks, budget: float, objective: str
) -> int:
    """optuna-examples' Keras script with KerasPruningCallback; returns the trials it ran."""
    import keras
    import keras_tuner as kt
    import optuna
    from optuna_integration import KerasPruningCallback

    space, kind = cfg.space, data.kind
    n_features, n_outputs = _shape(data)

    def run(trial: optuna.Trial) -> float:
        keras.backend.clear_session()
        suggest = _optuna(trial)
        depth = _draw(space, "layers", suggest)
        layers = [_draw(space, f"units_{i}", suggest, spec_name="units") for i in range(depth)]
        dropout = _draw(space, "dropout", suggest)
        l2 = _draw(space, "l2", suggest)
        lr = _draw(space, "learning_rate", suggest)
        optimizer = _draw(space, "optimizer", suggest)
        batch_size = _draw(space, "batch_size", suggest)
        model = _compile(
            _dense(kind, n_features, n_outputs, layers, dropout, l2), kind, optimizer, lr
        )
        train, val = _feed(data, batch_size)
        model.fit(
            **train,
            validation_data=val,
            epochs=int(space.max_value("epochs")),
            callbacks=[
                KerasPruningCallback(trial, objective),
                _early_stopping(cfg.patience),
                *callbacks(),
            ],
            verbose=0,
        )
        return float(model.evaluate(*([val] if not isinstance(val, tuple) else val), verbose=0)[1])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "minimize" if cfg.direction == "minimize" else "maximize"
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )
    try:
        study.optimize(run, timeout=budget, catch=())
    except kt.errors.FatalError as error:
        if "budget is spent" not in str(error):
            raise
    return len(study.trials)
