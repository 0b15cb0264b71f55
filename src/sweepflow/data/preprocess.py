"""Preprocessors fitted on the training split only, saved as JSON to travel with the model."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import QuantileTransformer

from sweepflow.config.data import TERM_VALUES
from sweepflow.data.weights import chi2_terms
from sweepflow.errors import DataError

_TOKEN = re.compile(r"[a-z0-9']+")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


MISSING = "(missing)"  # the level a missing categorical cell becomes


@dataclass
class TabularPreprocessor:
    """Imputation, one-hot categoricals, log(1 + x), quantile / standard / min-max scaling and
    an optional smooth clip of the scaled values.

    Missing numeric cells get the training median plus a 0/1 indicator column (for columns
    that had any missing cell in training); missing categorical cells are their own level; an
    unseen category is all zeros. Everything is fitted on the training rows only.
    """

    numeric: list[str]
    categorical: dict[str, list[str]]
    scaling: str = "minmax"
    offset: list[float] = field(default_factory=list)  # min or mean
    scale: list[float] = field(default_factory=list)  # range or std (never 0)
    type: str = "tabular"
    log1p: list[str] = field(default_factory=list)  # numeric columns logged before scaling
    missing: str = "error"  # impute | error (missing cells refused)
    fill: list[float] = field(default_factory=list)  # per numeric column: the training median
    indicators: list[str] = field(default_factory=list)  # numeric columns with a missing flag
    quantiles: list[list[float]] = field(default_factory=list)  # scaling: quantile
    references: list[float] = field(default_factory=list)
    clip: float = 0.0  # > 0: scaled values bent towards ±clip, x / sqrt(1 + (x / clip)^2)

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        categorical: Sequence[str],
        scaling: str,
        log1p: Sequence[str] = (),
        missing: str = "error",
        clip: float = 0.0,
    ) -> TabularPreprocessor:
        """Learn medians, categories and scaling statistics from the training frame."""
        numeric = [c for c in frame.columns if c not in categorical]
        unknown = [c for c in log1p if c not in numeric]
        if unknown:
            raise DataError(
                f"data.log1p names {unknown}, which are not numeric feature columns; "
                f"numeric columns: {numeric}"
            )
        cats = {c: sorted(_levels(frame[c]).unique().tolist()) for c in categorical}
        pre = cls(numeric, cats, scaling, log1p=list(log1p), missing=missing, clip=float(clip))
        raw = pre.numeric_values(frame, impute=False)
        holes = np.isnan(raw)
        with np.errstate(all="ignore"):
            medians = np.nanmedian(np.where(holes.all(axis=0), 0.0, raw), axis=0)
        pre.fill = np.nan_to_num(medians).tolist()
        pre.indicators = [
            c for c, any_hole in zip(numeric, holes.any(axis=0), strict=True) if any_hole
        ]
        values = pre.numeric_values(frame)
        offset, span = np.zeros(len(numeric)), np.ones(len(numeric))
        if scaling == "quantile" and numeric:
            fitted = QuantileTransformer(
                n_quantiles=max(2, min(1000, len(frame))), output_distribution="normal"
            ).fit(values)
            pre.quantiles = fitted.quantiles_.tolist()
            pre.references = fitted.references_.tolist()
        elif scaling == "minmax":
            offset, span = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
        elif scaling == "standard":
            offset, span = values.mean(axis=0), values.std(axis=0)
        pre.offset, pre.scale = offset.tolist(), np.where(span > 0, span, 1.0).tolist()
        return pre

    def numeric_values(self, frame: pd.DataFrame, impute: bool = True) -> np.ndarray:
        """The numeric columns as float64 (missing cells imputed; `log1p` ones as log(1 + x))."""
        values = numeric_matrix(frame, self.numeric, allow_missing=self.missing == "impute")
        if impute and self.fill:
            holes = np.isnan(values)
            values[holes] = np.take(np.asarray(self.fill), np.nonzero(holes)[1])
        for col in self.log1p:
            j = self.numeric.index(col)
            if (values[:, j] < 0).any():
                row = frame.index[int(np.argmax(values[:, j] < 0))]
                raise DataError(
                    f"column '{col}' is listed under data.log1p but has a negative value "
                    f"{np.nanmin(values[:, j])} (data row {row}); log1p needs values ≥ 0 — "
                    "remove it from data.log1p"
                )
            values[:, j] = np.log1p(values[:, j])
        return values

    @property
    def feature_names(self) -> list[str]:
        """Names of the model-input columns, in order."""
        flags = [f"{c}=missing" for c in self.indicators]
        onehot = [f"{c}={v}" for c, vals in self.categorical.items() for v in vals]
        return list(self.numeric) + flags + onehot

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        if self.quantiles:
            qt = QuantileTransformer(n_quantiles=len(self.quantiles), output_distribution="normal")
            qt.quantiles_ = np.asarray(self.quantiles, dtype=np.float64)
            qt.references_ = np.asarray(self.references, dtype=np.float64)
            qt.n_features_in_ = len(self.numeric)
            scaled = qt.transform(values)
        else:
            scaled = (values - np.asarray(self.offset)) / np.asarray(self.scale)
        if self.clip > 0:  # near 0 unchanged, ±clip at most; an outlier keeps its order
            scaled = scaled / np.sqrt(1.0 + (scaled / self.clip) ** 2)
        return scaled

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Turn a raw frame into the float32 matrix the network takes."""
        needed = list(self.numeric) + list(self.categorical)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(f"input is missing column(s) {missing}; expected {needed}")
        flags = numeric_matrix(frame, self.indicators, allow_missing=True)
        blocks = [self._scaled(self.numeric_values(frame)).astype(np.float32)]
        blocks.append(np.isnan(flags).astype(np.float32))
        for col, vals in self.categorical.items():
            codes = pd.Categorical(_levels(frame[col]), categories=vals).codes
            onehot = np.zeros((len(frame), len(vals)), dtype=np.float32)
            known = codes >= 0
            onehot[np.nonzero(known)[0], codes[known]] = 1.0
            blocks.append(onehot)
        return np.concatenate(blocks, axis=1)


