"""Final evaluation: retrain the best configuration on train+val, score it on the unseen test split.

Why retrain rather than reuse the best trial's weights: the search only ever saw the training
split (validation was held out to choose and to stop), so the final model gets train+val — 20 %
more data — and is trained for the best trial's *best epoch* (the epoch early stopping restored),
with the best trial's seed. No validation set is left to stop on, so the recorded epoch count is
the stopping rule. The test split is touched here exactly once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn import metrics as skm

from sweepflow.data import Prepared
from sweepflow.engines import SearchSummary
from sweepflow.model import build_model, fit, fresh_state, predict_scores
from sweepflow.plots import confusion_matrix_plot, predicted_vs_actual
from sweepflow.trial import model_spec, trial_seed

# The test metric that decides the champion, and whether higher is better.
HEADLINE = {
    "regression": ("test_mae", False),
    "binary": ("test_accuracy", True),
    "multiclass": ("test_accuracy", True),
}


@dataclass
class Evaluation:
    """The final model and its test-split figures."""

    model: keras.Model
    metrics: dict[str, float]
    headline: str
    higher_is_better: bool
    epochs: int
    seconds: float
    files: list[Path] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        """The headline test metric."""
        return self.metrics[self.headline]


def predict_labels(kind: str, scores: np.ndarray) -> np.ndarray:
    """Class indices from network outputs (binary cut-off 0.5)."""
    if kind == "binary":
        return (scores.reshape(-1) >= 0.5).astype(np.int32)
    return scores.argmax(axis=1).astype(np.int32)


def test_metrics(kind: str, y_true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The kind's test metrics (scalars), plus confusion matrix / report under non-scalar keys."""
    if kind == "regression":
        pred = scores.reshape(-1)
        return {
            "test_mae": float(skm.mean_absolute_error(y_true, pred)),
            "test_rmse": float(np.sqrt(skm.mean_squared_error(y_true, pred))),
            "test_r2": float(skm.r2_score(y_true, pred)),
        }
    labels = predict_labels(kind, scores)
    out: dict[str, Any] = {"test_accuracy": float(skm.accuracy_score(y_true, labels))}
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
    else:
        out["test_macro_f1"] = float(skm.f1_score(y_true, labels, average="macro", zero_division=0))
    return out


def final_evaluate(
    data: Prepared, summary: SearchSummary, *, base_seed: int, out_dir: Path, verbose: int = 0
) -> Evaluation:
    """Retrain the best params on train+val for the best trial's best epoch; score on test."""
    start = time.perf_counter()
    params = summary.best_params
    epochs = max(1, int(summary.best_epoch))
    fresh_state(trial_seed(base_seed, summary.best_number))
    model = build_model(params, model_spec(data))
    train = ([data.x_train, data.x_val], [data.y_train, data.y_val])  # no concatenated copy
    fit(model, params, train, None, patience=1, epochs=epochs, verbose=verbose)
    scores = predict_scores(model, data.x_test)
    metrics = test_metrics(data.kind, data.y_test, scores)
    files = _evaluation_files(data, scores, out_dir)
    headline, higher = HEADLINE[data.kind]
    seconds = time.perf_counter() - start
    return Evaluation(model, metrics, headline, higher, epochs, seconds, files, dict(params))


def _evaluation_files(data: Prepared, scores: np.ndarray, out: Path) -> list[Path]:
    if data.kind == "regression":
        return [
            predicted_vs_actual(
                data.y_test,
                scores.reshape(-1),
                out / "predicted_vs_actual.png",
                "test split: predicted vs actual",
            )
        ]
    labels = predict_labels(data.kind, scores)
    ticks = list(range(len(data.class_names)))
    matrix = skm.confusion_matrix(data.y_test, labels, labels=ticks)
    report = skm.classification_report(
        data.y_test, labels, labels=ticks, target_names=data.class_names, zero_division=0
    )
    (out / "classification_report.txt").write_text(report)
    (out / "confusion_matrix.json").write_text(
        json.dumps({"labels": data.class_names, "matrix": matrix.tolist()})
    )
    png = confusion_matrix_plot(
        matrix, data.class_names, out / "confusion_matrix.png", "test split: confusion matrix"
    )
    return [png, out / "confusion_matrix.json", out / "classification_report.txt"]
