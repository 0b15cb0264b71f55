"""Supervised term weights for multi-hot text: naive-Bayes log-count ratios (NBSVM)."""

from __future__ import annotations

import numpy as np

_CHUNK = 256  # rows cast to float32 at a time (20,000 terms: a 20 MB block)


def nb_ratios(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Each term's log((p / |p|₁) / (q / |q|₁)), p and q its smoothed counts in class 1 and 0.

    Wang & Manning (2012), "Baselines and Bigrams": scaling a binary bag of words by these ratios
    lets a linear model (and a Dense network's first layer) start from the naive-Bayes evidence.
    Computed from the rows given (the training split only: validation and test stay unseen).
    """
    labels = np.asarray(y).reshape(-1).astype(np.float32)
    positive = np.full(x.shape[1], alpha, dtype=np.float64)
    negative = np.full(x.shape[1], alpha, dtype=np.float64)
    for start in range(0, len(labels), _CHUNK):
        block = np.asarray(x[start : start + _CHUNK], dtype=np.float32)
        ones = labels[start : start + _CHUNK]
        positive += ones @ block
        negative += (1.0 - ones) @ block
    ratio = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
    return ratio.astype(np.float32)
