"""Scores computed from predictions (not by Keras): F1 at the best threshold, class weights."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm
from sklearn.utils.class_weight import compute_class_weight

F1_OBJECTIVES = ("val_f1", "val_macro_f1")  # computed on the validation rows every epoch


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


# The test metric that decides the champion, and whether higher is better.
HEADLINE = {
    "regression": ("test_mae", False),
    "binary": ("test_accuracy", True),
    "multiclass": ("test_accuracy", True),
}


def predict_labels(kind: str, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class indices from network outputs (binary: P(positive) ≥ threshold)."""
    if kind == "binary":
        return (np.asarray(scores).reshape(-1) >= threshold).astype(np.int32)
    return np.asarray(scores).argmax(axis=1).astype(np.int32)


def test_metrics(
    kind: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """The kind's test metrics at the decision threshold (scores: predictions or P(class))."""
    scores = np.asarray(scores)
    if kind == "regression":
        pred = scores.reshape(-1)
        return {
            "test_mae": float(skm.mean_absolute_error(y_true, pred)),
            "test_rmse": float(np.sqrt(skm.mean_squared_error(y_true, pred))),
            "test_r2": float(skm.r2_score(y_true, pred)),
        }
    labels = predict_labels(kind, scores, threshold)
    out = {"test_accuracy": float(skm.accuracy_score(y_true, labels))}
    if kind == "binary":
        out.update(
            {
                "test_precision": float(skm.precision_score(y_true, labels, zero_division=0)),
                "test_recall": float(skm.recall_score(y_true, labels, zero_division=0)),
                "test_f1": float(skm.f1_score(y_true, labels, zero_division=0)),
            }
        )
        if len(np.unique(y_true)) == 2:
            out["test_roc_auc"] = float(skm.roc_auc_score(y_true, scores.reshape(-1)))
            out["test_pr_auc"] = float(skm.average_precision_score(y_true, scores.reshape(-1)))
    else:
        out["test_macro_f1"] = float(skm.f1_score(y_true, labels, average="macro", zero_division=0))
    return out
