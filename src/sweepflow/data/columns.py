"""Column hygiene for a user's CSV: which columns are features, and why the others are not."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sweepflow.errors import DataError

ROW_NAMES = re.compile(r"^(rownames|row\.names|unnamed: ?\d+|)$", re.IGNORECASE)
ID_NAME = re.compile(r"^(id|key|uuid|index)$|[_\s.-](id|key|uuid)$", re.IGNORECASE)
CAMEL_ID = re.compile(r"[a-z](Id|ID)$")  # PassengerId, customerID (case matters: not "acid")
MIN_ROWS_FOR_ID = 20  # below this, a column of distinct values may be so by chance
TEXT_LEVELS = 50  # a string column with more distinct values than this …
TEXT_SHARE = 0.3  # … and than this share of the rows is free text, not a category


def _integers(column: pd.Series) -> np.ndarray | None:
    values = pd.to_numeric(column, errors="coerce")
    if values.isna().any():
        return None
    arr = values.to_numpy(dtype=np.float64)
    return arr if np.all(arr == np.round(arr)) else None


def why_not_a_feature(name: str, column: pd.Series, is_text: bool) -> str | None:
    """The reason a column is left out of the features, or None to keep it."""
    n = len(column)
    distinct = column.nunique(dropna=True)
    if ROW_NAMES.match(str(name)):
        return "row names"
    if (ID_NAME.search(str(name)) or CAMEL_ID.search(str(name))) and distinct >= 0.5 * n:
        return "named like an ID"
    if n >= MIN_ROWS_FOR_ID and distinct == n:
        if is_text:
            return "unique per row (an ID)"
        ints = _integers(column)
        if ints is not None and ints.max() - ints.min() + 1 == n:
            return "unique per row (a row number)"
    if is_text and distinct > max(TEXT_LEVELS, TEXT_SHARE * n):
        return f"free text ({distinct} distinct values)"
    return None


def is_text_column(column: pd.Series) -> bool:
    """A column none of whose (non-missing) values is a number."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    present = column.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").isna().all()


def select_features(
    frame: pd.DataFrame, target: str, drop: tuple[str, ...], keep: tuple[str, ...], where: str
) -> tuple[list[str], dict[str, str]]:
    """The feature columns, and the left-out ones with their reasons.

    `drop` names columns to leave out (data.drop); `keep` names columns the YAML listed as
    categorical or log1p, which are never left out automatically.
    """
    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise DataError(
            f"{where}: data.drop names unknown column(s) {unknown}; columns are "
            f"{list(frame.columns)}"
        )
    if target in drop:
        raise DataError(f"{where}: data.drop lists the target '{target}'")
    features, left_out = [], {}
    for col in frame.columns:
        if col == target:
            continue
        if col in drop:
            left_out[str(col)] = "data.drop"
            continue
        why = (
            None if col in keep else why_not_a_feature(col, frame[col], is_text_column(frame[col]))
        )
        if why:
            left_out[str(col)] = why
        else:
            features.append(col)
    return features, left_out
