"""The `data:` section of a task YAML: where the data comes from and how it is prepared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweepflow.config.fields import positive, take, typed
from sweepflow.errors import ConfigError

SOURCES = ("csv", "sklearn", "keras")
SCALINGS = ("quantile", "standard", "minmax", "none")
TEXT_WEIGHTS = ("none", "nb")
TERM_SELECTIONS = ("frequency", "chi2")
TERM_VALUES = ("binary", "log_count")  # what a text input holds per term (preprocess.term_matrix)
DATASETS = {  # the named datasets of each non-CSV source
    "sklearn": ("diabetes", "breast_cancer", "digits", "wine", "iris"),
    "keras": ("boston_housing", "fashion_mnist", "imdb", "reuters"),
}


@dataclass(frozen=True)
class DataConfig:
    """Where a task's data comes from and how it is split and prepared."""

    source: str
    name: str | None = None  # dataset name for sklearn / keras sources
    path: str | None = None  # CSV path (absolute, or relative to the data folder)
    url: str | None = None  # where to download the CSV from when it is not local
    target: str | None = None
    categorical: tuple[str, ...] | None = None  # None: detect non-numeric columns
    # standard (mean 0, sd 1; the default: on 4-fold CV inside the training rows it beat quantile
    # on 8 of 10 tables, minmax on 7 — bench/results/experiments/defaults_cv.md)
    # | quantile | minmax | none
    scaling: str = "standard"
    log1p: tuple[str, ...] = ()  # numeric columns replaced by log(1 + x) before scaling
    # c > 0: scaled numeric values bent smoothly towards ±c, x / sqrt(1 + (x / c)^2) (RealMLP's
    # smooth clipping); None: off, the default (a fixed net's CV gained on 8 of 10 tables, the
    # default search's own CV / validation lost on 6 of 7: experiments/smooth_clip.md)
    clip: float | None = None
    # regression: standard (the net predicts standardised y) | none; the loader fills in
    # standard for regression and none for classification when the YAML leaves it out
    target_scaling: str = "none"
    missing: str = "impute"  # impute (median + indicator / own level) | error (strict)
    drop: tuple[str, ...] = ()  # columns left out of the features
    sep: str = ","  # CSV field separator
    encoding: str = "utf-8"  # CSV text encoding
    num_words: int = 10_000
    ngrams: int = 1  # raw text: 1 = words, 2 = words + adjacent word pairs (same num_words slots)
    # none | nb: binary text tasks, each term's multi-hot input scaled by its naive-Bayes
    # log-count ratio on the training split (NBSVM, Wang & Manning 2012), inside the network
    text_weights: str = "none"
    # frequency | chi2: raw text's num_words terms, the most frequent or the highest chi² with the
    # label among those in ≥ 2 training texts (training split only)
    select_terms: str = "frequency"
    # binary (0/1 per term) | log_count: log(1 + the term's count in the text), held as uint8
    # steps of 1/32 (the memory of binary; on reuters' validation split it beat binary,
    # bench/results/experiments/reuters_inputs.md)
    term_values: str = "binary"
    test_fraction: float = 0.2  # used when the dataset has no official test split
    val_fraction: float = 0.2
    split_seed: int = 42
    max_rows: int | None = None  # subsample (tests and quick looks)


