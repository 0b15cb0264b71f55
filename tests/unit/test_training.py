"""Training options: early stopping on the objective, per-epoch lr decay, log1p features."""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import SMALL_SPACE, make_table, write_task

from sweepflow.config.monitor import VAL_LOSS, Monitor
from sweepflow.config.space import FloatSpec, parse_space
from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.data.preprocess import TabularPreprocessor, from_dict, to_dict
from sweepflow.engines.keras_tuner_engine import hp_params
from sweepflow.engines.optuna_engine import OptunaEngine, suggest
from sweepflow.errors import ConfigError, DataError
from sweepflow.evaluate.final import final_evaluate
from sweepflow.model.network import ModelSpec, build_model, fit, fresh_state, summarize_history
from sweepflow.model.trial import model_spec
from sweepflow.search.stage import run_search
from sweepflow.store.layout import Store
from sweepflow.tracking import Tracker

PARAMS = {"layers": 1, "units_1": 8, "learning_rate": 0.02, "optimizer": "adam", "batch_size": 16}


def _xy(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5), dtype=np.float32)
    return x, (x @ np.arange(1, 6, dtype=np.float32)).astype(np.float32)


def test_monitor_picks_lowest_or_highest_finite_value():
    values = [0.5, 0.2, math.nan, 0.9, 0.3]
    assert VAL_LOSS.best_index(values) == 1
    assert Monitor("val_accuracy", "max").best_index(values) == 3
    assert Monitor("val_accuracy", "max").best_index([math.inf, 0.1]) == 1  # never a non-finite


def test_summarize_history_restores_the_monitored_epoch_not_the_lowest_loss():
    history = {
        "loss": [1.0, 0.8, 0.7, 0.6],
        "val_loss": [0.9, 0.5, 0.6, 0.7],  # lowest at epoch 2
        "val_accuracy": [0.6, 0.7, 0.72, 0.8],  # highest at epoch 4
    }
    assert summarize_history(history).best_epoch == 2
    by_acc = summarize_history(history, monitor=Monitor("val_accuracy", "max"))
    assert by_acc.best_epoch == 4 and by_acc.metrics_at_best()["val_accuracy"] == 0.8
    continued = summarize_history(history, initial_epoch=3, monitor=Monitor("val_accuracy", "max"))
    assert continued.best_epoch == 7 and continued.metrics_at_best()["val_accuracy"] == 0.8


def test_lr_decay_lowers_the_learning_rate_each_epoch_in_trials_and_final_fits():
    x, y = _xy()
    params = {**PARAMS, "lr_decay": 0.5, "epochs": 4}
    fresh_state(0)
    model = build_model(params, ModelSpec("regression", 5))
    result = fit(model, params, (x[:64], y[:64]), (x[64:], y[64:]), patience=10)
    np.testing.assert_allclose(result.history["learning_rate"], [0.02, 0.01, 0.005, 0.0025])
    fresh_state(0)
    final = build_model(params, ModelSpec("regression", 5))
    fit(final, params, ([x[:64], x[64:]], [y[:64], y[64:]]), None, patience=1, epochs=3)
    assert float(final.optimizer.learning_rate) == pytest.approx(0.02 * 0.5**2)
    fresh_state(0)
    constant = build_model(PARAMS, ModelSpec("regression", 5))
    fit(constant, {**PARAMS, "epochs": 3}, (x, y), None, patience=1)
    assert float(constant.optimizer.learning_rate) == pytest.approx(0.02)


def test_lr_decay_parses_reaches_both_engines_and_is_range_checked():
    space = parse_space(
        "t.yaml", {**SMALL_SPACE, "lr_decay": {"type": "float", "min": 0.9, "max": 1}}
    )
    assert space["lr_decay"] == FloatSpec("lr_decay", 0.9, 1.0)
    params = suggest(space, optuna.create_study().ask())
    assert 0.9 <= params["lr_decay"] <= 1.0
    assert 0.9 <= hp_params(space, kt.HyperParameters())["lr_decay"] <= 1.0
    for bad in (0, -0.5, 1.5, {"type": "float", "min": 0.0, "max": 0.9}):
        raw = copy.deepcopy(SMALL_SPACE)
        raw["lr_decay"] = bad
        with pytest.raises(ConfigError) as err:
            parse_space("t.yaml", raw)
        assert "space.lr_decay" in str(err.value) and "(0, 1]" in str(err.value)


