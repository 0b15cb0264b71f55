"""Paired comparison of a challenger with the champion on the same test examples."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from sweepflow.config.kinds import KINDS


@dataclass(frozen=True)
class Comparison:
    """The decision record: both metrics, the test used, its p-value and interval, the verdict."""

    metric: str
    champion: float
    challenger: float
    higher_is_better: bool
    test: str
    p_value: float
    ci_low: float  # 95 % interval of the improvement (challenger better > 0)
    ci_high: float
    margin: float
    alpha: float
    promoted: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """A flat dict for tags and JSON."""
        return asdict(self)


def mcnemar(champion_correct: np.ndarray, challenger_correct: np.ndarray) -> tuple[float, int, int]:
    """One-sided exact McNemar test that the challenger is right more often.

    Returns (p-value, n champion-only correct, n challenger-only correct).
    """
    a = np.asarray(champion_correct, dtype=bool)
    b = np.asarray(challenger_correct, dtype=bool)
    only_champion, only_challenger = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_champion + only_challenger
    if n == 0:
        return 1.0, 0, 0
    p = stats.binomtest(only_challenger, n, 0.5, alternative="greater").pvalue
    return float(p), only_champion, only_challenger


def paired_bootstrap(
    improvement: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Bootstrap the mean per-example improvement; returns (one-sided p, 95 % CI low, high)."""
    diff = np.asarray(improvement, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    means = diff[idx].mean(axis=1)
    p = float((np.sum(means <= 0) + 1) / (n_boot + 1))
    low, high = np.percentile(means, [2.5, 97.5])
    return p, float(low), float(high)


def compare(
    kind: str,
    y_true: np.ndarray,
    champion_pred: np.ndarray,
    challenger_pred: np.ndarray,
    *,
    test: str = "auto",
    alpha: float = 0.05,
    margin: float = 0.0,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Promote only if the challenger is better by more than `margin` and the paired test says so.

    Classification compares per-example correctness (McNemar, or a paired bootstrap of
    accuracy); regression compares absolute errors with a paired bootstrap (metric: MAE).
    """
    y_true = np.asarray(y_true)
    metric = KINDS[kind].headline  # mean |error| (MAE) or accuracy over the same test rows
    test = KINDS[kind].comparison if test == "auto" else test
    if kind == "regression":
        if test != "bootstrap":
            raise ValueError("regression supports only the paired bootstrap")
        err_champ = np.abs(np.asarray(champion_pred, dtype=np.float64) - y_true)
        err_chal = np.abs(np.asarray(challenger_pred, dtype=np.float64) - y_true)
        improvement = err_champ - err_chal  # > 0 where the challenger errs less
        champ_metric, chal_metric = float(err_champ.mean()), float(err_chal.mean())
    else:
        right_champ = np.asarray(champion_pred) == y_true
        right_chal = np.asarray(challenger_pred) == y_true
        improvement = right_chal.astype(np.float64) - right_champ
        champ_metric, chal_metric = float(right_champ.mean()), float(right_chal.mean())
    boot_p, low, high = paired_bootstrap(improvement, n_boot, seed)
    p = mcnemar(right_champ, right_chal)[0] if test == "mcnemar" else boot_p
    gain = float(improvement.mean())
    promoted = gain > margin and p < alpha
    sign = "better" if gain > 0 else "not better"
    reason = (
        f"challenger {metric}={chal_metric:.4f} vs champion {champ_metric:.4f} ({sign}; "
        f"improvement {gain:+.4f}, 95% CI [{low:+.4f}, {high:+.4f}]); {test} p={p:.4g} "
        f"{'<' if p < alpha else '≥'} {alpha}; margin {margin}"
    )
    return Comparison(
        metric,
        champ_metric,
        chal_metric,
        KINDS[kind].higher_is_better,
        test,
        p,
        low,
        high,
        margin,
        alpha,
        promoted,
        reason,
    )
