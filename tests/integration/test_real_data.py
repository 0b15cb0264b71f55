"""The built-in loaders on the real files in ../shared/data (slow: `make test-slow`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare

REPO = Path(__file__).resolve().parents[2]  # the repository root
DATA = Path(os.environ.get("SWEEPFLOW_DATA_DIR", REPO.parent / "shared" / "data"))
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("task", "train", "test", "width"),
    [
        ("carseats", 256, 80, 6 + 3 + 9 + 2 + 2),  # 6 numerics + ShelveLoc, Education, US, Urban
        ("boston_housing", 323, 102, 13),
        ("fashion_mnist", 54_000, 10_000, 784),
        ("imdb", 20_000, 25_000, 20_000),  # 20,000 words and word pairs (search_spaces/imdb.yaml)
    ],
)
def test_real_dataset_shapes_and_origin(task, train, test, width):
    data = prepare(load_task(task, REPO / "search_spaces"), DATA)
    assert len(data.y_train) == train and len(data.y_test) == test
    assert data.n_features == width
    assert str(DATA) in data.origin or data.origin.startswith(str(DATA.resolve()))
    if task == "imdb":
        assert data.x_train.dtype == np.uint8 and data.origin.endswith("aclImdb")
        assert data.y_test.mean() == pytest.approx(0.5)
