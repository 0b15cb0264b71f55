"""Raw dataset readers: a local data folder first, then the libraries' own downloads."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from sweepflow.config.data import DATASETS, DataConfig
from sweepflow.environment import offline
from sweepflow.errors import DataError

log = logging.getLogger("sweepflow.data")
T = TypeVar("T")

BOSTON_COLUMNS = [
    "CRIM",
    "ZN",
    "INDUS",
    "CHAS",
    "NOX",
    "RM",
    "AGE",
    "DIS",
    "RAD",
    "TAX",
    "PTRATIO",
    "B",
    "LSTAT",
]
SKLEARN_DATASETS = DATASETS["sklearn"]
_KERAS_SEED = 113  # the shuffle seed keras.datasets uses, so local files give the same splits


def keras_candidates(data_dir: Path, relative: str) -> list[Path]:
    """Where a Keras dataset file is looked for, in order."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return [
        data_dir / "keras" / "datasets" / relative,
        data_dir / "datasets" / relative,
        data_dir / relative,
        keras_home / "datasets" / relative,
    ]


def acl_imdb_roots(data_dir: Path) -> tuple[Path, Path]:
    """Where the raw aclImdb/ folder is looked for."""
    return data_dir / "aclImdb", data_dir / "imdb" / "aclImdb"


def first_file(paths: list[Path]) -> Path | None:
    """The first of `paths` that is a file, or None."""
    return next((p for p in paths if p.is_file()), None)


def _download(what: str, looked: list[Path], fetch: Callable[[], T], wanted: str = "") -> T:
    """Run a library download, or explain which file is missing and where it was looked for."""
    where = ", ".join(str(p.parent) for p in looked)
    hint = f"put {wanted or looked[0].name} in one of: {where} (or set SWEEPFLOW_DATA_DIR)"
    if offline():
        raise DataError(
            f"{what}: not found locally and downloads are off (SWEEPFLOW_OFFLINE); {hint}"
        )
    log.info("%s: not found locally, downloading", what)
    try:
        return fetch()
    except Exception as exc:  # network errors surface as many exception types
        raise DataError(
            f"{what}: not found locally and the download failed ({exc}); {hint}"
        ) from None


def read_csv(
    d: DataConfig, data_dir: Path, base_dir: Path | None = None
) -> tuple[pd.DataFrame, str]:
    """Read a task CSV: absolute path, else under the data folder or the YAML folder, else URL."""
    raw = Path(d.path or "")
    looked = (
        [raw] if raw.is_absolute() else [data_dir / raw] + ([base_dir / raw] if base_dir else [])
    )
    path = first_file(looked)
    if path is None:
        if not d.url:
            raise DataError(
                f"CSV file not found: looked for {', '.join(map(str, looked))}; "
                "fix data.path or set SWEEPFLOW_DATA_DIR"
            )
        frame = _download(f"CSV {raw.name}", looked, lambda: _read(d.url, d))
        return _checked(_drop_index(frame), d, d.url), d.url
    try:
        frame = _read(path, d)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the CSV file is empty") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not {d.encoding} text (byte {exc.start}); set data.encoding "
            "(e.g. latin-1) in the task YAML"
        ) from None
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})".splitlines()[0]) from None
    return _checked(_drop_index(frame), d, str(path)), str(path)


NA_VALUES = ["?"]  # besides pandas' own (empty, NA, NaN, null, …): a common "unknown" mark


def _read(source: Any, d: DataConfig) -> pd.DataFrame:
    return pd.read_csv(source, sep=d.sep, encoding=d.encoding, na_values=NA_VALUES)


def _checked(frame: pd.DataFrame, d: DataConfig, where: str) -> pd.DataFrame:
    """Refuse a table read with the wrong separator or with repeated column names."""
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for sep, yaml_value in ((";", '";"'), ("\t", '"\\t"'), ("|", '"|"')):
            if sep in header and sep != d.sep:
                raise DataError(
                    f"{where}: one column named {header[:60]!r}: the file looks separated by "
                    f"{yaml_value}; set data.sep: {yaml_value} in the task YAML"
                )
    names = [str(c) for c in frame.columns]
    repeated = sorted({n.rsplit(".", 1)[0] for n in names if _renamed_duplicate(n, names)})
    if repeated:
        raise DataError(f"{where}: column name(s) {repeated} appear more than once; rename them")
    return frame


def _renamed_duplicate(name: str, names: list[str]) -> bool:
    """pandas renames a repeated header `x` to `x.1`, `x.2`, …"""
    base, _, suffix = name.rpartition(".")
    return bool(base) and suffix.isdigit() and base in names


