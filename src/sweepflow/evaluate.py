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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn import metrics as skm

from sweepflow.batches import predict_scores
from sweepflow.data import Prepared
from sweepflow.engines import SearchSummary
from sweepflow.final_config import FinalConfig
from sweepflow.model import average_model, build_model, fit, fresh_state
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
    members: int = 1  # networks averaged in the final model

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
    data: Prepared,
    summary: SearchSummary,
    *,
    base_seed: int,
    out_dir: Path,
    verbose: int = 0,
    final: FinalConfig | None = None,
) -> Evaluation:
    """Retrain the best trial(s) on train+val for their best epochs; score on test.

    With `final.ensemble` > 1 the final model averages several retrained networks (the best
    params with other seeds, or the top trials) inside one Keras model.
    """
    start = time.perf_counter()
    members = plan_members(summary, final or FinalConfig(), base_seed)
    spec = model_spec(data)
    train = ([data.x_train, data.x_val], [data.y_train, data.y_val])  # no concatenated copy
    fresh_state(members[0].seed)
    networks: list[keras.Model] = []
    for i, m in enumerate(members):
        keras.utils.set_random_seed(m.seed)
        name = "sweepflow_dense" if len(members) == 1 else f"member_{i}"
        network = build_model(m.params, spec, name=name)
        fit(network, m.params, train, None, patience=1, epochs=m.epochs, verbose=verbose)
        networks.append(network)
    model = average_model(networks, spec)
    scores = predict_scores(model, data.x_test)
    metrics = test_metrics(data.kind, data.y_test, scores)
    headline, higher = HEADLINE[data.kind]
    files = _evaluation_files(data, scores, out_dir)
    if len(members) > 1:
        files.append(_ensemble_file(data, members, networks, headline, out_dir))
    seconds = time.perf_counter() - start
    epochs = members[0].epochs
    params = dict(members[0].params)
    return Evaluation(
        model, metrics, headline, higher, epochs, seconds, files, params, len(members)
    )


@dataclass(frozen=True)
class Member:
    """One network of the final model: whose params, trained for how long, from which seed."""

    trial: int
    params: dict[str, Any]
    epochs: int
    seed: int


def plan_members(summary: SearchSummary, final: FinalConfig, base_seed: int) -> list[Member]:
    """The networks the final model averages (one unless `final.ensemble` > 1)."""
    if final.members == "top":
        return [
            Member(c.number, c.params, max(1, c.best_epoch), trial_seed(base_seed, c.number))
            for c in summary.candidates(final.ensemble)
        ]
    seed = trial_seed(base_seed, summary.best_number)
    epochs = max(1, int(summary.best_epoch))
    return [
        Member(summary.best_number, summary.best_params, epochs, seed + i)
        for i in range(final.ensemble)
    ]


def _ensemble_file(
    data: Prepared, members: list[Member], networks: list[keras.Model], headline: str, out: Path
) -> Path:
    """ensemble.json: each member's trial, params, epochs, seed and its own test metric."""
    rows = []
    for m, network in zip(members, networks, strict=True):
        own = test_metrics(data.kind, data.y_test, predict_scores(network, data.x_test))
        rows.append({**asdict(m), headline: own[headline]})
    path = out / "ensemble.json"
    path.write_text(json.dumps({"members": rows}, indent=1, default=str))
    return path


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
