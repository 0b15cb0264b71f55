"""Data drift: a feature profile of the training data, and the population stability index."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepflow.data.preprocess import Preprocessor

_EPS = 1e-4


def feature_names(pre: Preprocessor, width: int) -> list[str]:
    """Readable names of the model-input columns."""
    if pre.type == "tabular":
        return pre.feature_names
    if pre.type == "text":
        return [f"word:{w}" for w in pre.vocabulary]
    prefix = "pixel" if pre.type == "image" else "index"
    return [f"{prefix}:{i}" for i in range(width)]


def _column_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and variance without a float copy of the whole matrix."""
    n = max(len(x), 1)
    mean = x.sum(axis=0, dtype=np.float64) / n
    sq = np.zeros(x.shape[1])
    for start in range(0, len(x), 1024):  # bounded memory on wide multi-hot matrices
        block = x[start : start + 1024].astype(np.float32)
        sq += (block * block).sum(axis=0, dtype=np.float64)
    return mean, sq / n - mean**2


def _histogram(values: np.ndarray, edges: list[float] | None) -> list[float]:
    if edges is None:  # a 0/1 feature: share of ones and zeros
        ones = float(np.mean(values > 0.5)) if len(values) else 0.0
        return [1.0 - ones, ones]
    counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
    return (counts / max(counts.sum(), 1)).tolist()


def profile(x: np.ndarray, names: list[str], max_features: int = 200, bins: int = 10) -> dict:
    """Reference distributions of the (most variable) model-input features and of row sums."""
    _, var = _column_stats(x)
    chosen = np.argsort(-var)[:max_features] if x.shape[1] > max_features else np.arange(x.shape[1])
    features = []
    columns = [(names[j], x[:, j].astype(np.float64), int(j)) for j in sorted(chosen)]
    columns.append(("row_sum", x.sum(axis=1, dtype=np.float64), -1))
    for name, values, index in columns:
        binary = bool(np.isin(np.unique(values[:1000]), (0.0, 1.0)).all()) and index >= 0
        edges = None
        if not binary:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1))).tolist()
            if len(edges) < 2:
                edges = [float(values.min()), float(values.min()) + 1.0]
        features.append(
            {"name": name, "index": index, "edges": edges, "props": _histogram(values, edges)}
        )
    return {"n_rows": int(len(x)), "features": features}


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two binned distributions (0 = identical)."""
    e = np.clip(np.asarray(expected, dtype=np.float64), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_report(reference: dict, x_now: np.ndarray) -> dict[str, Any]:
    """PSI of every profiled feature on the current data, worst first, and the maximum."""
    scores = {}
    for feat in reference["features"]:
        values = (
            x_now.sum(axis=1, dtype=np.float64)
            if feat["index"] < 0
            else x_now[:, feat["index"]].astype(np.float64)
        )
        scores[feat["name"]] = psi(feat["props"], _histogram(values, feat["edges"]))
    ranked = dict(sorted(scores.items(), key=lambda kv: -kv[1]))
    worst = next(iter(ranked), None)
    return {"max_psi": ranked[worst] if worst else 0.0, "worst_feature": worst, "psi": ranked}
