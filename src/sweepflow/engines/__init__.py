"""Search engines: thin adapters that turn one YAML space into an engine's own search."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import keras

from sweepflow.config.task import TaskConfig
from sweepflow.data.prepare import Prepared
from sweepflow.model.trial import TrialOutcome
from sweepflow.store.layout import Store


@dataclass(frozen=True)
class Candidate:
    """A completed trial the final model may be built from."""

    number: int
    params: dict[str, Any]
    best_epoch: int
    value: float


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
    # the whole session's trials and epochs, all processes (None: this process's outcomes)
    session_trials: int = 0
    session_epochs: int | None = None
    # completed trials, best first (for ensembles of the top trials); empty: the best only
    ranked: list[Candidate] = field(default_factory=list)
    threshold: float = 0.5  # binary: the best trial's validation cut-off (F1 objective)

    def candidates(self, n: int) -> list[Candidate]:
        """The n best completed trials (fewer if fewer completed), best first."""
        best = Candidate(self.best_number, self.best_params, self.best_epoch, self.best_value)
        return (self.ranked or [best])[:n]

    @property
    def epochs_trained(self) -> int:
        """Epochs actually trained in this search session."""
        if self.session_epochs is not None:
            return self.session_epochs
        return sum(o.fit.epochs_run for o in self.session_outcomes if o.fit is not None)


class Recorder(Protocol):
    """The search stage's side of a trial (search/recorder.py): engines propose, it records.

    Optuna calls it with each trial's params; engines that train themselves (Keras Tuner) open
    and close each trial's record with `begin` / `finish` / `abort` around their own fit.
    """

    data: Prepared
    verbose: int
    parent: str  # the session's id (its parent run)
    budget: int  # the session's trial budget, all processes together
    clock: Any  # when each trial must stop (search/recorder.py TrialClock), or None

    def __call__(
        self,
        params: dict[str, Any],
        number: int,
        callbacks: list[keras.callbacks.Callback],
        is_pruned: Callable[[], bool],
    ) -> TrialOutcome:
        """Train and record one trial."""
        ...

    def begin(self, number: int, params: dict[str, Any]) -> tuple[str, Any]:
        """Open a trial's record: its id and an epoch-logging callback."""
        ...

    def callbacks(self, logger: Any) -> list[keras.callbacks.Callback]:
        """The callbacks every trial's fit gets (the logger first)."""
        ...

    def finish(self, run_id: str, logger: Any, outcome: TrialOutcome) -> None:
        """Close a trial's record with its outcome."""
        ...

    def abort(self, run_id: str, logger: Any, exc: BaseException) -> None:
        """Close a trial's record as failed (interrupted)."""
        ...

    def finished_trials(self) -> int:
        """The session's finished trials, in any process."""
        ...

    def progress(
        self,
        number: int,
        state: str,
        value: float | None,
        seconds: float,
        *,
        best: tuple[float, int] | None = None,
        done: int | None = None,
        deadline: float | None = None,
    ) -> None:
        """Report a finished trial: its value, the best so far, the session's trials done."""
        ...

    def close_orphans(self, states: Mapping[int, str] | None) -> int:
        """Close records a stopped process left open (`states`: the engine's trial states)."""
        ...


class Engine(Protocol):
    """How to search: keep the search's state, propose trials, record each one's value.

    The search stage (search/stage.py) owns the session, the budget, waiting for other workers
    and the tracking; an engine only translates the space and reports what each trial gave.
    """

    name: str
    shares_study: bool  # True: other processes may add trials to the same session

    def open(self, cfg: TaskConfig, recorder: Recorder) -> Any:
        """The engine's persistent state for the task (a study, a tuner), created or reloaded."""
        ...

    def run(
        self, state: Any, cfg: TaskConfig, recorder: Recorder, deadline: float | None
    ) -> list[TrialOutcome]:
        """Propose and run trials (each through `recorder`) until the session's budget is spent
        or `deadline` (time.monotonic) passes; this process's outcomes."""
        ...

    def summarize(
        self,
        state: Any,
        cfg: TaskConfig,
        recorder: Recorder,
        outcomes: list[TrialOutcome],
        figure_dir: Path,
    ) -> SearchSummary | None:
        """The search's best trial, counts and figures; None when no trial completed."""
        ...


class SharedEngine(Engine, Protocol):
    """An engine whose state several processes share (Optuna on one storage)."""

    def running(self, state: Any, session: str) -> list[int]:
        """The session's trials still running elsewhere (those gone stale are failed first)."""
        ...

    def poll_seconds(self) -> float:
        """How long to wait before asking `running` again."""
        ...

    def spent(self, state: Any, session: str) -> int:
        """The session's trials that count against its budget, every process's."""
        ...

    def trial_states(self, state: Any) -> dict[int, str]:
        """Each trial's recorded state (to close trial runs a stopped process left open)."""
        ...


def make_engine(name: str, store: Store, worker: int = 0) -> Engine:
    """The engine called `name`, keeping its state in `store` (`worker`: this process's index)."""
    if name == "optuna":
        from sweepflow.engines.optuna_engine import OptunaEngine

        return OptunaEngine(store.study_storage, worker)
    if name == "keras-tuner":
        from sweepflow.engines.keras_tuner_engine import KerasTunerEngine

        return KerasTunerEngine(store.root.resolve() / "keras_tuner")
    raise ValueError(f"unknown engine {name!r}")
