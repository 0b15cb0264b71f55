"""Space keys l2, batch_norm, mirror; word-pair vocabularies; compact batches; tracking off."""

from __future__ import annotations

import copy
from pathlib import Path

import keras_tuner as kt
import numpy as np
import optuna
import pytest
from helpers import SMALL_SPACE, write_task

from sweepflow.config.space import ChoiceSpec, FloatSpec, parse_space
from sweepflow.config.task import load_task
from sweepflow.data.compact import CompactBatches, predict_scores
from sweepflow.data.prepare import prepare
from sweepflow.data.preprocess import TextPreprocessor, from_dict, to_dict
from sweepflow.engines.keras_tuner_engine import hp_params
from sweepflow.engines.optuna_engine import OptunaEngine, suggest
from sweepflow.errors import ConfigError
from sweepflow.model.network import ModelSpec, build_model, fit, fresh_state
from sweepflow.search.stage import run_search
from sweepflow.tracking import Tracker

WIDE = {
    **SMALL_SPACE,
    "l2": {"type": "float", "min": 1.0e-5, "max": 1.0e-2, "log": True},
    "batch_norm": {"type": "choice", "values": [False, True]},
}


def test_l2_and_batch_norm_parse_and_reach_both_engines(tmp_path):
    space = parse_space("t.yaml", WIDE)
    assert space["l2"] == FloatSpec("l2", 1e-5, 1e-2, log=True)
    assert space["batch_norm"] == ChoiceSpec("batch_norm", (False, True))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    params = suggest(space, study.ask())
    assert 1e-5 <= params["l2"] <= 1e-2 and params["batch_norm"] in (False, True)
    hp = kt.HyperParameters()
    kt_params = hp_params(space, hp)
    assert isinstance(kt_params["batch_norm"], bool) and 1e-5 <= kt_params["l2"] <= 1e-2


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"l2": -0.1}, "space.l2", "l2 must be ≥ 0"),
        ({"batch_norm": "yes"}, "space.batch_norm", "true or false"),
        ({"batch_norm": {"type": "int", "min": 0, "max": 1}}, "space.batch_norm", "choice"),
    ],
)
def test_bad_l2_or_batch_norm_is_refused_with_its_field(changes, field, words):
    raw = copy.deepcopy(SMALL_SPACE)
    raw.update(changes)
    with pytest.raises(ConfigError) as err:
        parse_space("t.yaml", raw)
    assert field in str(err.value) and words in str(err.value)


def test_build_model_adds_l2_and_batch_norm_only_when_asked():
    base = {"layers": 2, "units_1": 8, "units_2": 4, "learning_rate": 0.01, "optimizer": "adam"}
    plain = build_model(base, ModelSpec("binary", 5))
    assert not any("batch_norm" in layer.name for layer in plain.layers)
    assert plain.layers[0].kernel_regularizer is None
    wide = build_model({**base, "l2": 1e-3, "batch_norm": True}, ModelSpec("binary", 5))
    assert [la.name for la in wide.layers if "batch_norm" in la.name] == [
        "batch_norm_1",
        "batch_norm_2",
    ]
    assert wide.layers[0].kernel_regularizer is not None
    assert wide.predict(np.ones((3, 5), np.float32), verbose=0).shape == (3, 1)


def test_feature_scale_weights_the_inputs_inside_the_saved_network(tmp_path):
    import keras

    base = {"layers": 1, "units_1": 4, "learning_rate": 0.01, "optimizer": "adam"}
    scale = (2.0, -1.0, 0.0, 0.5, 3.0)
    scaled = build_model(base, ModelSpec("binary", 5, feature_scale=scale))
    plain = build_model(base, ModelSpec("binary", 5))
    plain.set_weights(scaled.get_weights())  # the scale is a constant, not a weight
    x = np.random.default_rng(0).integers(0, 2, size=(6, 5)).astype(np.uint8)
    want = plain.predict(x * np.asarray(scale, np.float32), verbose=0)
    np.testing.assert_allclose(scaled.predict(x, verbose=0), want, rtol=1e-5)
    assert not np.allclose(plain.predict(x, verbose=0), want)
    scaled.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-5)


