"""Optuna adapter: a persistent study per task, seeded TPE, the pruner of optuna_pruning.py."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from sweepflow.config.space import (
    ChoiceSpec,
    FixedSpec,
    FloatSpec,
    IntSpec,
    ParamSpec,
    SearchSpace,
    unit_names,
)
from sweepflow.config.task import TaskConfig
from sweepflow.engines import Recorder, SearchSummary
from sweepflow.engines.optuna_pruning import EpochPruning, make_pruner, pruning_steps
from sweepflow.engines.optuna_study import ranked, session_trials, spent, trial_states
from sweepflow.errors import SweepflowError
from sweepflow.model.trial import COMPLETE, FAILED, PRUNED, TrialOutcome
from sweepflow.plots import study_figures
from sweepflow.store.layout import redact
from sweepflow.store.optuna_storage import HeartbeatStorage, heartbeat_seconds, make_storage

log = logging.getLogger("sweepflow.search")


def suggest_one(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """One spec as an Optuna `suggest_*` call."""
    if isinstance(spec, FixedSpec):
        return spec.value
    if isinstance(spec, ChoiceSpec):
        return trial.suggest_categorical(name, list(spec.values))
    if isinstance(spec, IntSpec):
        return trial.suggest_int(name, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, FloatSpec):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    raise TypeError(f"unsupported spec {spec!r}")


def suggest(space: SearchSpace, trial: optuna.Trial) -> dict[str, Any]:
    """A plain params dict for one trial; units are sampled per hidden layer."""
    params = {s.name: suggest_one(trial, s.name, s) for s in space.specs if s.name != "units"}
    for key in unit_names(int(params["layers"])):
        params[key] = suggest_one(trial, key, space["units"])
    return params


def grid_space(space: SearchSpace) -> dict[str, list[Any]]:
    """Every value of every searched parameter (the config loader checked it is discrete)."""

    def values(spec: ParamSpec) -> list[Any]:
        if isinstance(spec, ChoiceSpec):
            return list(spec.values)
        if isinstance(spec, IntSpec):
            return list(range(spec.low, spec.high + 1, spec.step))
        raise TypeError(f"{spec.name}: not discrete")

    grid = {
        s.name: values(s) for s in space.specs if s.name != "units" and not isinstance(s, FixedSpec)
    }
    for key in unit_names(int(space.max_value("layers"))):
        grid[key] = values(space["units"]) if not isinstance(space["units"], FixedSpec) else []
    return {k: v for k, v in grid.items() if v}


def make_sampler(
    name: str, seed: int, space: SearchSpace, budget: int = 40
) -> optuna.samplers.BaseSampler:
    """The sampler named in the task YAML, seeded."""
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    with warnings.catch_warnings():  # `group` is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=startup_trials(budget),
            multivariate=True,  # models how parameters work together (lr × batch size …)
            group=True,  # units_3 exists only when layers ≥ 3: sample each group jointly
            constant_liar=True,  # workers sharing the study do not pick the same point
        )


def startup_trials(budget: int) -> int:
    """TPE's random start-up trials: a quarter of the budget, 3 to 10 (Optuna's default 10
    would leave a 10-trial search purely random)."""
    return max(3, min(10, budget // 4))


class _TrialFailed(Exception):
    """Raised inside the objective so Optuna records the trial as FAIL and goes on."""


class OptunaEngine:
    """Runs a task's search as an Optuna study persisted in `storage`, shared by workers."""

    name = "optuna"
    shares_study = True  # workers add trials to the same session

    def __init__(self, storage: str, worker: int = 0) -> None:
        self.storage, self.worker = storage, worker
        self.heartbeats: HeartbeatStorage | None = None  # the loaded study's storage

    def load_study(self, cfg: TaskConfig) -> optuna.Study:
        """Create the task's study, or load it so a re-run adds trials instead of restarting."""
        self.heartbeats = make_storage(self.storage)
        study = optuna.create_study(
            study_name=cfg.name,
            storage=self.heartbeats,
            direction=cfg.direction,
            pruner=make_pruner(cfg.search.pruner, pruning_steps(cfg)),
            load_if_exists=True,
        )
        if study.direction.name.lower() != cfg.direction:
            raise SweepflowError(
                f"study '{cfg.name}' in {redact(self.storage)} was created to "
                f"{study.direction.name.lower()}, but {cfg.source_file} asks to {cfg.direction}; "
                "use another task name or another store"
            )
        with warnings.catch_warnings():  # marked experimental in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([cfg.objective])  # the dashboard shows it, not "Objective 0"
        for key, value in {
            "task": cfg.name,
            "kind": cfg.kind,
            "data": cfg.data.path or f"{cfg.data.source}:{cfg.data.name}",
            "engine": "optuna",
            "objective": cfg.objective,
            "task_file": cfg.source_file,
        }.items():
            study.set_user_attr(key, value)
        # Offset the seed by the trials already run (a resumed study does not replay them) and by
        # the worker (workers started together do not sample the same configurations).
        seed = cfg.search.seed + len(study.trials) + 7919 * self.worker
        study.sampler = make_sampler(cfg.search.sampler, seed, cfg.space, cfg.search.trials)
        return study

    def run(
        self, study: optuna.Study, cfg: TaskConfig, recorder: Recorder, deadline: float | None
    ) -> list[TrialOutcome]:
        """Propose and run trials of the recorder's session until its budget is spent (by any
        worker) or the deadline passes; each trial's outcome is recorded on the study."""
        session, budget = recorder.parent, recorder.budget
        outcomes: list[TrialOutcome] = []

        def objective(trial: optuna.Trial) -> float:
            trial.set_user_attr("session", session)
            params = suggest(cfg.space, trial)
            pruning = EpochPruning(trial, cfg.objective, cfg.search.pruner, self.heartbeats)
            try:
                outcome = recorder(params, trial.number, [pruning], lambda: pruning.pruned)
            except BaseException as exc:
                if isinstance(exc, Exception | KeyboardInterrupt):
                    raise
                # a termination signal a library raised (Prefect's TerminationSignal on SIGTERM):
                # Optuna fails the trial as it does for Ctrl-C, and the search ends interrupted
                raise KeyboardInterrupt(type(exc).__name__) from exc
            outcomes.append(outcome)
            if outcome.run_id:  # the Optuna trial points at its MLflow run (and back: a tag)
                trial.set_user_attr("mlflow_run_id", outcome.run_id)
            if outcome.fit is not None:
                trial.set_user_attr("epochs_run", outcome.fit.epochs_run)
                trial.set_user_attr("best_epoch", outcome.fit.best_epoch)
            trial.set_user_attr("params", params)
            if "val_threshold" in outcome.val_metrics:
                trial.set_user_attr("threshold", outcome.val_metrics["val_threshold"])
            if outcome.state == FAILED:
                trial.set_user_attr("failure_reason", outcome.reason)
                raise _TrialFailed(outcome.reason)
            if outcome.state == PRUNED:
                raise optuna.TrialPruned()
            return float(outcome.value)

        def progress(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
            best = _best(study)
            done = spent(session_trials(study, session))
            recorder.progress(
                frozen.number,
                frozen.state.name.lower(),
                frozen.value,
                frozen.duration.total_seconds() if frozen.duration else 0.0,
                best=(best.value, best.number) if best else None,
                done=done,
                deadline=deadline,
            )
            if done >= budget:
                study.stop()  # other workers have spent the rest of the budget

        remaining = budget - spent(session_trials(study, session))
        if remaining > 0:
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=None if deadline is None else max(0.0, deadline - time.monotonic()),
                catch=(_TrialFailed,),
                callbacks=[progress],
                gc_after_trial=False,  # each trial's fresh_state collects: one full gc per trial
            )
        return outcomes

    def running(self, study: optuna.Study, session: str) -> list[int]:
        """Trials of the session still running in other workers (stale ones failed first)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        return [t.number for t in session_trials(study, session) if t.state == TrialState.RUNNING]

    def poll_seconds(self) -> float:
        """How often to ask `running` again: a heartbeat (a trial goes stale after 3)."""
        return float(heartbeat_seconds())

    def spent(self, study: optuna.Study, session: str) -> int:
        """The session's trials that count against its budget (any worker's)."""
        return spent(session_trials(study, session))

    def trial_states(self, study: optuna.Study) -> dict[int, str]:
        """Each trial's state as the study records it (for closing runs left open)."""
        return trial_states(study)

    def open(self, cfg: TaskConfig, recorder: Recorder) -> optuna.Study:
        """The task's study, created or loaded (a re-run adds trials to it)."""
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are reported by `progress`
        return self.load_study(cfg)

    def summarize(
        self,
        study: optuna.Study,
        cfg: TaskConfig,
        recorder: Recorder,
        outcomes: list[TrialOutcome],
        figure_dir: Path,
    ) -> SearchSummary | None:
        """The study's best trial and counts, this session's share, its figures (None: no trial
        of the study completed)."""
        best = _best(study)
        if best is None:
            return None
        states = [t.state for t in study.trials]
        mine = [t for t in session_trials(study, recorder.parent) if t.state.is_finished()]
        return SearchSummary(
            best_params=dict(best.user_attrs.get("params", best.params)),
            best_value=float(best.value),
            best_number=best.number,
            best_epoch=int(best.user_attrs.get("best_epoch", 1)),
            counts={
                COMPLETE: states.count(TrialState.COMPLETE),
                PRUNED: states.count(TrialState.PRUNED),
                FAILED: states.count(TrialState.FAIL),
            },
            session_outcomes=outcomes,
            figures=study_figures(study, figure_dir, cfg.objective),
            study_name=study.study_name,
            session_trials=len(mine),
            session_epochs=sum(int(t.user_attrs.get("epochs_run", 0)) for t in mine),
            ranked=ranked(study),
            threshold=float(best.user_attrs.get("threshold", 0.5)),
        )


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    return study.best_trial if done else None