def _levels(column: pd.Series) -> pd.Series:
    """A categorical column as strings, a missing cell (NaN / None) as its own level."""
    return column.astype(object).where(column.notna(), MISSING).astype(str)


def numeric_matrix(
    frame: pd.DataFrame, columns: Sequence[str], allow_missing: bool = False
) -> np.ndarray:
    """The columns as float64, or a DataError naming the first bad column, row and value."""
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            row = bad.idxmax()
            raise DataError(
                f"column '{col}' has non-numeric value {frame[col][row]!r} "
                f"(data row {row}, 0-based); fix the data or list the column under data.categorical"
            )
        if converted.isna().any() and not allow_missing:
            row = converted.isna().idxmax()
            raise DataError(
                f"column '{col}' has a missing value (NaN) in data row {row} (0-based); "
                "fill or drop missing values, or set data.missing: impute"
            )
        out[:, j] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(out[:, j]).any():
            row = frame.index[int(np.argmax(np.isinf(out[:, j])))]
            raise DataError(f"column '{col}' has an infinite value in data row {row} (0-based)")
    return out


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, HTML line breaks removed (as in the raw IMDB reviews)."""
    return _TOKEN.findall(_HTML_BREAK.sub(" ", text.lower()))


@dataclass
class TextPreprocessor:
    """A bag of words (and, with ngrams=2, word pairs) learned from the training texts."""

    vocabulary: list[str]  # unigrams "word" and bigrams "word next", most frequent first
    type: str = "text"
    ngrams: int = 1  # 1: words only; 2: words and adjacent word pairs compete for the slots
    values: str = "binary"  # binary (0/1) | log_count (log(1 + the term's count in the text))

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        num_words: int,
        ngrams: int = 1,
        select: str = "frequency",
        labels: np.ndarray | None = None,
        values: str = "binary",
    ) -> TextPreprocessor:
        """Keep `num_words` tokens (and bigrams) of the training texts: the most frequent, or
        (select="chi2", with the texts' labels) the highest chi² with the label among the terms
        in at least two texts."""
        index: dict[str, int] = {}
        docs = [
            np.fromiter((index.setdefault(t, len(index)) for t in tokenize(text)), dtype=np.int64)
            for text in texts
        ]
        words = list(index)
        if select == "chi2":
            if labels is None:
                raise ValueError("select='chi2' needs the texts' labels")
            terms = chi2_terms(docs, words, num_words, ngrams, labels)
            return cls(terms, ngrams=ngrams, values=values)
        codes = [np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)]
        if ngrams >= 2:  # a bigram as one int64 code (first * V + second), counted in numpy
            pairs = [d[:-1] * len(words) + d[1:] for d in docs if len(d) > 1]
            codes.append(np.concatenate(pairs) if pairs else np.zeros(0, dtype=np.int64))
        ranked: list[tuple[int, str]] = []
        for order, flat in enumerate(codes, start=1):
            uniq, counts = np.unique(flat, return_counts=True)
            if len(counts) > num_words:  # keep every term tied with the num_words-th count
                keep = counts >= np.partition(counts, len(counts) - num_words)[-num_words]
                uniq, counts = uniq[keep], counts[keep]
            for code, n in zip(uniq.tolist(), counts.tolist(), strict=True):
                first, second = divmod(code, len(words))
                term = words[code] if order == 1 else f"{words[first]} {words[second]}"
                ranked.append((n, term))
        ranked.sort(key=lambda kv: (-kv[0], kv[1]))
        return cls([term for _, term in ranked[:num_words]], ngrams=ngrams, values=values)

    def terms(self, text: str) -> list[str]:
        """The unigrams (and bigrams) of one text."""
        tokens = tokenize(str(text))
        if self.ngrams < 2:
            return tokens
        return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]

    def transform(self, texts: Iterable[str], as_sparse: bool = False) -> Any:
        """Encode texts as a compact uint8 matrix (cast to float per batch): multi-hot, or
        log counts in steps (values="log_count", `term_matrix`)."""
        index = {term: i for i, term in enumerate(self.vocabulary)}
        rows = [  # int32 arrays, not lists of Python ints: ~8x less memory on large corpora
            np.fromiter((index[t] for t in self.terms(text) if t in index), dtype=np.int32)
            for text in texts
        ]
        return term_matrix(rows, len(self.vocabulary), as_sparse, self.values)


@dataclass
class SequencePreprocessor:
    """A bag of words from word-index sequences (the `keras.datasets` imdb/reuters format)."""

    num_words: int
    type: str = "sequence"
    values: str = "binary"  # binary (0/1) | log_count (log(1 + the word's count in the text))

    def transform(self, sequences: Iterable[Iterable[int]], as_sparse: bool = False) -> Any:
        """Encode index sequences (multi-hot, or log counts); indices ≥ num_words are dropped."""
        rows = [[int(i) for i in seq if 0 <= int(i) < self.num_words] for seq in sequences]
        return term_matrix(rows, self.num_words, as_sparse, self.values)


@dataclass
class ImagePreprocessor:
    """Scale pixel values to [0, 1] and flatten each image."""

    shape: list[int]
    max_value: float = 255.0
    type: str = "image"

    def transform(self, images: Any) -> np.ndarray:
        """Flatten images of `shape` (or already-flat rows) into float32 in [0, 1]."""
        arr = np.asarray(images)
        size = int(np.prod(self.shape))
        if arr.ndim < 1 or arr.size % size or (arr.ndim > 1 and arr[0].size != size):
            raise DataError(f"expected images of shape {self.shape}, got array {arr.shape}")
        return (arr.reshape(-1, size).astype(np.float32)) / np.float32(self.max_value)


Preprocessor = TabularPreprocessor | TextPreprocessor | SequencePreprocessor | ImagePreprocessor
_TYPES = {
    "tabular": TabularPreprocessor,
    "text": TextPreprocessor,
    "sequence": SequencePreprocessor,
    "image": ImagePreprocessor,
}


LOG_COUNT_STEPS = 32  # log_count inputs: log(1 + count) in steps of 1/32, held as uint8


def term_matrix(
    rows: Sequence[Sequence[int]], width: int, as_sparse: bool = False, values: str = "binary"
) -> Any:
    """Rows of term indices → the (n, width) uint8 input (CSR if `as_sparse`): `multi_hot` 0/1,
    or (values="log_count") log(1 + count) × LOG_COUNT_STEPS, rounded (counts past ~2,900 are
    clipped); the network divides by LOG_COUNT_STEPS (`Prepared.feature_scale`)."""
    if values == "binary":
        return multi_hot(rows, width, as_sparse)
    if values != "log_count":
        raise ValueError(f"unknown term values {values!r}; use one of {TERM_VALUES}")
    counts = count_matrix(rows, width)
    steps = np.minimum(np.rint(np.log1p(counts.data) * LOG_COUNT_STEPS), 255).astype(np.uint8)
    out = sparse.csr_matrix((steps, counts.indices, counts.indptr), counts.shape)
    return out if as_sparse else out.toarray()


def count_matrix(rows: Sequence[Sequence[int]], width: int) -> sparse.csr_matrix:
    """Rows of indices (repeats allowed) → a (n, width) CSR matrix of int32 counts."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.concatenate([np.zeros(0, np.int64), *(np.asarray(r, np.int64) for r in rows)])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    out = sparse.csr_matrix((np.ones(len(flat), np.int32), flat, indptr), (len(rows), width))
    out.sum_duplicates()
    return out


def multi_hot(rows: Sequence[Sequence[int]], width: int, as_sparse: bool = False) -> Any:
    """Rows of indices (repeats allowed) → a (n, width) uint8 0/1 matrix (CSR if `as_sparse`)."""
    if as_sparse:  # a few % of a dense matrix: the held-out split, only ever read in batches
        counts = count_matrix(rows, width)
        return sparse.csr_matrix(
            (np.ones(counts.nnz, np.uint8), counts.indices, counts.indptr), counts.shape
        )
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.concatenate([np.zeros(0, np.int64), *(np.asarray(r, np.int64) for r in rows)])
    out = np.zeros((len(rows), width), dtype=np.uint8)
    out[np.repeat(np.arange(len(rows)), lengths), flat] = 1
    return out


def to_dict(pre: Preprocessor) -> dict[str, Any]:
    """A JSON-ready description of a fitted preprocessor (no pickles)."""
    return asdict(pre)


def from_dict(data: dict[str, Any]) -> Preprocessor:
    """Rebuild a preprocessor saved with `to_dict`."""
    kind = data.get("type")
    if kind not in _TYPES:
        raise DataError(f"unknown preprocessor type {kind!r}")
    return _TYPES[kind](**data)