def test_mirror_trains_each_epoch_on_every_image_and_its_mirror():
    from sweepflow.model.network import mirrored_blocks

    x = np.random.default_rng(0).random((10, 12)).astype(np.float32)
    y = np.arange(10) % 3
    flipped = x.reshape(-1, 3, 4)[:, :, ::-1].reshape(10, 12)
    batches = CompactBatches(*mirrored_blocks([x], [y], (3, 4)), 4, shuffle=True)
    assert len(batches) == 5  # 20 rows a epoch: each image and its mirror
    seen = np.concatenate([batches[i][0] for i in range(len(batches))])
    labels = np.concatenate([batches[i][1] for i in range(len(batches))])
    want = np.concatenate([x, flipped])
    order = np.lexsort(seen.T[::-1])
    np.testing.assert_array_equal(seen[order], want[np.lexsort(want.T[::-1])])
    np.testing.assert_array_equal(np.sort(labels), np.sort(np.concatenate([y, y])))
    params = {"layers": 1, "units_1": 4, "learning_rate": 0.01, "optimizer": "adam"}
    params |= {"batch_size": 4, "epochs": 2, "mirror": True}
    spec = ModelSpec("multiclass", 12, n_outputs=3)
    import keras

    steps = []
    count = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))
    model = build_model(params, spec)
    got = fit(model, params, (x, y), (x, y), patience=2, callbacks=[count], image_shape=(3, 4))
    assert got.epochs_run == 2 and len(steps) == 2 * 5  # 20 rows in batches of 4, twice
    with pytest.raises(ValueError, match="mirror: true needs image inputs"):
        fit(build_model(params, spec), params, (x, y), (x, y), patience=2)


def test_mirror_is_refused_for_inputs_that_are_not_images(tmp_path):
    path = write_task(
        tmp_path, "t", "regression", overrides={"space": {**SMALL_SPACE, "mirror": True}}
    )
    with pytest.raises(ConfigError, match="space.mirror.*not images"):
        load_task(str(path), tmp_path)


def test_word_pair_vocabulary_is_fitted_on_train_and_survives_json():
    texts = ["not good at all", "not good", "very good film", "not bad", "good film"]
    pre = TextPreprocessor.fit(texts, num_words=6, ngrams=2)
    assert "not good" in pre.vocabulary and "good" in pre.vocabulary and len(pre.vocabulary) == 6
    out = pre.transform(["not good", "zeitgeist"])
    dense = np.array(
        [[1 if t in pre.terms(x) else 0 for t in pre.vocabulary] for x in ["not good", "zeitgeist"]]
    )
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, dense)
    again = from_dict(to_dict(pre))
    np.testing.assert_array_equal(again.transform(texts), pre.transform(texts))
    # words only: the same ranking as before (count, then alphabetical)
    assert TextPreprocessor.fit(texts, 3).vocabulary == ["good", "not", "film"]


def test_compact_batches_predict_in_row_order_like_the_dense_float_matrix():
    """Rows split over two uint8 blocks, batched by CompactBatches: same outputs, same order."""
    fresh_state(0)
    model = build_model(
        {"layers": 1, "units_1": 8, "learning_rate": 0.01, "optimizer": "adam"},
        ModelSpec("binary", 12),
    )
    x = (np.random.default_rng(0).random((20, 12)) > 0.7).astype(np.uint8)
    blocks = CompactBatches([x[:13], x[13:]], [np.zeros(13), np.zeros(7)], 6, shuffle=False)
    assert all(blocks[i][0].dtype == np.uint8 for i in range(len(blocks)))  # never a float copy
    compact = model.predict(blocks, verbose=0)
    dense = model.predict(x.astype(np.float32), verbose=0)
    np.testing.assert_allclose(compact, dense, rtol=1e-6)


