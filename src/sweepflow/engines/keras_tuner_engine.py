"""Keras Tuner adapter: the same YAML space as `hp.*` calls; tracking through the trial hooks."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt

from sweepflow.config.final import MAX_MEMBERS
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
from sweepflow.data.compact import CompactBatches
from sweepflow.engines import Candidate, Recorder, SearchSummary
from sweepflow.errors import failure_reason
from sweepflow.model.feed import array_fit_args
from sweepflow.model.network import (
    ModelSpec,
    build_model,
    fit_class_weights,
    fresh_state,
    mirrored_blocks,
    prebuild,
    score_callbacks,
    stopping_callbacks,
    summarize_history,
)
from sweepflow.model.trial import COMPLETE, FAILED, TrialOutcome, model_spec, outcome_of, trial_seed

log = logging.getLogger("sweepflow.search")
_SIDECAR = "sweepflow_trials.json"  # per-trial best epoch and params, kept beside the tuner state


def hp_one(hp: kt.HyperParameters, name: str, spec: ParamSpec) -> Any:
    """One spec as a Keras Tuner `hp.*` call."""
    if isinstance(spec, FixedSpec):
        return hp.Fixed(name, spec.value)
    if isinstance(spec, ChoiceSpec) and all(isinstance(v, bool) for v in spec.values):
        both = len(spec.values) == 2  # hp.Choice would turn booleans into 0/1
        return hp.Boolean(name, default=spec.values[0]) if both else hp.Fixed(name, spec.values[0])
    if isinstance(spec, ChoiceSpec):
        return hp.Choice(name, list(spec.values))
    sampling = "log" if spec.log else "linear"
    if isinstance(spec, IntSpec):
        step = spec.step if spec.step != 1 else None
        return hp.Int(name, spec.low, spec.high, step=step, sampling=sampling)
    if isinstance(spec, FloatSpec):
        return hp.Float(name, spec.low, spec.high, sampling=sampling)
    raise TypeError(f"unsupported spec {spec!r}")


def hp_params(space: SearchSpace, hp: kt.HyperParameters) -> dict[str, Any]:
    """A plain params dict from Keras Tuner's hyperparameters (units per hidden layer)."""
    params = {s.name: hp_one(hp, s.name, s) for s in space.specs if s.name != "units"}
    for key in unit_names(int(params["layers"])):
        params[key] = hp_one(hp, key, space["units"])
    return params


class DenseHyperModel(kt.HyperModel):
    """Keras Tuner's view of `build_model`: build from hp, fit with the searched batch size."""

    def __init__(self, space: SearchSpace, spec: ModelSpec) -> None:
        super().__init__(name="sweepflow_dense")
        self.space, self.spec = space, spec

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """Build the network the hyperparameters describe."""
        return build_model(hp_params(self.space, hp), self.spec)

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        """Train with the searched batch size (and epochs, unless Hyperband allots them)."""
        if "tuner/epochs" not in hp.values:
            kwargs["epochs"] = int(hp.get("epochs"))
        x = args[0] if args else kwargs.get("x")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        weights = fit_class_weights(hp.values, y)
        if weights:
            kwargs["class_weight"] = weights
        prebuild(model, x, y)
        batch_size = int(hp.get("batch_size"))
        kwargs.pop("x", None)
        kwargs.pop("y", None)
        if hp_params(self.space, hp).get("mirror", False):  # each image and its mirror, as fit
            blocks = mirrored_blocks([x], [y], self.spec.image_shape)
            feed = CompactBatches(*blocks, batch_size, shuffle=True)
            return model.fit(feed, **kwargs)
        feed = array_fit_args(x, y, kwargs.pop("validation_data", None), batch_size)
        return model.fit(**feed, **kwargs)


def tracked_tuner_class(base: type[kt.Tuner]) -> type[kt.Tuner]:
    """A subclass of a Keras Tuner tuner whose trial hooks open and close MLflow trial runs."""

    class Tracked(base):  # type: ignore[misc, valid-type]
        def setup_tracking(self, cfg: TaskConfig, recorder: Recorder, state: Path) -> None:
            self.sf_cfg, self.sf_recorder, self.sf_state = cfg, recorder, state
            self.sf_outcomes: list[TrialOutcome] = []
            self.sf_trials = json.loads(state.read_text()) if state.is_file() else {}

        def pre_create_trial(self) -> None:
            clock = self.sf_recorder.clock  # the search stage's (search.timeout), or None
            if clock is not None and time.monotonic() >= clock.deadline:
                self.oracle.max_trials = len(self.oracle.trials)  # the oracle stops the search

        def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
            cfg, number = self.sf_cfg, int(trial.trial_id)
            params = hp_params(cfg.space, trial.hyperparameters.copy())
            run_id, logger = self.sf_recorder.begin(number, params)
            fresh_state(trial_seed(cfg.search.seed, number))
            kwargs["callbacks"] = [
                *score_callbacks(cfg.objective, kwargs.get("validation_data")),
                *stopping_callbacks(params, cfg.patience, cfg.stop_monitor),
                *self.sf_recorder.callbacks(logger),
                *kwargs.get("callbacks", []),
            ]
            start = time.perf_counter()
            try:
                results = super().run_trial(trial, *args, **kwargs)
            except Exception as exc:
                reason = failure_reason(exc)
                outcome = TrialOutcome(
                    number, params, FAILED, None, None, time.perf_counter() - start, reason
                )
                self._record(trial, outcome, run_id, logger)
                raise
            except BaseException as exc:
                self.sf_recorder.abort(run_id, logger, exc)
                raise
            history = results[-1].history if isinstance(results, list) else results.history
            initial = int(trial.hyperparameters.values.get("tuner/initial_epoch", 0))
            fit = summarize_history(history, initial_epoch=initial, monitor=cfg.stop_monitor)
            outcome = outcome_of(number, params, fit, time.perf_counter() - start, cfg.objective)
            self._record(trial, outcome, run_id, logger)
            if outcome.state == FAILED:
                raise kt.errors.FailedTrialError(outcome.reason)
            # The oracle gets the same value Optuna would: the objective at the restored epoch.
            return {cfg.objective: outcome.value}

        def _record(self, trial: Any, outcome: TrialOutcome, run_id: str, logger: Any) -> None:
            self.sf_recorder.finish(run_id, logger, outcome)
            self.sf_outcomes.append(outcome)
            self.sf_trials[trial.trial_id] = {
                "params": outcome.params,
                "best_epoch": outcome.fit.best_epoch if outcome.fit else 1,
                "state": outcome.state,
                "threshold": outcome.val_metrics.get("val_threshold", 0.5),
            }
            self.sf_state.write_text(json.dumps(self.sf_trials))
            self.sf_recorder.progress(outcome.number, outcome.state, outcome.value, outcome.seconds)

    Tracked.__name__ = f"Tracked{base.__name__}"
    return Tracked


