"""Every per-kind fact in one table: head, loss, objectives, headline and test metrics, comparison.

A task's `kind` (regression, binary, multiclass) decides the network's output layer and loss, the
validation metrics a trial can be ranked by, the test metric that names the champion, the test
metrics reported, and how a retrained challenger is compared with the champion.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """What one kind of task dictates, from the network's head to the champion rule."""

    name: str
    activation: str | None  # the output layer's activation (None: linear)
    loss: str
    default_objective: str  # the validation metric a task ranks by unless its YAML says
    # every validation metric a trial logs per epoch, and which way is better
    objectives: dict[str, str]
    headline: str  # the test metric that decides the champion
    higher_is_better: bool  # for the headline
    test_metrics: tuple[str, ...]  # what final evaluation reports (binary: AUCs need 2 classes)
    comparison: str  # the retrain's paired test on the test rows: bootstrap of |error| or mcnemar

    @property
    def direction(self) -> str:
        """The default objective's direction: minimize or maximize."""
        return self.objectives[self.default_objective]


# val_f1 / val_macro_f1 are computed on the validation rows each epoch; binary val_f1 is the F1 of
# the positive class at the threshold that maximises it.
KINDS: dict[str, Kind] = {
    "regression": Kind(
        "regression",
        activation=None,
        loss="mse",
        default_objective="val_mae",
        objectives={"val_loss": "minimize", "val_mae": "minimize"},
        headline="test_mae",
        higher_is_better=False,
        test_metrics=("test_mae", "test_rmse", "test_r2"),
        comparison="bootstrap",
    ),
    "binary": Kind(
        "binary",
        activation="sigmoid",
        loss="binary_crossentropy",
        default_objective="val_accuracy",
        objectives={
            "val_loss": "minimize",
            "val_accuracy": "maximize",
            "val_auc": "maximize",
            "val_pr_auc": "maximize",
            "val_f1": "maximize",
        },
        headline="test_accuracy",
        higher_is_better=True,
        test_metrics=(
            "test_accuracy",
            "test_precision",
            "test_recall",
            "test_f1",
            "test_roc_auc",
            "test_pr_auc",
        ),
        comparison="mcnemar",
    ),
    "multiclass": Kind(
        "multiclass",
        activation="softmax",
        loss="sparse_categorical_crossentropy",
        default_objective="val_accuracy",
        objectives={"val_loss": "minimize", "val_accuracy": "maximize", "val_macro_f1": "maximize"},
        headline="test_accuracy",
        higher_is_better=True,
        test_metrics=("test_accuracy", "test_macro_f1"),
        comparison="mcnemar",
    ),
}
F1_OBJECTIVES = ("val_f1", "val_macro_f1")  # computed on the validation rows every epoch
