"""Compact (uint8/bool) inputs: row batches cast to float32 inside the graph, never copied."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from scipy import sparse


def is_compact(x: Any) -> bool:
    """True for uint8/bool matrices (multi-hot; dense or sparse) cast to float32 per batch."""
    parts = x if isinstance(x, list | tuple) else [x]
    return all(
        (isinstance(p, np.ndarray) or sparse.issparse(p)) and p.dtype in (np.uint8, np.bool_)
        for p in parts
    )


class CompactBatches(keras.utils.PyDataset):
    """Batches of compact matrices (one or several row blocks), still uint8 / bool; the blocks
    may also be any row-indexable arrays, such as `Mirrored` image views.

    No float32 copy and no tf.data copy of the whole matrix: each batch is cast to float32 by
    the model's float32 input inside the graph, and tf.data's prefetch buffer holds small
    uint8 batches. With `shuffle` the row order is redrawn every epoch (seeded from NumPy).
    """

    def __init__(
        self, xs: list[np.ndarray], ys: list[np.ndarray], batch_size: int, shuffle: bool
    ) -> None:
        super().__init__()
        self.xs, self.ys, self.batch_size, self.shuffle = xs, ys, batch_size, shuffle
        self.starts = np.cumsum([0] + [len(x) for x in xs])
        self.rng = np.random.default_rng(np.random.randint(2**31 - 1))
        self.order = self._order()

    def _order(self) -> np.ndarray:
        n = int(self.starts[-1])
        return self.rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        return math.ceil(int(self.starts[-1]) / self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.sort(self.order[i * self.batch_size : (i + 1) * self.batch_size])
        block = np.searchsorted(self.starts, rows, side="right") - 1
        xs, ys = [], []
        for b in np.unique(block):
            local = rows[block == b] - self.starts[b]
            xs.append(self.xs[b][local])
            ys.append(self.ys[b][local])
        return np.concatenate(xs), np.concatenate(ys)

    def on_epoch_end(self) -> None:
        """Draw a new row order for the next epoch."""
        self.order = self._order()


def predict_scores(model: keras.Model, x: Any, batch_size: int = 1024) -> np.ndarray:
    """Network outputs, `batch_size` rows at a time through `predict_on_batch`.

    `predict` builds a data pipeline on every call (~60 ms on TensorFlow even for a few rows,
    paid every epoch when an F1 objective scores the validation rows); one traced batch call
    takes ~1 ms. Compact matrices go in as uint8 (cast in the graph), a sparse one (multi-hot
    or log-count text) densified a batch at a time.
    """
    rows = x.shape[0]
    if rows == 0:
        return np.asarray(model.predict(x, verbose=0))

    def dense(block: Any) -> np.ndarray:
        return block.toarray() if sparse.issparse(block) else block

    chunks = [
        np.asarray(model.predict_on_batch(dense(x[i : i + batch_size])))
        for i in range(0, rows, batch_size)
    ]
    return np.concatenate(chunks)


class Mirrored:
    """Flattened images seen mirrored left-right, row by row as they are indexed (no copy)."""

    def __init__(self, x: np.ndarray, image_shape: tuple[int, int]) -> None:
        height, width = image_shape
        if x.ndim != 2 or x.shape[1] != height * width:
            raise ValueError(f"rows of {x.shape[1:]} are not flattened {height} x {width} images")
        self.x, self.height, self.width = x, height, width

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, rows: Any) -> np.ndarray:
        block = self.x[rows].reshape(-1, self.height, self.width)[:, :, ::-1]
        return block.reshape(len(block), self.height * self.width)
