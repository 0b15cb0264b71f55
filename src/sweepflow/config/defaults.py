"""Defaults for a task YAML without `space:`: a search space, budget, CV and ensemble sized
from the table once its data is loaded (rows, features, classes).

Why these values (docs/task-yaml.md): small tables rank trials by k-fold CV on train+val
(one 24-row validation split ranks by luck) and average 5 networks; larger ones search wider
and deeper nets with larger batches and fewer epochs, so a table of a few thousand rows
finishes in a few minutes on 2 cores and 54k rows within ~10 minutes.
"""

from __future__ import annotations

from dataclasses import replace

from sweepflow.config.space import ChoiceSpec, FixedSpec, FloatSpec, IntSpec, SearchSpace
from sweepflow.config.task import TaskConfig, validated

SMALL_ROWS = 1000  # train+val rows up to which trials are ranked by k-fold CV
LARGE_ROWS = 10_000
HUGE_ROWS = 100_000  # above: one final network and fewer epochs, to stay inside ~15 minutes
CV_FOLDS = 4
TRIALS = 30  # the default budget: at most this many trials …
TIMEOUT = 180.0  # … and at most this many seconds of search


def size_class(rows: int) -> str:
    """small (≤ 1,000 rows for train+val), medium (≤ 10,000) or large."""
    return "small" if rows <= SMALL_ROWS else "medium" if rows <= LARGE_ROWS else "large"


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def default_space(
    rows: int, class_weight: str | None = None, features: int = 0, classes: int = 0
) -> SearchSpace:
    """The default space for a table of `rows` train+val rows, `features` inputs, `classes`.

    Units: by rows, widened to reach the input width (up to 1,024) and never narrower than
    the number of classes.
    """
    size = size_class(rows)
    low, high = {"small": (16, 128), "medium": (32, 256), "large": (64, 512)}[size]
    high = max(high, min(1024, _pow2(features)))
    units = (min(max(low, _pow2(classes)), high // 2), high)
    batches = {"small": (16, 32, 64), "medium": (32, 64, 128), "large": (128, 256, 512)}[size]
    epochs = {"small": 100, "medium": 100, "large": 60}[size] if rows <= HUGE_ROWS else 30
    specs = [
        IntSpec("layers", 1, 2 if size == "small" else 3),
        IntSpec("units", units[0], units[1], log=True),
        FloatSpec("dropout", 0.0, 0.5),
        FloatSpec("learning_rate", 5e-4, 2e-2, log=True),
        FixedSpec("optimizer", "adam"),
        FloatSpec("l2", 1e-6, 1e-2, log=True),
        ChoiceSpec("batch_size", batches),
        FixedSpec("epochs", epochs),
    ]
    if class_weight is not None:
        specs.append(FixedSpec("class_weight", class_weight))
    return SearchSpace(tuple(specs))


def auto_config(cfg: TaskConfig, rows: int, features: int = 0, classes: int = 0) -> TaskConfig:
    """Fill in what a YAML without `space:` left out, from the table's train+val rows, input
    width and classes. Keys the YAML set (cv, final.ensemble, search.trials, search.timeout,
    training.patience) stay.
    """
    if not cfg.auto:
        return cfg
    size, given = size_class(rows), cfg.given
    out = replace(cfg, space=default_space(rows, cfg.class_weight, features, classes))
    if "cv" not in given and size == "small":
        out = replace(out, cv=CV_FOLDS)
    if "final.ensemble" not in given:  # final.members, if set, stays as the YAML says
        members = 5 if size == "small" else 3 if rows <= HUGE_ROWS else 1
        out = replace(out, final=replace(out.final, ensemble=members))
    search = out.search
    if "search.trials" not in given:
        search = replace(search, trials=TRIALS)
    if "search.timeout" not in given:
        search = replace(search, timeout=TIMEOUT)
    out = replace(out, search=search)
    if "training.patience" not in given:
        out = replace(out, patience=10 if size != "large" else 8)
    return validated(out)