_TUNERS = {
    "hyperband": kt.Hyperband,
    "bayesian": kt.BayesianOptimization,
    "random": kt.RandomSearch,
}


class KerasTunerEngine:
    """Runs a task's search with a Keras Tuner tuner whose state lives under the store."""

    name = "keras-tuner"
    shares_study = False  # one process drives a search; it owns every open trial run

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def make_tuner(self, cfg: TaskConfig, recorder: Recorder) -> kt.Tuner:
        """Create the tuner, or reload its state so a re-run continues (overwrite=False)."""
        s = cfg.search
        direction = "min" if cfg.direction == "minimize" else "max"
        common = {
            "hypermodel": DenseHyperModel(cfg.space, model_spec(recorder.data)),
            "objective": kt.Objective(cfg.objective, direction=direction),
            "directory": str(self.directory),
            "project_name": f"{cfg.name}-{s.tuner}",
            "overwrite": False,
            "seed": s.seed,
        }
        if s.tuner == "hyperband":
            tuner = tracked_tuner_class(kt.Hyperband)(
                max_epochs=int(cfg.space.max_value("epochs")),
                factor=3,
                hyperband_iterations=1_000,
                **common,
            )
        else:
            tuner = tracked_tuner_class(_TUNERS[s.tuner])(max_trials=s.trials, **common)
        # Count the budget from the trials already in the reloaded state: a new search adds its
        # budget to them; a resumed one (after a kill) only what it has not run yet.
        tuner.oracle.max_trials = len(tuner.oracle.trials) + self.remaining(recorder)
        state = self.directory / common["project_name"] / _SIDECAR
        tuner.setup_tracking(cfg, recorder, state)
        return tuner

    @staticmethod
    def remaining(recorder: Recorder) -> int:
        """Trials of the session's budget not run yet (its finished trial runs count)."""
        return max(0, recorder.budget - recorder.finished_trials())

    def open(self, cfg: TaskConfig, recorder: Recorder) -> kt.Tuner:
        """The task's tuner, created or reloaded (its budget: the session's remaining trials)."""
        return self.make_tuner(cfg, recorder)

    def run(
        self, tuner: kt.Tuner, cfg: TaskConfig, recorder: Recorder, deadline: float | None
    ) -> list[TrialOutcome]:
        """Run the tuner's search (its trial hooks record each trial; the timeout is theirs)."""
        data = recorder.data
        fit_kwargs: dict[str, Any] = {
            "validation_data": (data.x_val, data.y_val),
            "verbose": recorder.verbose,
        }
        if cfg.search.tuner != "hyperband":
            fit_kwargs["epochs"] = int(cfg.space.max_value("epochs"))
        tuner.search(data.x_train, data.y_train, **fit_kwargs)
        return list(tuner.sf_outcomes)

    def summarize(
        self,
        tuner: kt.Tuner,
        cfg: TaskConfig,
        recorder: Recorder,
        outcomes: list[TrialOutcome],
        figure_dir: Path,
    ) -> SearchSummary | None:
        """The oracle's best trial and counts (None: no trial completed)."""
        best_trials = tuner.oracle.get_best_trials(1)
        if not best_trials:
            return None
        best = best_trials[0]
        info = tuner.sf_trials.get(best.trial_id, {})
        statuses = [t.status for t in tuner.oracle.trials.values()]
        counts = {
            COMPLETE: statuses.count("COMPLETED"),
            "pruned": 0,
            FAILED: statuses.count("FAILED") + statuses.count("INVALID"),
        }
        return SearchSummary(
            best_params=info.get("params") or hp_params(cfg.space, best.hyperparameters.copy()),
            best_value=float(best.score),
            best_number=int(best.trial_id),
            best_epoch=int(info.get("best_epoch", 1)),
            counts=counts,
            session_outcomes=outcomes,
            figures=[],
            study_name=f"{cfg.name}-{cfg.search.tuner}",
            threshold=float(info.get("threshold", 0.5)),
            ranked=[
                Candidate(
                    int(t.trial_id),
                    tuner.sf_trials.get(t.trial_id, {}).get("params")
                    or hp_params(cfg.space, t.hyperparameters.copy()),
                    int(tuner.sf_trials.get(t.trial_id, {}).get("best_epoch", 1)),
                    float(t.score),
                )
                for t in tuner.oracle.get_best_trials(MAX_MEMBERS)
                if t.score is not None
            ],
        )
