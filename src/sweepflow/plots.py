"""Figures logged as PNG artifacts: learning curves, confusion matrices, predicted vs actual."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

log = logging.getLogger("sweepflow.search")


def learning_curve(
    history: dict[str, list[float]], path: Path, title: str, best_epoch: int | None = None
) -> Path:
    """Train vs validation loss (and the first metric) per epoch; the restored epoch marked.

    Drawn for each of a search's best trials, so kept cheap: a bare Figure (no pyplot state),
    fixed margins instead of tight_layout, at most 5 ticks an axis (tick labels are most of
    the drawing time) and point markers only on short curves.
    """
    metrics = [k for k in history if k != "loss" and f"val_{k}" in history]
    panels = [("loss", "val_loss")] + [(m, f"val_{m}") for m in metrics[:1]]
    fig = Figure(figsize=(5 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.86, wspace=0.25)
    for ax, (train_key, val_key) in zip(axes[0], panels, strict=True):
        epochs = np.arange(1, len(history.get(train_key, [])) + 1)
        marker = "." if len(epochs) <= 30 else None
        ax.plot(epochs, history.get(train_key, []), label=f"train {train_key}", marker=marker)
        if val_key in history:
            ax.plot(epochs, history[val_key], label=val_key, marker=marker)
        if best_epoch:
            ax.axvline(
                best_epoch, color="grey", linestyle="--", label=f"restored (epoch {best_epoch})"
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(train_key)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
    return path


ANNOTATE_UP_TO = 30  # classes; above, a row-normalised heat map without numbers
MAX_INCHES = 12.0  # the figure never grows past this, whatever the number of classes


def confusion_matrix_plot(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    """A labelled confusion matrix (rows: true class, columns: predicted), bounded in size.

    Counts are written in white on dark cells and black on light ones; no grid crosses the
    cells. Past 30 classes each row is normalised (share of the true class) and not annotated,
    and tick labels thin out, so memory and size stay bounded for 1,000 classes.
    """
    n = len(labels)
    size = min(MAX_INCHES, max(4.0, 0.45 * min(n, ANNOTATE_UP_TO) + 2))
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    annotate = n <= ANNOTATE_UP_TO
    shown = matrix if annotate else matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(shown, cmap="Blues", interpolation="nearest")
    ax.grid(False)
    step = max(1, n // ANNOTATE_UP_TO)
    ticks = np.arange(0, n, step)
    names = [str(labels[i])[:20] for i in ticks]
    ax.set_xticks(ticks, names, rotation=90 if n > 6 or max(map(len, names)) > 8 else 0)
    ax.set_yticks(ticks, names)
    if annotate:
        cut = shown.max() / 2 if shown.size else 0
        for i, j in np.ndindex(shown.shape):
            colour = "white" if shown[i, j] > cut else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=9, color=colour)
    else:
        fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def predicted_vs_actual(y_true: np.ndarray, y_pred: np.ndarray, path: Path, title: str) -> Path:
    """Scatter of predictions against targets with the identity line."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=10, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def history_plot(study: Any, path: Path, metric: str) -> Path:
    """Every trial's value by trial number (pruned ones at their last report), best so far."""
    from optuna.trial import TrialState

    minimize = study.direction.name == "MINIMIZE"
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    best, curve = None, []
    for state, colour in ((TrialState.COMPLETE, "tab:blue"), (TrialState.PRUNED, "tab:orange")):
        points = [
            (
                t.number,
                t.value
                if t.value is not None
                else t.intermediate_values[max(t.intermediate_values)],
            )
            for t in study.trials
            if t.state == state and (t.value is not None or t.intermediate_values)
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, s=18, color=colour, label=f"{state.name.lower()} ({len(points)})")
    for t in sorted(study.trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and t.value is not None:
            if best is None or (t.value < best if minimize else t.value > best):
                best = t.value
            curve.append((t.number, best))
    if curve:
        xs, ys = zip(*curve, strict=True)
        ax.step(xs, ys, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(
        f"{study.study_name}: {metric} by trial ({'lower' if minimize else 'higher'} is better)"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def study_figures(study: Any, out: Path, metric: str = "objective") -> list[Path]:
    """The history of every trial (pruned ones too) and Optuna's parameter importances."""
    from optuna.visualization import matplotlib as ovm

    figures = [history_plot(study, out / "optimization_history.png", metric)]
    try:
        with warnings.catch_warnings(), plt.style.context("default"):
            warnings.simplefilter("ignore")
            ax = ovm.plot_param_importances(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            path = out / "param_importances.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            figures.append(path)
    except Exception as exc:  # e.g. importances need ≥ 2 completed trials
        log.info("skipped the param_importances plot: %s", exc)
    return figures
