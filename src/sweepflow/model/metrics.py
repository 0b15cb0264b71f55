"""Scores computed from predictions (not by Keras): F1 at the best threshold, class weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm
from sklearn.utils.class_weight import compute_class_weight

from sweepflow.config.kinds import KINDS


def best_threshold_f1(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Binary: the positive class's best F1 over cut-offs, and that cut-off (0.5 if none)."""
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.min() == y.max():
        return 0.0, 0.5
    precision, recall, thresholds = skm.precision_recall_curve(y, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    i = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    return float(f1[i]), float(thresholds[i]) if len(thresholds) else 0.5


def validation_scores(kind: str, y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """val_f1 + val_threshold (binary) or val_macro_f1 (multiclass) from validation outputs."""
    if kind == "binary":
        f1, threshold = best_threshold_f1(y_true, scores)
        return {"val_f1": f1, "val_threshold": threshold}
    labels = np.asarray(scores).argmax(axis=1)
    return {"val_macro_f1": float(skm.f1_score(y_true, labels, average="macro", zero_division=0))}


def class_weights(y: np.ndarray) -> dict[int, float]:
    """scikit-learn's 'balanced' weights, n / (classes × count), for class indices 0…k-1."""
    y = np.asarray(y).reshape(-1).astype(np.int64)
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}


def predict_labels(kind: str, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class indices from network outputs (binary: P(positive) ≥ threshold)."""
    if kind == "binary":
        return (np.asarray(scores).reshape(-1) >= threshold).astype(np.int32)
    return np.asarray(scores).argmax(axis=1).astype(np.int32)


def _two_classes(score: Callable[[np.ndarray, np.ndarray], float]) -> Scorer:
    """An AUC: defined only when the test rows hold both classes."""

    def scorer(y: np.ndarray, pred: np.ndarray, labels: np.ndarray) -> float | None:
        return float(score(y, pred.reshape(-1))) if len(np.unique(y)) == 2 else None

    return scorer


# How each test metric is computed from (targets, raw predictions, predicted labels); which ones
# a kind reports is in config/kinds.py.
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], float | None]
SCORERS: dict[str, Scorer] = {
    "test_mae": lambda y, pred, _: float(skm.mean_absolute_error(y, pred.reshape(-1))),
    "test_rmse": lambda y, pred, _: float(np.sqrt(skm.mean_squared_error(y, pred.reshape(-1)))),
    "test_r2": lambda y, pred, _: float(skm.r2_score(y, pred.reshape(-1))),
    "test_accuracy": lambda y, _, labels: float(skm.accuracy_score(y, labels)),
    "test_precision": lambda y, _, lab: float(skm.precision_score(y, lab, zero_division=0)),
    "test_recall": lambda y, _, lab: float(skm.recall_score(y, lab, zero_division=0)),
    "test_f1": lambda y, _, lab: float(skm.f1_score(y, lab, zero_division=0)),
    "test_roc_auc": _two_classes(skm.roc_auc_score),
    "test_pr_auc": _two_classes(skm.average_precision_score),
    "test_macro_f1": lambda y, _, lab: float(
        skm.f1_score(y, lab, average="macro", zero_division=0)
    ),
}


def test_metrics(
    kind: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """The kind's test metrics at the decision threshold (scores: predictions or P(class))."""
    scores = np.asarray(scores)
    labels = scores if kind == "regression" else predict_labels(kind, scores, threshold)
    values = {name: SCORERS[name](y_true, scores, labels) for name in KINDS[kind].test_metrics}
    return {name: value for name, value in values.items() if value is not None}
