"""Data prep: load a task's data (local folder first), split it, fit preprocessing on train."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweepflow.config.task import TaskConfig
from sweepflow.data import sources
from sweepflow.data.columns import is_text_column, select_features
from sweepflow.data.preprocess import (
    LOG_COUNT_STEPS,
    ImagePreprocessor,
    Preprocessor,
    SequencePreprocessor,
    TabularPreprocessor,
    TextPreprocessor,
)
from sweepflow.data.split import check_sizes, encode_labels, split_rows, subsample
from sweepflow.data.weights import nb_ratios
from sweepflow.errors import DataError

log = logging.getLogger("sweepflow.data")


@dataclass
class Prepared:
    """Model-ready splits, the raw test inputs, and the fitted preprocessing."""

    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: Any  # an ndarray; a scipy CSR uint8 matrix for text (multi-hot, log-count) inputs
    y_test: np.ndarray
    raw_test: Any  # what a user passes to the registered model (DataFrame or image array)
    preprocessor: Preprocessor
    class_names: list[str] = field(default_factory=list)
    origin: str = ""
    raw_train: Any = None  # raw inputs of the training split (drift checks apply old preprocessing)
    target_offset: float = 0.0  # regression: the network predicts offset + scale * (its head)
    target_scale: float = 1.0
    left_out: dict[str, str] = field(default_factory=dict)  # CSV columns not used, and why
    rows_missing_target: int = 0  # rows dropped because their target was missing
    feature_scale: np.ndarray | None = None  # per-input weights the network applies (text nb)

    @property
    def n_features(self) -> int:
        """Width of the network's input."""
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Units of the output layer for this kind."""
        return len(self.class_names) if self.kind == "multiclass" else 1

    def summary(self) -> dict[str, Any]:
        """Sizes and origin, for logging on the search run."""
        return {
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "n_features": self.n_features,
            "n_classes": len(self.class_names) or None,
            "data_origin": self.origin,
            "rows_missing_target": self.rows_missing_target,
            "columns_left_out": "; ".join(f"{c} ({why})" for c, why in self.left_out.items())[:500]
            or None,
            **(
                {"target_offset": self.target_offset, "target_scale": self.target_scale}
                if self.kind == "regression"
                else {}
            ),
        }


def table_columns(
    frame: pd.DataFrame, cfg: TaskConfig, where: str
) -> tuple[pd.DataFrame, list[str], list[str], dict[str, str], int]:
    """Check a table's target and pick its columns (no splitting, no fitting).

    Returns the frame without rows whose target is missing (data.missing: impute), the feature
    and categorical columns, the columns left out with why, and how many rows were dropped.
    """
    d = cfg.data
    target = d.target or "target"
    if target not in frame.columns:
        raise DataError(
            f"{where}: target column '{target}' not found; columns are {list(frame.columns)}. "
            "Set data.target in the task YAML"
        )
    if frame.empty:
        raise DataError(f"{where}: no rows")
    dropped = 0
    if d.missing == "impute" and frame[target].isna().any():
        dropped = int(frame[target].isna().sum())
        frame = frame[frame[target].notna()].reset_index(drop=True)
        if frame.empty:
            raise DataError(f"{where}: every row's target '{target}' is missing")
    if d.source == "csv":
        keep = tuple(d.categorical or ()) + tuple(d.log1p)
        features, left_out = select_features(frame, target, d.drop, keep, where)
    else:
        features, left_out = [c for c in frame.columns if c != target], {}
    if not features:
        raise DataError(f"{where}: no feature columns besides the target '{target}'")
    if d.categorical is not None:
        unknown = [c for c in d.categorical if c not in features]
        if unknown:
            raise DataError(f"{where}: data.categorical names unknown column(s) {unknown}")
        categorical = list(d.categorical)
    else:  # detect: a column none of whose values is a number is categorical
        categorical = [c for c in features if is_text_column(frame[c])]
    return frame, features, categorical, left_out, dropped


def prepare_frame(
    frame: pd.DataFrame, cfg: TaskConfig, test_frame: pd.DataFrame | None, where: str
) -> Prepared:
    """Split a table (train/val/test), one-hot its categoricals and scale its numerics."""
    d = cfg.data
    target = d.target or "target"
    frame, features, categorical, left_out, dropped = table_columns(frame, cfg, where)
    y_all, classes = encode_labels(frame[target], cfg.kind, where)
    strat = y_all if cfg.kind != "regression" else None
    if test_frame is None:
        rest, test = split_rows(len(frame), d.test_fraction, d.split_seed, strat, where)
        test_x, y_test = frame.iloc[test][features], y_all[test]
    else:
        rest = np.arange(len(frame))
        test_x = test_frame[features]
        y_test = encode_labels(test_frame[target], cfg.kind, where)[0]
    strat_rest = None if strat is None else strat[rest]
    tr, va = split_rows(len(rest), d.val_fraction, d.split_seed, strat_rest, where)
    check_sizes(where, len(tr), len(va))
    train_idx, val_idx = rest[tr], rest[va]
    try:
        pre = TabularPreprocessor.fit(
            frame.iloc[train_idx][features],
            categorical,
            d.scaling,
            d.log1p,
            d.missing,
            d.clip or 0.0,
        )
        x_train, x_val = pre.transform(frame.iloc[train_idx]), pre.transform(frame.iloc[val_idx])
        x_test = pre.transform(test_x)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    return Prepared(
        kind=cfg.kind,
        x_train=x_train,
        y_train=y_all[train_idx],
        x_val=x_val,
        y_val=y_all[val_idx],
        x_test=x_test,
        y_test=y_test,
        raw_test=test_x.reset_index(drop=True),
        raw_train=frame.iloc[train_idx][features].reset_index(drop=True),
        preprocessor=pre,
        class_names=classes,
        origin=where,
        left_out=left_out,
        rows_missing_target=dropped,
    )


def _prepare_arrays(
    cfg: TaskConfig,
    train: tuple[Any, np.ndarray],
    test: tuple[Any, np.ndarray],
    fit: Callable[[Any, np.ndarray], Preprocessor],
    raw: Callable[[Any], Any],
    where: str,
) -> Prepared:
    """Prepare datasets that come with their own test split (Keras datasets, aclImdb)."""
    d = cfg.data
    (x_tr_all, y_tr_all), (x_te, y_te) = train, test
    keep = subsample(len(y_tr_all), d.max_rows, d.split_seed)
    keep_te = subsample(len(y_te), d.max_rows, d.split_seed)
    x_tr_all, y_tr_all = _take(x_tr_all, keep), np.asarray(y_tr_all)[keep]
    x_te, y_te = _take(x_te, keep_te), np.asarray(y_te)[keep_te]
    y_tr_all, classes = encode_labels(y_tr_all, cfg.kind, where)
    if cfg.kind == "regression":
        y_te = encode_labels(y_te, cfg.kind, where)[0]
    else:
        lookup = {c: i for i, c in enumerate(classes)}
        unseen = sorted({str(v) for v in y_te} - set(lookup))
        if unseen:
            raise DataError(f"{where}: test labels {unseen} never occur in the training split")
        y_te = np.array([lookup[str(v)] for v in y_te], dtype=np.int32)
    strat = y_tr_all if cfg.kind != "regression" else None
    tr, va = split_rows(len(y_tr_all), d.val_fraction, d.split_seed, strat, where)
    check_sizes(where, len(tr), len(va))
    x_tr = _take(x_tr_all, tr)
    pre = fit(x_tr, y_tr_all[tr])  # the training rows' inputs and labels only
    multi = isinstance(pre, TextPreprocessor | SequencePreprocessor)
    return Prepared(
        kind=cfg.kind,
        x_train=pre.transform(x_tr),
        y_train=y_tr_all[tr],
        x_val=pre.transform(_take(x_tr_all, va)),
        y_val=y_tr_all[va],
        # multi-hot test rows stay sparse (imdb: 25 MB, not 477 MiB); read in batches
        x_test=pre.transform(x_te, as_sparse=True) if multi else pre.transform(x_te),
        y_test=y_te,
        raw_test=raw(x_te),
        raw_train=raw(x_tr),
        preprocessor=pre,
        class_names=classes,
        origin=where,
    )


def _take(x: Any, idx: np.ndarray) -> Any:
    if isinstance(x, pd.DataFrame):
        return x.iloc[idx]
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[i] for i in idx]


def prepare(cfg: TaskConfig, data_dir: Path) -> Prepared:
    """Load the task's data and return model-ready splits with fitted preprocessing."""
    data = scale_targets(_load_prepared(cfg, data_dir), cfg.data.target_scaling)
    scale = None
    if cfg.data.text_weights == "nb":  # binary text only (checked on load), from train rows
        scale = nb_ratios(data.x_train, data.y_train)
    if cfg.data.term_values == "log_count":  # uint8 steps back to log(1 + count), in the net
        steps = np.full(data.n_features, 1 / LOG_COUNT_STEPS, dtype=np.float32)
        scale = steps if scale is None else scale * steps
    return data if scale is None else replace(data, feature_scale=scale)


