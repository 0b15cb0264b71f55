"""Arrays into model.fit on TensorFlow: one pass over every row per epoch, one iterator per fit."""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from sweepflow.model.feed import array_fit_args
from sweepflow.model.network import ModelSpec, build_model, fit, fresh_state

PARAMS = {"layers": 1, "units_1": 8, "learning_rate": 0.02, "optimizer": "adam", "batch_size": 16}


def _rows(dataset, batches: int) -> list[np.ndarray]:
    """The row ids (column 0 of x) of the first `batches` batches."""
    return [np.asarray(x)[:, 0].astype(int) for x, _ in dataset.take(batches)]


def test_each_epoch_passes_over_every_training_row_in_a_new_order_and_validation_in_order():
    n, n_val, batch = 50, 21, 16
    x = np.stack([np.arange(n), np.ones(n)], axis=1)  # float64 ids, as a CSV's columns come
    xv = np.stack([np.arange(n_val), np.ones(n_val)], axis=1).astype(np.float32)
    np.random.seed(0)
    args = array_fit_args(x, np.arange(n) * 2.0, (xv, np.zeros(n_val)), batch)
    steps, val_steps = args["steps_per_epoch"], args["validation_steps"]
    assert (steps, val_steps) == (math.ceil(n / batch), math.ceil(n_val / batch))
    batches = _rows(args["x"], 3 * steps)
    epochs = [np.concatenate(batches[i * steps : (i + 1) * steps]) for i in range(3)]
    for rows in epochs:
        assert sorted(rows) == list(range(n))  # every row once, the last batch partial
    assert len(batches[steps - 1]) == n - (steps - 1) * batch
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    x0, y0 = next(iter(args["x"]))
    assert x0.dtype.name == "float32" and y0.dtype.name == "float32"
    assert np.array_equal(np.asarray(y0), 2.0 * np.asarray(x0)[:, 0])  # rows stay paired
    val = np.concatenate(_rows(args["validation_data"], 2 * val_steps))
    assert list(val) == list(range(n_val)) * 2


def test_the_shuffled_order_follows_the_numpy_seed():
    x, y = np.arange(40, dtype=np.float32)[:, None], np.zeros(40, dtype=np.float32)
    orders = []
    for seed in (1, 1, 2):
        np.random.seed(seed)
        orders.append(np.concatenate(_rows(array_fit_args(x, y, None, 8)["x"], 5)))
    assert np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], orders[2])


def test_inputs_that_are_not_arrays_go_to_keras_as_they_are():
    x = sparse.random(10, 4, density=0.5, format="csr", dtype=np.float32)
    y = np.zeros(10, dtype=np.float32)
    args = array_fit_args(x, y, None, 4)
    assert args["x"] is x and args["batch_size"] == 4 and "steps_per_epoch" not in args


def test_a_fit_keeps_one_training_iterator_however_many_epochs_it_runs(monkeypatch):
    from tensorflow.python.data.ops import dataset_ops

    made = []
    original = dataset_ops.DatasetV2.__iter__

    def counted(self):
        made.append(1)
        return original(self)

    monkeypatch.setattr(dataset_ops.DatasetV2, "__iter__", counted)
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 5), dtype=np.float32), rng.random(64, dtype=np.float32)
    counts = {}
    for epochs in (2, 6):
        params = {**PARAMS, "epochs": epochs}
        fresh_state(0)
        model = build_model(params, ModelSpec("regression", 5, 1))
        made.clear()
        result = fit(model, params, (x[:48], y[:48]), (x[48:], y[48:]), patience=epochs)
        assert result.epochs_run == epochs
        counts[epochs] = len(made)
    # 4 more epochs: 4 more validation passes, no new training iterator
    # (fed the arrays themselves, Keras made 16 more)
    assert counts[6] - counts[2] == 4, counts
