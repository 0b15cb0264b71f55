"""Supervised text inputs from the training split: chi² term selection, NB log-count ratios."""

from __future__ import annotations

import numpy as np

_CHUNK = 256  # rows cast to float32 at a time (20,000 terms: a 20 MB block)


def nb_ratios(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Each term's log((p / |p|₁) / (q / |q|₁)), p and q its smoothed counts in class 1 and 0.

    Wang & Manning (2012), "Baselines and Bigrams": scaling a binary bag of words by these ratios
    lets a linear model (and a Dense network's first layer) start from the naive-Bayes evidence.
    Computed from the rows given (the training split only: validation and test stay unseen);
    `x` is a dense 0/1 matrix or a scipy sparse one.
    """
    labels = np.asarray(y).reshape(-1).astype(np.float32)
    positive = np.full(x.shape[1], alpha, dtype=np.float64)
    negative = np.full(x.shape[1], alpha, dtype=np.float64)
    for start in range(0, len(labels), _CHUNK):
        block = x[start : start + _CHUNK]
        if isinstance(block, np.ndarray):  # dense uint8: cast a block; sparse stays sparse
            block = block.astype(np.float32)
        ones = labels[start : start + _CHUNK]
        positive += np.asarray(ones @ block).ravel()
        negative += np.asarray((1.0 - ones) @ block).ravel()
    ratio = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
    return ratio.astype(np.float32)


def chi2_terms(
    docs: list[np.ndarray], words: list[str], num_words: int, ngrams: int, labels: np.ndarray
) -> list[str]:
    """The `num_words` terms in ≥ 2 texts with the highest chi² (scikit-learn's) with the label.

    Each text is a row of a sparse 0/1 text × term matrix; a unigram is its word code, a bigram
    V + first * V + second (V words), so both kinds compete for the same slots.
    """
    from scipy import sparse
    from sklearn.feature_selection import chi2

    v = len(words)
    rows = []
    for d in docs:
        terms = [d] + ([v + d[:-1] * v + d[1:]] if ngrams >= 2 and len(d) > 1 else [])
        rows.append(np.unique(np.concatenate(terms)))
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    codes, column = np.unique(flat, return_inverse=True)
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    matrix = sparse.csr_matrix(
        (np.ones(len(flat), dtype=np.float32), column, indptr), shape=(len(rows), len(codes))
    )
    candidates = np.flatnonzero(np.bincount(column, minlength=len(codes)) >= 2)
    scores = np.nan_to_num(chi2(matrix[:, candidates], np.asarray(labels).reshape(-1))[0])
    best = candidates[np.argsort(-scores, kind="stable")[:num_words]]

    def term(code: int) -> str:
        if code < v:
            return words[code]
        first, second = divmod(code - v, v)
        return f"{words[first]} {words[second]}"

    return [term(int(c)) for c in codes[best]]