def test_a_disabled_tracker_runs_the_same_search_and_writes_no_store(tmp_path, monkeypatch):
    """Tracking off: the search runs, and nothing lands where MLflow's defaults would write."""
    cfg = load_task(str(write_task(tmp_path, "quiet", "regression")), Path("search_spaces"))
    data = prepare(cfg, tmp_path)
    monkeypatch.chdir(tmp_path)  # MLflow's default store (./mlruns, ./mlflow.db) would be here
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_search(
        cfg,
        data,
        Tracker.disabled(),
        OptunaEngine(f"sqlite:///{tmp_path / 'optuna.db'}"),
    )
    assert len(result.summary.session_outcomes) == 2 and result.summary.best_value > 0
    # only the study file this test asked for is new: no mlruns/, mlflow.db or store folder
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "optuna.db"])


def test_compact_batches_cover_every_row_once_per_epoch_across_blocks():
    x1 = np.arange(10, dtype=np.uint8).reshape(5, 2)
    x2 = np.arange(10, 16, dtype=np.uint8).reshape(3, 2)
    batches = CompactBatches([x1, x2], [np.arange(5), np.arange(5, 8)], 3, shuffle=True)
    for _ in range(2):
        got = [batches[i] for i in range(len(batches))]
        assert len(got) == 3 and all(xb.dtype == np.uint8 for xb, _ in got)
        rows = np.concatenate([xb for xb, _ in got])
        labels = np.concatenate([yb for _, yb in got])
        np.testing.assert_array_equal(np.sort(labels), np.arange(8))
        np.testing.assert_array_equal(rows, np.concatenate([x1, x2])[labels])  # x and y aligned
        batches.on_epoch_end()


def test_compact_training_and_batched_prediction_match_dense_prediction():
    rng = np.random.default_rng(1)
    x = (rng.random((300, 16)) > 0.6).astype(np.uint8)
    y = (x[:, :4].sum(axis=1) > 1).astype(np.int32)
    params = {"layers": 1, "units_1": 8, "learning_rate": 0.01, "optimizer": "adam"}
    fresh_state(0)
    model = build_model({**params, "batch_size": 32, "epochs": 2}, ModelSpec("binary", 16))
    result = fit(
        model,
        {**params, "batch_size": 32, "epochs": 2},
        ([x[:200]], [y[:200]]),
        (x[200:], y[200:]),
        patience=2,
    )
    assert result.epochs_run == 2 and "val_loss" in result.history
    np.testing.assert_allclose(
        predict_scores(model, x, batch_size=64),
        model.predict(x.astype(np.float32), verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_trials_do_not_leave_traced_train_steps_behind():
    """Each traced train step registers a global custom gradient; fresh_state must drop them."""
    import gc

    from tensorflow.python.framework import ops

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 6), dtype=np.float32), rng.random(64, dtype=np.float32)
    spec = ModelSpec("regression", 6, 1)
    params = {
        "layers": 1,
        "units_1": 8,
        "learning_rate": 0.01,
        "optimizer": "adam",
        "batch_size": 16,
    }

    def one_trial(seed: int) -> tuple[int, int]:
        fresh_state(seed)
        fit(build_model(params, spec), {**params, "epochs": 2}, (x, y), (x, y), patience=2)
        fresh_state(seed)  # what the next trial starts with
        graphs = sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())
        custom = sum(k.startswith("CustomGradient-") for k in ops._gradient_registry._registry)
        return graphs, custom

    first = one_trial(0)
    for seed in range(1, 4):
        assert one_trial(seed) == first  # not one more graph or registration per trial


def test_a_search_freezes_the_heap_it_starts_with_and_trials_still_collect_their_cycles() -> None:
    """frozen_heap keeps each trial's full gc short; garbage trials make is still collected."""
    import gc
    import weakref

    from sweepflow.search.budget import frozen_heap

    class Node:
        pass

    def cycle() -> weakref.ref:
        node = Node()
        node.self = node  # a reference cycle: only the cyclic collector can free it
        return weakref.ref(node)

    before = cycle()  # garbage from before the search: collected before the freeze
    with frozen_heap():
        assert before() is None
        assert gc.get_freeze_count() > 0  # the process's survivors sit in the permanent generation
        made = cycle()
        fresh_state(1)
        assert made() is None  # made during the search, so the next trial's gc collects it
    assert gc.get_freeze_count() == 0  # thawed when the search ends
