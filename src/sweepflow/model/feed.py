"""How in-memory arrays reach `model.fit`: on TensorFlow, one data iterator per fit."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np


def array_fit_args(
    x: Any, y: Any, validation: tuple[Any, Any] | None, batch_size: int
) -> dict[str, Any]:
    """`model.fit` keyword arguments that feed arrays `x`, `y` (and `validation`) by batches.

    From NumPy arrays, Keras' TensorFlow trainer builds its tf.data pipelines anew every
    epoch (~17 ms per iterator on 2 cores: most of a small table's epoch,
    bench/results/experiments/feed.md). A repeated dataset of shuffled row indices with
    `steps_per_epoch` keeps one training iterator for the whole fit: every epoch is still one
    pass over all rows in a new order (the last batch partial). The validation rows, one pass
    in order, get a new iterator per evaluation (Keras resets it), from the same light
    pipeline. Other backends, and inputs that are not NumPy arrays: as Keras takes them.
    """
    arrays = isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    if validation is not None:
        arrays = arrays and all(isinstance(a, np.ndarray) for a in validation)
    if keras.backend.backend() != "tensorflow" or not arrays:
        plain: dict[str, Any] = {"x": x, "y": y, "batch_size": batch_size}
        if validation is not None:
            plain["validation_data"] = validation
        return plain
    args = {
        "x": _repeated(x, y, batch_size, shuffle=True),
        "steps_per_epoch": math.ceil(len(y) / batch_size),
        "shuffle": False,  # the dataset shuffles its rows (Keras warns that it cannot)
    }
    if validation is not None:
        args["validation_data"] = _repeated(*validation, batch_size, shuffle=False)
        args["validation_steps"] = math.ceil(len(validation[1]) / batch_size)
    return args


def _float32(a: np.ndarray) -> np.ndarray:
    """Floating arrays as float32, as Keras' array adapter casts them; others unchanged."""
    return a.astype("float32") if a.dtype.kind == "f" and a.dtype != np.float32 else a


def _repeated(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool) -> Any:
    """An endless tf.data dataset of batches, one pass over the rows after another.

    The order is shuffled per pass from a seed drawn from NumPy (seeded per trial); the rows
    are gathered per batch from one tensor of each array, as Keras' array adapter does.
    """
    import tensorflow as tf

    xs, ys = tf.constant(_float32(x)), tf.constant(_float32(y))
    rows = tf.data.Dataset.range(len(y))
    if shuffle:
        seed = int(np.random.randint(2**31 - 1))
        rows = rows.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    batches = rows.batch(batch_size).repeat()
    return batches.map(lambda i: (tf.gather(xs, i), tf.gather(ys, i))).prefetch(2)