def parse_data(source: str, raw: Any) -> DataConfig:
    """Validate the `data:` mapping of a task YAML."""
    d = take(source, raw, "data", set(DataConfig.__dataclass_fields__))
    src = d.get("source")
    if src not in SOURCES:
        raise ConfigError(source, "data.source", f"must be one of {SOURCES}, got {src!r}")
    for key in ("name", "path", "url", "target"):
        if d.get(key) is not None:
            typed(source, f"data.{key}", d[key], str)
    if src == "csv":
        for key in ("path", "target"):
            if not d.get(key):
                raise ConfigError(source, f"data.{key}", "required for a csv source")
    elif d.get("name") not in DATASETS[src]:
        why = "required" if not d.get("name") else f"unknown dataset {d['name']!r}"
        raise ConfigError(source, "data.name", f"{why}; use one of {DATASETS[src]}")
    if d.get("scaling", "standard") not in SCALINGS:
        raise ConfigError(source, "data.scaling", f"must be one of {SCALINGS}")
    if d.get("missing", "impute") not in ("impute", "error"):
        raise ConfigError(
            source, "data.missing", "must be impute (fill missing cells) or error (refuse them)"
        )
    for key in ("sep", "encoding"):
        if key in d and (not isinstance(d[key], str) or not d[key]):
            raise ConfigError(source, f"data.{key}", f"must be a non-empty string, got {d[key]!r}")
    if "encoding" in d:
        import codecs

        try:
            codecs.lookup(d["encoding"])
        except LookupError:
            raise ConfigError(
                source, "data.encoding", f"unknown encoding {d['encoding']!r} (e.g. utf-8, latin-1)"
            ) from None
    if d.get("clip") is not None and not positive(d["clip"]):
        raise ConfigError(
            source, "data.clip", f"must be a number > 0 or null (off), got {d['clip']!r}"
        )
    if d.get("clip") is not None and d.get("name") in ("fashion_mnist", "imdb", "reuters"):
        raise ConfigError(
            source, "data.clip", f"bends a table's numeric columns; {d['name']} is not a table"
        )
    if d.get("target_scaling", "none") not in ("none", "standard"):
        raise ConfigError(source, "data.target_scaling", "must be none or standard")
    for key in ("test_fraction", "val_fraction"):
        value = typed(source, f"data.{key}", d.get(key, 0.2), (int, float))
        if not 0 < value < 1:
            raise ConfigError(source, f"data.{key}", f"must be between 0 and 1, got {value}")
    for key, low in (("num_words", 1), ("split_seed", 0), ("max_rows", 1), ("ngrams", 1)):
        if d.get(key) is not None and typed(source, f"data.{key}", d[key], int) < low:
            raise ConfigError(source, f"data.{key}", f"must be ≥ {low}, got {d[key]}")
    if d.get("ngrams", 1) not in (1, 2):
        raise ConfigError(source, "data.ngrams", f"must be 1 or 2, got {d['ngrams']!r}")
    if d.get("text_weights", "none") not in TEXT_WEIGHTS:
        raise ConfigError(source, "data.text_weights", f"must be one of {TEXT_WEIGHTS}")
    if d.get("select_terms", "frequency") not in TERM_SELECTIONS:
        raise ConfigError(source, "data.select_terms", f"must be one of {TERM_SELECTIONS}")
    if d.get("term_values", "binary") not in TERM_VALUES:
        raise ConfigError(source, "data.term_values", f"must be one of {TERM_VALUES}")
    text_only = {"text_weights": "none", "select_terms": "frequency", "term_values": "binary"}
    for key, plain in text_only.items():
        if d.get(key, plain) != plain and d.get("name") not in ("imdb", "reuters"):
            raise ConfigError(
                source, f"data.{key}", "applies to a text dataset's words (imdb, reuters); drop it"
            )
    if d.get("categorical") is not None:
        d["categorical"] = _columns(source, "categorical", d["categorical"], "column names")
    if d.get("drop") is not None:
        d["drop"] = _columns(source, "drop", d["drop"], "column names")
    else:
        d.pop("drop", None)
    if d.get("log1p") is not None:
        d["log1p"] = _columns(source, "log1p", d["log1p"], "numeric column names")
    else:
        d.pop("log1p", None)
    return DataConfig(**d)


def _columns(source: str, key: str, value: Any, what: str) -> tuple[str, ...]:
    """A YAML list of column names as a tuple, or a ConfigError naming data.<key>."""
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ConfigError(source, f"data.{key}", f"must be a list of {what}")
    return tuple(value)