def test_training_monitor_objective_follows_the_objective_direction(tmp_path):
    path = write_task(tmp_path, "acc", "binary", overrides={"training": {"monitor": "objective"}})
    cfg = load_task(str(path), Path("search_spaces"))
    assert cfg.monitor == "val_accuracy" and cfg.stop_monitor == Monitor("val_accuracy", "max")
    path = write_task(
        tmp_path, "reg", "regression", overrides={"training": {"monitor": "objective"}}
    )
    assert load_task(str(path), Path("search_spaces")).stop_monitor == Monitor("val_mae", "min")
    default = load_task(str(write_task(tmp_path, "plain", "binary")), Path("search_spaces"))
    assert default.stop_monitor == VAL_LOSS
    bad = write_task(tmp_path, "bad", "binary", overrides={"training": {"monitor": "accuracy"}})
    with pytest.raises(ConfigError) as err:
        load_task(str(bad), Path("search_spaces"))
    assert "training.monitor" in str(err.value) and "val_loss or objective" in str(err.value)


def test_search_on_the_objective_records_its_best_epoch_and_the_final_model_uses_it(tmp_path):
    overrides = {
        "training": {"patience": 3, "monitor": "objective"},
        "search": {"trials": 2, "seed": 3, "pruner": "none"},
        "space": {**SMALL_SPACE, "epochs": 6, "lr_decay": 0.8},
    }
    cfg = load_task(str(write_task(tmp_path, "mon", "multiclass", overrides=overrides)), Path("."))
    data = prepare(cfg, tmp_path)
    store = Store(tmp_path / "store")
    store.ensure()
    tracker = Tracker(store.mlflow_uri, store.artifact_root)
    result = run_search(cfg, data, tracker, OptunaEngine(store.study_storage))
    for outcome in result.summary.session_outcomes:
        curve = outcome.fit.history["val_accuracy"]
        assert outcome.fit.best_epoch == int(np.argmax(curve)) + 1  # first max, as Keras keeps
        assert outcome.value == pytest.approx(max(curve))
        assert outcome.fit.history["learning_rate"][1] == pytest.approx(
            outcome.params["learning_rate"] * 0.8, rel=1e-5
        )
    params = tracker.client.get_run(result.parent_run_id).data.params
    assert params["monitor"] == "val_accuracy"
    evaluation = final_evaluate(data, result.summary, base_seed=3, out_dir=tmp_path)
    assert evaluation.epochs == result.summary.best_epoch


def test_log1p_columns_are_logged_before_scaling_and_survive_json():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"crim": rng.exponential(5.0, 50), "rooms": rng.normal(6, 1, 50)})
    pre = TabularPreprocessor.fit(frame, [], "standard", log1p=["crim"])
    out = pre.transform(frame)
    logged = np.log1p(frame["crim"].to_numpy())
    np.testing.assert_allclose(out[:, 0], (logged - logged.mean()) / logged.std(), rtol=1e-5)
    rooms = frame["rooms"].to_numpy()
    np.testing.assert_allclose(out[:, 1], (rooms - rooms.mean()) / rooms.std(), rtol=1e-5)
    np.testing.assert_array_equal(from_dict(to_dict(pre)).transform(frame), out)
    plain = TabularPreprocessor.fit(frame, [], "standard")
    assert not np.allclose(plain.transform(frame)[:, 0], out[:, 0])
    with pytest.raises(DataError, match=r"data.log1p names \['nox'\]"):
        TabularPreprocessor.fit(frame, [], "standard", log1p=["nox"])
    negative = frame.assign(crim=frame.crim - 100)
    with pytest.raises(DataError, match="'crim' is listed under data.log1p but has a negative"):
        TabularPreprocessor.fit(negative, [], "standard", log1p=["crim"])
    with pytest.raises(DataError, match="'crim' is listed under data.log1p"):
        pre.transform(negative)


def test_log1p_in_a_task_file_is_validated_and_reaches_the_prepared_data(tmp_path):
    frame = make_table("regression")
    frame["skewed"] = np.random.default_rng(1).exponential(3.0, len(frame))
    path = write_task(tmp_path, "logged", "regression", frame, data={"log1p": ["skewed"]})
    data = prepare(load_task(str(path), Path(".")), tmp_path)
    assert data.preprocessor.log1p == ["skewed"]
    bad = write_task(tmp_path, "bad", "regression", frame, data={"log1p": "skewed"})
    with pytest.raises(ConfigError, match="data.log1p"):
        load_task(str(bad), Path("."))