def _drop_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop an unnamed row-number column (R's write.csv adds one)."""
    first = frame.columns[0] if len(frame.columns) else None
    if isinstance(first, str) and first.startswith("Unnamed: 0"):
        frame = frame.drop(columns=first)
    return frame


def sklearn_frame(name: str) -> tuple[pd.DataFrame, str]:
    """A dataset bundled inside scikit-learn (no network) as one frame with a `target` column."""
    if name not in SKLEARN_DATASETS:
        raise DataError(f"unknown sklearn dataset '{name}'; use one of {SKLEARN_DATASETS}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    names = getattr(bunch, "target_names", None)
    if names is not None and len(names):  # classification: class names, not 0 / 1
        frame["target"] = np.asarray(names).astype(str)[frame["target"].to_numpy()]
    return frame, "target"


def boston_housing(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Boston housing as train/test frames (Keras' split: seed 113, 20 % test)."""
    looked = keras_candidates(data_dir, "boston_housing.npz")
    path = first_file(looked)
    if path is None:
        from keras.datasets import boston_housing as bh

        (x_tr, y_tr), (x_te, y_te) = _download("boston_housing", looked, bh.load_data)
        where = "keras.datasets.boston_housing (downloaded)"
    else:
        with np.load(path) as f:
            x, y = f["x"], f["y"]
        order = np.arange(len(x))
        np.random.RandomState(_KERAS_SEED).shuffle(order)
        x, y = x[order], y[order]
        cut = int(len(x) * 0.8)
        (x_tr, y_tr), (x_te, y_te), where = (x[:cut], y[:cut]), (x[cut:], y[cut:]), str(path)

    def frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(np.asarray(x, dtype=np.float64), columns=BOSTON_COLUMNS)
        out["MEDV"] = np.asarray(y, dtype=np.float64)
        return out

    return frame(x_tr, y_tr), frame(x_te, y_te), where


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def fashion_mnist(data_dir: Path) -> tuple[tuple, tuple, str]:
    """Fashion-MNIST from the IDX files in the Keras cache layout, else keras' download."""
    names = [
        "train-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ]
    found = [first_file(keras_candidates(data_dir, f"fashion-mnist/{n}")) for n in names]
    if any(p is None for p in found):
        from keras.datasets import fashion_mnist as fm

        missing = names[[p is None for p in found].index(True)]
        train, test = _download(
            "fashion_mnist", keras_candidates(data_dir, f"fashion-mnist/{missing}"), fm.load_data
        )
        return train, test, "keras.datasets.fashion_mnist (downloaded)"
    y_tr, x_tr, y_te, x_te = (_read_idx(p, 8 if i % 2 == 0 else 16) for i, p in enumerate(found))
    x_tr, x_te = x_tr.reshape(len(y_tr), 28, 28), x_te.reshape(len(y_te), 28, 28)
    return (x_tr, y_tr), (x_te, y_te), str(found[0].parent)


def _read_acl_imdb(root: Path) -> tuple[tuple, tuple]:
    def split(name: str) -> tuple[list[str], np.ndarray]:
        texts, labels = [], []
        for label, folder in ((0, "neg"), (1, "pos")):
            files = sorted((root / name / folder).glob("*.txt"))
            texts += [f.read_text(encoding="utf-8", errors="replace") for f in files]
            labels += [label] * len(files)
        if not texts:
            raise DataError(f"{root / name}: no reviews in pos/ and neg/")
        return texts, np.asarray(labels, dtype=np.int64)

    return split("train"), split("test")


def _keras_word_npz(path: Path, name: str, num_words: int) -> tuple[tuple, tuple]:
    """Read an imdb/reuters .npz in the Keras format exactly as keras.datasets does."""
    with np.load(path, allow_pickle=True) as f:  # lists of word indices are stored as objects
        if name == "imdb":
            parts = [(f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])]
        else:
            parts = [(f["x"], f["y"])]
    rng = np.random.RandomState(_KERAS_SEED)
    shuffled = []
    for x, y in parts:
        order = np.arange(len(x))
        rng.shuffle(order)
        shuffled.append((x[order], y[order]))

    # keras' defaults: start_char=1, oov_char=2, index_from=3
    def encode(xs: Any) -> list[list[int]]:
        return [[1] + [w + 3 if w + 3 < num_words else 2 for w in s] for s in xs]

    if name == "reuters":
        ((x, y),) = shuffled
        cut = int(len(x) * 0.8)
        return (encode(x[:cut]), y[:cut]), (encode(x[cut:]), y[cut:])
    (x_tr, y_tr), (x_te, y_te) = shuffled
    return (encode(x_tr), y_tr), (encode(x_te), y_te)


def word_data(name: str, data_dir: Path, num_words: int) -> tuple[tuple, tuple, str, bool]:
    """imdb (raw aclImdb text preferred) or reuters; returns (train, test, origin, is_text)."""
    if name == "imdb":
        for root in acl_imdb_roots(data_dir):
            if (root / "train").is_dir() and (root / "test").is_dir():
                train, test = _read_acl_imdb(root)
                return train, test, str(root), True
    looked = keras_candidates(data_dir, f"{name}.npz")
    path = first_file(looked)
    if path is not None:
        train, test = _keras_word_npz(path, name, num_words)
        return train, test, str(path), False

    def fetch() -> tuple[Any, Any]:
        import keras

        return getattr(keras.datasets, name).load_data(num_words=num_words)

    wanted = f"{name}.npz" + (" (or the raw aclImdb/ folder)" if name == "imdb" else "")
    train, test = _download(name, looked, fetch, wanted)
    return train, test, f"keras.datasets.{name} (downloaded)", False
