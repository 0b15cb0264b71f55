"""What a user would try first, on exactly the network's rows and preprocessing.

A linear model (Ridge / logistic regression) and scikit-learn's HistGradientBoosting, both
with default settings, fitted on train+val (the rows the final network is trained on) and
scored once on the same test split.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from sweepflow.config.kinds import KINDS
from sweepflow.data.compact import is_compact
from sweepflow.data.prepare import Prepared
from sweepflow.data.preprocess import LOG_COUNT_STEPS
from sweepflow.model.metrics import test_metrics

log = logging.getLogger("sweepflow.baselines")
HGB_MAX_CELLS = 5_000_000  # rows × features above which HistGradientBoosting is skipped here


@dataclass
class Baselines:
    """Each baseline's test metrics, and the baselines skipped with why."""

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, float]:
        """`baseline.<name>.<metric>` → value, for the search run."""
        out = {f"baseline.{n}.{k}": v for n, ms in self.metrics.items() for k, v in ms.items()}
        out.update({f"baseline.{n}.fit_seconds": s for n, s in self.seconds.items()})
        return out

    def beaten_by(self, kind: str, value: float) -> list[str]:
        """The baselines whose headline test metric is better than the network's `value`."""
        headline, higher = KINDS[kind].headline, KINDS[kind].higher_is_better
        return [
            name
            for name, ms in self.metrics.items()
            if (ms[headline] > value if higher else ms[headline] < value)
        ]


def _models(kind: str) -> dict[str, object]:
    if kind == "regression":
        return {"linear": Ridge(alpha=1.0), "hgb": HistGradientBoostingRegressor(random_state=0)}
    return {
        "linear": LogisticRegression(max_iter=500),
        "hgb": HistGradientBoostingClassifier(random_state=0),
    }


def fit_baselines(data: Prepared) -> Baselines:
    """Fit and score the linear and HistGradientBoosting baselines on the network's split."""
    out = Baselines()
    compact = is_compact(data.x_train)
    # log-count text: the log counts themselves, not their uint8 steps (the network divides too)
    step = 1 / LOG_COUNT_STEPS if getattr(data.preprocessor, "values", "") == "log_count" else 1
    x_test = sparse.csr_matrix(data.x_test, dtype=np.float32) * step if compact else data.x_test
    y = np.concatenate([data.y_train, data.y_val])
    cells = len(y) * data.n_features
    if compact:  # multi-hot text: a sparse copy, never a dense float one
        blocks = (data.x_train, data.x_val)
        x = sparse.vstack([sparse.csr_matrix(b, dtype=np.float32) for b in blocks]) * step
    else:
        x = np.concatenate([data.x_train, data.x_val])
    for name, model in _models(data.kind).items():
        if name == "hgb" and (compact or cells > HGB_MAX_CELLS):
            out.skipped[name] = (
                f"{len(y)} rows × {data.n_features} features is too large for "
                "HistGradientBoosting on this budget"
            )
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
        if data.kind == "regression":
            scores = model.predict(x_test)
        else:  # one column per class, also for a class absent from train+val
            proba = np.zeros((len(data.y_test), len(data.class_names)))
            proba[:, model.classes_] = model.predict_proba(x_test)
            scores = proba[:, 1] if data.kind == "binary" else proba
        out.metrics[name] = test_metrics(data.kind, data.y_test, scores)
        out.seconds[name] = time.perf_counter() - start
    return out
