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

from sweepflow.config.final import FinalConfig
from sweepflow.config.kinds import KINDS
from sweepflow.data.compact import predict_scores
from sweepflow.data.prepare import Prepared
from sweepflow.engines import SearchSummary
from sweepflow.model.metrics import predict_labels, test_metrics
from sweepflow.model.network import average_model, build_model, fit, fresh_state
from sweepflow.model.trial import model_spec, trial_seed
from sweepflow.plots import confusion_matrix_plot, predicted_vs_actual


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
    threshold: float = 0.5  # binary: P(positive) cut-off (chosen on validation for F1)
    warnings: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        """The headline test metric."""
        return self.metrics[self.headline]


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
        fit(
            network, m.params, train, None, patience=1, epochs=m.epochs, verbose=verbose,
            image_shape=spec.image_shape,
        )  # fmt: skip
        networks.append(network)
    model = average_model(networks, spec)
    scores = predict_scores(model, data.x_test)
    threshold = summary.threshold if data.kind == "binary" else 0.5
    metrics = test_metrics(data.kind, data.y_test, scores, threshold)
    headline, higher = KINDS[data.kind].headline, KINDS[data.kind].higher_is_better
    files = _evaluation_files(data, scores, out_dir, threshold)
    if len(members) > 1:
        files.append(_ensemble_file(data, members, networks, headline, out_dir, threshold))
    seconds = time.perf_counter() - start
    epochs = members[0].epochs
    params = dict(members[0].params)
    return Evaluation(
        model,
        metrics,
        headline,
        higher,
        epochs,
        seconds,
        files,
        params,
        len(members),
        threshold,
        single_class_warning(data, scores, threshold),
    )


def single_class_warning(data: Prepared, scores: np.ndarray, threshold: float) -> list[str]:
    """A warning when every test prediction is one class (an imbalanced table's usual trap)."""
    if data.kind == "regression" or len(data.y_test) < 2:
        return []
    labels = np.unique(predict_labels(data.kind, scores, threshold))
    if len(labels) > 1:
        return []
    name = data.class_names[int(labels[0])]
    return [
        f"every test prediction is class '{name}'; the model never predicts the others — "
        "try training.class_weight: balanced or objective.metric: val_f1 / val_pr_auc"
    ]


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
    data: Prepared,
    members: list[Member],
    networks: list[keras.Model],
    headline: str,
    out: Path,
    threshold: float,
) -> Path:
    """ensemble.json: each member's trial, params, epochs, seed and its own test metric."""
    rows = []
    for m, network in zip(members, networks, strict=True):
        scores = predict_scores(network, data.x_test)
        own = test_metrics(data.kind, data.y_test, scores, threshold)
        rows.append({**asdict(m), headline: own[headline]})
    path = out / "ensemble.json"
    path.write_text(json.dumps({"members": rows}, indent=1, default=str))
    return path


def _evaluation_files(
    data: Prepared, scores: np.ndarray, out: Path, threshold: float
) -> list[Path]:
    if data.kind == "regression":
        return [
            predicted_vs_actual(
                data.y_test,
                scores.reshape(-1),
                out / "predicted_vs_actual.png",
                "test split: predicted vs actual",
            )
        ]
    labels = predict_labels(data.kind, scores, threshold)
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