def scale_targets(data: Prepared, scaling: str) -> Prepared:
    """data.target_scaling: standard: the network's head predicts y standardised on train."""
    if scaling != "standard" or data.kind != "regression":
        return data
    offset, scale = target_stats(data.y_train)
    return replace(data, target_offset=offset, target_scale=scale)


def target_stats(y: np.ndarray) -> tuple[float, float]:
    """The mean and sd of regression targets (sd 1 when they are constant): offset, scale."""
    values = np.asarray(y, dtype=np.float64)
    scale = float(values.std())
    return float(values.mean()), scale if scale > 0 else 1.0


def _load_prepared(cfg: TaskConfig, data_dir: Path) -> Prepared:
    """Load the task's data and split, encode and scale it (targets as they are)."""
    d = cfg.data
    if d.source == "csv":
        frame, where = sources.read_csv(d, data_dir, Path(cfg.source_file).parent)
        return prepare_frame(frame, cfg, None, where)
    if d.source == "sklearn":
        frame, target = sources.sklearn_frame(d.name or "")
        cfg_t = cfg if d.target else _with_target(cfg, target)
        return prepare_frame(frame, cfg_t, None, f"sklearn:{d.name}")
    name = d.name or ""
    if name == "boston_housing":
        train, test, where = sources.boston_housing(data_dir)
        cfg_t = _with_target(cfg, "MEDV")
        return prepare_frame(train, cfg_t, test, where)
    if name == "fashion_mnist":
        train, test, where = sources.fashion_mnist(data_dir)
        return _prepare_arrays(
            cfg, train, test, lambda x, _: ImagePreprocessor(list(x.shape[1:])), lambda x: x, where
        )
    if name in ("imdb", "reuters"):
        train, test, where, is_text = sources.word_data(name, data_dir, d.num_words)
        if is_text:
            fit = lambda x, y: TextPreprocessor.fit(  # noqa: E731
                x, d.num_words, d.ngrams, select=d.select_terms, labels=y, values=d.term_values
            )
            raw = lambda x: pd.DataFrame({"text": list(x)})  # noqa: E731
        else:
            if d.select_terms != "frequency":
                log.warning(
                    "%s: data.select_terms: %s needs the raw text (aclImdb/); %s holds word "
                    "indices, so the %d most frequent words are used",
                    cfg.name, d.select_terms, where, d.num_words,
                )  # fmt: skip
            fit = lambda x, _: SequencePreprocessor(d.num_words, values=d.term_values)  # noqa: E731
            raw = lambda x: pd.DataFrame({"tokens": [list(map(int, s)) for s in x]})  # noqa: E731
        return _prepare_arrays(cfg, train, test, fit, raw, where)
    raise DataError(
        f"{cfg.source_file}: unknown keras dataset '{name}'; "
        "use boston_housing, fashion_mnist, imdb or reuters"
    )


def _with_target(cfg: TaskConfig, target: str) -> TaskConfig:
    return replace(cfg, data=replace(cfg.data, target=target))
