"""Optuna adapter: a persistent study per task, seeded TPE, a pruner fed every epoch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import optuna

from sweepflow.config import TaskConfig
from sweepflow.engines import SearchSummary
from sweepflow.errors import SweepflowError
from sweepflow.settings import redact
from sweepflow.space import (
    ChoiceSpec,
    FixedSpec,
    FloatSpec,
    IntSpec,
    ParamSpec,
    SearchSpace,
    unit_names,
)
from sweepflow.trial import COMPLETE, FAILED, PRUNED, TrialOutcome

if TYPE_CHECKING:
    from sweepflow.search import TrialRecorder

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


class EpochPruning(keras.callbacks.Callback):
    """Reports the objective to Optuna each epoch and stops training when the pruner says so."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        super().__init__()
        self.trial, self.monitor, self.pruned = trial, monitor, False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report this epoch's value; ask the pruner."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.report_step(epoch + 1, float(value)):
            self.model.stop_training = True

    def report_step(self, step: int, value: float) -> bool:
        """Report one value (an epoch's, or a cross-validation fold's mean); True: prune."""
        self.trial.report(value, step=step)
        self.pruned = self.pruned or self.trial.should_prune()
        return self.pruned


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """The pruner named in the task YAML."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2, max_resource=max(max_epochs, 3))
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=2)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    return optuna.pruners.NopPruner()


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


def make_sampler(name: str, seed: int, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler named in the task YAML, seeded."""
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed)


class _TrialFailed(Exception):
    """Raised inside the objective so Optuna records the trial as FAIL and goes on."""


class OptunaEngine:
    """Runs a task's search as an Optuna study persisted in `storage`."""

    name = "optuna"

    def __init__(self, storage: str) -> None:
        self.storage = storage

    def load_study(self, cfg: TaskConfig) -> optuna.Study:
        """Create the task's study, or load it so a re-run adds trials instead of restarting."""
        study = optuna.create_study(
            study_name=cfg.name,
            storage=self.storage,
            direction=cfg.direction,
            pruner=make_pruner(cfg.search.pruner, int(cfg.space.max_value("epochs"))),
            load_if_exists=True,
        )
        if study.direction.name.lower() != cfg.direction:
            raise SweepflowError(
                f"study '{cfg.name}' in {redact(self.storage)} was created to "
                f"{study.direction.name.lower()}, but {cfg.source_file} asks to {cfg.direction}; "
                "use another task name or another store"
            )
        # Offset the seed by the trials already run, so a resumed study does not replay them.
        study.sampler = make_sampler(
            cfg.search.sampler, cfg.search.seed + len(study.trials), cfg.space
        )
        return study

    def search(self, cfg: TaskConfig, recorder: TrialRecorder, figure_dir: Path) -> SearchSummary:
        """Run `cfg.search.trials` more trials on the task's study."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = self.load_study(cfg)
        outcomes: list[TrialOutcome] = []

        def objective(trial: optuna.Trial) -> float:
            params = suggest(cfg.space, trial)
            pruning = EpochPruning(trial, cfg.objective)
            outcome = recorder(params, trial.number, [pruning], lambda: pruning.pruned)
            outcomes.append(outcome)
            if outcome.fit is not None:
                trial.set_user_attr("epochs_run", outcome.fit.epochs_run)
                trial.set_user_attr("best_epoch", outcome.fit.best_epoch)
            trial.set_user_attr("params", params)
            if outcome.state == FAILED:
                trial.set_user_attr("failure_reason", outcome.reason)
                raise _TrialFailed(outcome.reason)
            if outcome.state == PRUNED:
                raise optuna.TrialPruned()
            return float(outcome.value)

        def progress(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
            best = _best(study)
            best_txt = f"{best.value:.4f} (trial {best.number})" if best else "none yet"
            log.info(
                "%s: trial %d %s value=%s | best so far %s | %d/%d this run",
                cfg.name,
                frozen.number,
                frozen.state.name.lower(),
                "—" if frozen.value is None else f"{frozen.value:.4f}",
                best_txt,
                len(outcomes),
                cfg.search.trials,
            )

        study.optimize(
            objective,
            n_trials=cfg.search.trials,
            timeout=cfg.search.timeout,
            catch=(_TrialFailed,),
            callbacks=[progress],
            gc_after_trial=False,  # each trial's fresh_state collects: one full gc per trial
        )
        best = _best(study)
        if best is None:
            reasons = {o.reason for o in outcomes if o.reason}
            raise SweepflowError(
                f"task '{cfg.name}': no trial completed ({len(outcomes)} run); "
                f"reasons: {'; '.join(sorted(reasons)) or 'all pruned'}"
            )
        states = [t.state for t in study.trials]
        counts = {
            COMPLETE: states.count(optuna.trial.TrialState.COMPLETE),
            PRUNED: states.count(optuna.trial.TrialState.PRUNED),
            FAILED: states.count(optuna.trial.TrialState.FAIL),
        }
        return SearchSummary(
            best_params=dict(best.user_attrs.get("params", best.params)),
            best_value=float(best.value),
            best_number=best.number,
            best_epoch=int(best.user_attrs.get("best_epoch", 1)),
            counts=counts,
            session_outcomes=outcomes,
            figures=study_figures(study, figure_dir),
            study_name=study.study_name,
        )


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return study.best_trial if done else None


def study_figures(study: optuna.Study, out: Path) -> list[Path]:
    """Optuna's optimisation-history and parameter-importance plots, as PNG files."""
    import matplotlib.pyplot as plt
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