def _shifted_task(folder: Path, target_scaling: str):
    """A regression table whose target sits far from 0 (200 + 30 × signal), prepared."""
    frame = make_table("regression", n=200)
    frame["y"] = 200 + 30 * frame["y"]
    path = write_task(folder, "t", "regression", frame, data={"target_scaling": target_scaling})
    return prepare(load_task(str(path), folder), folder)


def test_target_scaling_is_fitted_on_the_training_split_and_rescales_the_head(tmp_path):
    data = _shifted_task(tmp_path / "scaled", "standard")
    assert data.target_offset == pytest.approx(float(np.mean(data.y_train)))
    assert data.target_scale == pytest.approx(float(np.std(data.y_train)))
    assert data.summary()["target_scale"] == data.target_scale
    plain = _shifted_task(tmp_path / "plain", "none")
    assert (plain.target_offset, plain.target_scale) == (0.0, 1.0)
    fresh_state(0)
    model = build_model(PARAMS, model_spec(data))
    kernel, _ = model.get_layer("head").get_weights()
    model.get_layer("head").set_weights([np.zeros_like(kernel), np.array([0.5], np.float32)])
    np.testing.assert_allclose(
        model.predict(data.x_test, verbose=0).ravel(),
        data.target_offset + 0.5 * data.target_scale,
        rtol=1e-6,
    )


def test_target_scaling_learns_a_far_off_target_and_reports_mae_in_its_units(tmp_path):
    params = {**PARAMS, "epochs": 8}
    maes = {}
    for scaling in ("none", "standard"):
        data = _shifted_task(tmp_path / scaling, scaling)
        fresh_state(0)
        model = build_model(params, model_spec(data))
        result = fit(
            model, params, (data.x_train, data.y_train), (data.x_val, data.y_val), patience=10
        )
        pred = model.predict(data.x_val, verbose=0).ravel()
        maes[scaling] = float(np.mean(np.abs(pred - data.y_val)))
        assert result.metrics_at_best()["val_mae"] == pytest.approx(maes[scaling], rel=1e-4)
    assert maes["standard"] < 0.25 * maes["none"], maes


@pytest.mark.parametrize(
    ("kind", "outputs", "extra"),
    [
        ("regression", 1, {}),
        ("binary", 1, {"dropout": 0.2, "class_weight": "balanced"}),
        ("multiclass", 3, {"batch_norm": True}),
    ],
)
def test_a_fit_traces_its_train_step_once(kind, outputs, extra):
    x, y = _xy()
    if kind != "regression":
        y = (np.digitize(y, np.quantile(y, np.linspace(0, 1, outputs + 1)[1:-1]))).astype("int64")
    compact = kind == "multiclass"  # uint8 inputs go through CompactBatches
    x_in = (x * 10).astype(np.uint8) if compact else x
    params = {**PARAMS, **extra, "epochs": 3}
    fresh_state(0)
    model = build_model(params, ModelSpec(kind, 5, outputs))
    traced = model.train_step
    calls = []

    def counting_step(data):
        calls.append(1)  # Python runs here only while TensorFlow traces the step
        return traced(data)

    model.train_step = counting_step
    result = fit(model, params, (x_in[:64], y[:64]), (x_in[64:], y[64:]), patience=5)
    assert len(calls) == 1  # Keras' TF trainer alone traces twice (variables made in trace 1)
    assert result.epochs_run == 3
    expected = "mae" if kind == "regression" else "accuracy"
    assert 0 <= result.history[f"val_{expected}"][-1] < (1e6 if kind == "regression" else 1.0001)


def test_a_stop_signal_whose_interrupt_was_swallowed_still_ends_the_trial():
    from sweepflow import interrupts
    from sweepflow.search.recorder import StopOnSignal

    x, y = _xy()
    params = {**PARAMS, "epochs": 50}
    interrupts.clear()
    try:
        # the handler's KeyboardInterrupt, discarded (as Python does inside a __del__)
        with contextlib.suppress(KeyboardInterrupt):
            interrupts.handle(15, None)
        epochs = []

        class Count(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                epochs.append(epoch)

        fresh_state(0)
        model = build_model(params, ModelSpec("regression", 5))
        with pytest.raises(KeyboardInterrupt):
            fit(model, params, (x, y), None, patience=50, callbacks=[Count(), StopOnSignal()])
        assert epochs == [0]  # stopped at the first epoch end
    finally:
        interrupts.clear()
    fresh_state(0)
    model = build_model(params, ModelSpec("regression", 5))
    result = fit(
        model, {**params, "epochs": 2}, (x, y), None, patience=5, callbacks=[StopOnSignal()]
    )
    assert result.epochs_run == 2  # no signal: trains on
