"""Fail fast: open a task's data and check it fits the task, before TensorFlow is imported."""

from __future__ import annotations

from pathlib import Path

from sweepflow.config.task import TaskConfig
from sweepflow.data import sources
from sweepflow.data.prepare import table_columns
from sweepflow.data.split import encode_labels
from sweepflow.environment import offline
from sweepflow.errors import DataError

_KERAS_FILES = {  # what each Keras dataset needs locally (imdb: or the raw aclImdb/ folder)
    "boston_housing": "boston_housing.npz",
    "fashion_mnist": "fashion-mnist/train-images-idx3-ubyte.gz",
    "imdb": "imdb.npz",
    "reuters": "reuters.npz",
}


def check_task(cfg: TaskConfig, data_dir: Path) -> str:
    """Open the task's data and check target, kind and columns; return a one-line summary.

    Raises DataError with the file and what to do. Reads a CSV whole (seconds for 50k rows);
    for Keras datasets only checks the files are there (or downloads are allowed).
    """
    d = cfg.data
    if d.source == "csv":
        frame, where = sources.read_csv(d, data_dir, Path(cfg.source_file).parent)
        frame, features, categorical, left_out, dropped = table_columns(frame, cfg, where)
        _, classes = encode_labels(frame[d.target or "target"], cfg.kind, where)
        parts = [
            f"{len(frame)} rows",
            f"{len(features)} feature columns ({len(categorical)} categorical)",
        ]
        if classes:
            parts.append(f"{len(classes)} classes")
        if dropped:
            parts.append(f"{dropped} rows with a missing target left out")
        if left_out:
            parts.append("left out: " + ", ".join(f"{c} ({why})" for c, why in left_out.items()))
        return f"{where}: " + "; ".join(parts)
    if d.source == "keras":
        name = d.name or ""
        if name == "imdb" and any((r / "train").is_dir() for r in sources.acl_imdb_roots(data_dir)):
            return f"{name}: raw aclImdb/ folder under {data_dir}"
        looked = sources.keras_candidates(data_dir, _KERAS_FILES[name])
        found = sources.first_file(looked)
        if found is not None:
            return f"{name}: {found}"
        if offline():
            raise DataError(
                f"{name}: {Path(_KERAS_FILES[name]).name} not found in "
                f"{', '.join(str(p.parent) for p in looked)} and downloads are off "
                "(SWEEPFLOW_OFFLINE); set SWEEPFLOW_DATA_DIR to the folder that holds it"
            )
        return f"{name}: not found locally; it will be downloaded"
    return f"{d.name}: bundled with scikit-learn"
