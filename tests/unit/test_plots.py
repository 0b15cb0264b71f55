"""Figures people can read: bounded confusion matrices, contrasting counts, pruned trials shown."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import optuna

from sweepflow.plots import MAX_INCHES, confusion_matrix_plot, history_plot, learning_curve


def test_a_1000_class_confusion_matrix_stays_small(tmp_path):
    matrix = np.random.default_rng(0).integers(0, 5, size=(1000, 1000))
    path = confusion_matrix_plot(matrix, [f"c{i}" for i in range(1000)], tmp_path / "cm.png", "t")
    height, width = mpimg.imread(path).shape[:2]
    assert max(height, width) <= MAX_INCHES * 90 + 1


def test_counts_contrast_with_their_cell_and_no_grid_crosses_them(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    texts: list[tuple[str, str]] = []
    original = Axes.text

    def spy(self, x, y, s, **kwargs):  # noqa: ANN001, ANN202
        texts.append((s, kwargs.get("color")))
        return original(self, x, y, s, **kwargs)

    monkeypatch.setattr(Axes, "text", spy)
    matrix = np.array([[50, 1], [2, 40]])
    confusion_matrix_plot(matrix, ["malignant", "benign"], tmp_path / "cm.png", "t")
    colours = dict(texts)
    assert colours["50"] == "white" and colours["1"] == "black"


def test_the_history_plot_names_the_metric_and_shows_pruned_trials(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    labels: list[str] = []
    original = Axes.set_ylabel
    monkeypatch.setattr(
        Axes, "set_ylabel", lambda self, text, **kw: (labels.append(text), original(self, text))
    )
    scatters: list[str] = []
    scatter = Axes.scatter
    monkeypatch.setattr(
        Axes,
        "scatter",
        lambda self, *a, **kw: (scatters.append(kw.get("label", "")), scatter(self, *a, **kw))[1],
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    trial = study.ask()
    trial.report(0.2, step=1)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    history_plot(study, tmp_path / "h.png", "val_accuracy")
    assert labels == ["val_accuracy"]
    assert any(s.startswith("pruned (1)") for s in scatters)
    assert any(s.startswith("complete (3)") for s in scatters)


def test_the_learning_curve_marks_the_restored_epoch(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    marks: list[float] = []
    original = Axes.axvline
    monkeypatch.setattr(
        Axes, "axvline", lambda self, x=0, **kw: (marks.append(x), original(self, x, **kw))[1]
    )
    history = {"loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 2.4]}
    learning_curve(history, tmp_path / "lc.png", "trial 0", best_epoch=2)
    assert marks == [2]
