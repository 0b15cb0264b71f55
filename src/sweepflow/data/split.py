"""The split stage: labels encoded once, rows split train / validation / test, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from sweepflow.errors import DataError


def encode_labels(y: pd.Series | np.ndarray, kind: str, where: str) -> tuple[np.ndarray, list[str]]:
    """Regression: float32 targets; classification: class indices and the class names."""
    series = pd.Series(np.asarray(y))
    if series.isna().any():
        raise DataError(
            f"{where}: the target has missing values (NaN); drop or fill those rows "
            "(data.missing: impute drops them)"
        )
    if kind == "regression":
        values = pd.to_numeric(series, errors="coerce")
        if values.isna().any():
            bad = series[values.isna()].iloc[0]
            raise DataError(f"{where}: regression target has non-numeric value {bad!r}")
        if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
            raise DataError(f"{where}: regression target has an infinite value")
        if len(values) > 1 and values.nunique() < 2:
            raise DataError(
                f"{where}: the regression target is constant ({values.iloc[0]!r}); "
                "nothing to learn — check data.target"
            )
        return values.to_numpy(dtype=np.float32), []
    classes = sorted(series.unique().tolist())
    if len(classes) < 2:
        raise DataError(f"{where}: the target has a single class ({classes}); need at least 2")
    if kind == "binary" and len(classes) != 2:
        raise DataError(
            f"{where}: a binary task needs exactly 2 classes, found {len(classes)}; "
            "use kind: multiclass"
        )
    lookup = {c: i for i, c in enumerate(classes)}
    return series.map(lookup).to_numpy(dtype=np.int32), [str(c) for c in classes]


def split_rows(n: int, fraction: float, seed: int, stratify: np.ndarray | None, where: str):
    """(kept, split-off) row indices: stratified where every class allows it, else plain."""
    idx = np.arange(n)
    try:
        return train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:  # too few members of a class to stratify
        pass
    try:
        return train_test_split(idx, test_size=fraction, random_state=seed)
    except ValueError:
        raise DataError(f"{where}: too few rows ({n}) to split off {fraction:.0%}") from None


def check_sizes(where: str, n_train: int, n_val: int) -> None:
    """Refuse splits too small to train on and validate (a few rows, or big fractions)."""
    if n_train < 2 or n_val < 1:
        raise DataError(
            f"{where}: too few rows: {n_train} to train and {n_val} to validate after "
            "the splits; add rows or lower data.test_fraction / data.val_fraction"
        )


def subsample(n: int, max_rows: int | None, seed: int) -> np.ndarray:
    """At most `max_rows` row indices (sorted, seeded); all of them when fewer."""
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
