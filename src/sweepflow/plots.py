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

log = logging.getLogger("sweepflow.search")


def learning_curve(history: dict[str, list[float]], path: Path, title: str) -> Path:
    """Train vs validation loss (and the first metric) per epoch, as in `dl_history_plot`.

    Drawn once per trial, so kept cheap: a bare Figure (no pyplot state), fixed margins
    instead of tight_layout.
    """
    metrics = [k for k in history if not k.startswith("val_") and k != "loss"]
    panels = [("loss", "val_loss")] + [(m, f"val_{m}") for m in metrics[:1]]
    fig = Figure(figsize=(5 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.86, wspace=0.25)
    for ax, (train_key, val_key) in zip(axes[0], panels, strict=True):
        epochs = np.arange(1, len(history.get(train_key, [])) + 1)
        ax.plot(epochs, history.get(train_key, []), label=f"train {train_key}", marker=".")
        if val_key in history:
            ax.plot(epochs, history[val_key], label=val_key, marker=".")
        ax.set_xlabel("epoch")
        ax.set_ylabel(train_key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
    return path


def confusion_matrix_plot(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    """A labelled confusion matrix (rows: true class, columns: predicted)."""
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=90 if len(labels) > 10 else 0)
    ax.set_yticks(ticks, labels)
    if len(labels) <= 20:
        for i, j in np.ndindex(matrix.shape):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
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


def study_figures(study: Any, out: Path) -> list[Path]:
    """Optuna's optimisation-history and parameter-importance plots, as PNG files."""
    from optuna.visualization import matplotlib as ovm

    figures = []
    for name, plot in (
        ("optimization_history", ovm.plot_optimization_history),
        ("param_importances", ovm.plot_param_importances),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            path = out / f"{name}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            figures.append(path)
        except Exception as exc:  # e.g. importances need ≥ 2 completed trials
            log.info("skipped the %s plot: %s", name, exc)
    return figures
