"""Search engines: thin adapters that turn one YAML space into an engine's own search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import keras

from sweepflow.config import TaskConfig
from sweepflow.settings import Store
from sweepflow.trial import TrialOutcome

# What one trial does, as an engine sees it: params, trial number, the engine's own Keras
# callbacks (pruning), and a function telling whether the engine pruned the trial.
TrialFn = Callable[
    [dict[str, Any], int, list[keras.callbacks.Callback], Callable[[], bool]], TrialOutcome
]


@dataclass
class SearchSummary:
    """The result of a search, engine-independent."""

    best_params: dict[str, Any]
    best_value: float
    best_number: int
    best_epoch: int
    counts: dict[str, int]  # trials by state over the whole study (all sessions)
    session_outcomes: list[TrialOutcome] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    study_name: str = ""

    @property
    def epochs_trained(self) -> int:
        """Epochs actually trained in this session."""
        return sum(o.fit.epochs_run for o in self.session_outcomes if o.fit is not None)


class Engine(Protocol):
    """How to search: sample params, run trials through `trial_fn`, report the best."""

    name: str

    def search(self, cfg: TaskConfig, trial_fn: TrialFn, figure_dir: Path) -> SearchSummary:
        """Run the task's trial budget and summarise the whole study."""
        ...


def make_engine(name: str, store: Store) -> Engine:
    """The engine called `name`, keeping its state in `store`."""
    if name == "optuna":
        from sweepflow.engines.optuna_engine import OptunaEngine

        return OptunaEngine(store.study_storage)
    raise ValueError(f"unknown engine {name!r}")
