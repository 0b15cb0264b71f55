"""Task YAML files: dataset, kind, search space and budget, validated on load."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sweepflow.config.data import DataConfig, parse_data
from sweepflow.config.fields import positive, read_yaml, take, typed
from sweepflow.config.final import FinalConfig, parse_final
from sweepflow.config.kinds import KINDS
from sweepflow.config.monitor import Monitor
from sweepflow.config.retrain import RetrainConfig, parse_retrain
from sweepflow.config.space import (
    ChoiceSpec,
    FixedSpec,
    FloatSpec,
    IntSpec,
    SearchSpace,
    parse_space,
)
from sweepflow.config.training import parse_objective, parse_training
from sweepflow.errors import ConfigError, UnknownTaskError

ENGINES = ("optuna", "keras-tuner")
SAMPLERS = ("tpe", "random", "grid", "cmaes")  # Optuna samplers
PRUNERS = ("hyperband", "successive_halving", "median", "none")  # Optuna pruners
TUNERS = ("hyperband", "bayesian", "random")  # Keras Tuner tuners
GRID_LIMIT = 10_000  # most grid points a grid search may enumerate
# The tasks `make tune` runs with no TASK: one of each kind, on data bundled with scikit-learn.
DEFAULT_TASKS = ("diabetes", "breast_cancer", "digits")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # a file, experiment and model name
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class SearchConfig:
    """How to search: engine, sampler, pruner, budget and seed."""

    engine: str = "optuna"
    sampler: str = "tpe"  # optuna only
    pruner: str = "hyperband"  # optuna only
    tuner: str = "hyperband"  # keras-tuner only
    trials: int = 10
    seed: int = 0
    timeout: float | None = None  # seconds
    # no trial trains past the timeout, nor (with trial_cap) past max(trial_cap × timeout, the
    # time already searched): the first models come early in the budget (search/recorder.py)
    trial_cap: float | None = None


@dataclass(frozen=True)
class TaskConfig:
    """One task: what data, what kind of model, what to search and how."""

    name: str
    kind: str
    data: DataConfig
    space: SearchSpace | None  # None: sized from the table once the data is loaded (auto)
    search: SearchConfig = field(default_factory=SearchConfig)
    objective: str = "val_loss"
    direction: str = "minimize"
    patience: int = 5
    monitor: str = "val_loss"  # what early stopping watches: val_loss or the objective metric
    cv: int | None = None  # k-fold cross-validation of each trial (small tables)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    source_file: str = "<memory>"
    class_weight: str | None = None  # training.class_weight (also a fixed space entry)
    baselines: bool = True  # also fit linear + HistGradientBoosting baselines on the same rows
    # top-level keys and search/training/final keys the YAML set (auto defaults leave them be)
    given: frozenset[str] = frozenset()

    @property
    def auto(self) -> bool:
        """True while the search space is still to be sized from the data."""
        return self.space is None

    @property
    def objective_monitor(self) -> Monitor:
        """The objective metric and which way is better."""
        return Monitor(self.objective, "max" if self.direction == "maximize" else "min")

    @property
    def stop_monitor(self) -> Monitor:
        """Early stopping's monitor: val_loss (lower is better) or the objective."""
        return Monitor() if self.monitor == "val_loss" else self.objective_monitor

    def with_overrides(self, **overrides: Any) -> TaskConfig:
        """Return a copy with `trials`, `engine`, `seed`, … replaced where not None."""
        search = {k: v for k, v in overrides.items() if v is not None}
        for key in search:
            if key not in SearchConfig.__dataclass_fields__:
                raise ConfigError(self.source_file, f"search.{key}", "unknown override")
        given = self.given | {f"search.{k}" for k in search}
        return validated(replace(self, search=replace(self.search, **search), given=given))


def validated(cfg: TaskConfig) -> TaskConfig:
    """The config if its search settings fit its engine and space, else a ConfigError."""
    return _validated_search(cfg.source_file, cfg)


def _validated_search(source: str, cfg: TaskConfig) -> TaskConfig:
    s = cfg.search
    checks = [
        ("engine", s.engine in ENGINES, f"must be one of {ENGINES}"),
        ("sampler", s.sampler in SAMPLERS, f"must be one of {SAMPLERS}"),
        ("pruner", s.pruner in PRUNERS, f"must be one of {PRUNERS}"),
        ("tuner", s.tuner in TUNERS, f"must be one of {TUNERS}"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(source, f"search.{key}", f"{why}, got {getattr(s, key)!r}")
    if cfg.space is not None:
        _check_engine_support(source, cfg)
    if not isinstance(s.trials, int) or isinstance(s.trials, bool) or s.trials < 1:
        raise ConfigError(source, "search.trials", f"must be an integer ≥ 1, got {s.trials!r}")
    for key in ("timeout", "trial_cap"):
        value = getattr(s, key)
        if value is not None and not positive(value, 1.0 if key == "trial_cap" else math.inf):
            bound = "a fraction > 0 and ≤ 1" if key == "trial_cap" else "seconds > 0"
            raise ConfigError(source, f"search.{key}", f"must be {bound}, got {value!r}")
    if not isinstance(s.seed, int) or isinstance(s.seed, bool) or not 0 <= s.seed < 2**31:
        raise ConfigError(
            source, "search.seed", f"must be an integer from 0 to 2147483647, got {s.seed!r}"
        )
    if s.trials > MAX_TRIALS:
        raise ConfigError(source, "search.trials", f"must be ≤ {MAX_TRIALS}, got {s.trials}")
    return cfg


def _check_engine_support(source: str, cfg: TaskConfig) -> None:
    """Refuse, at load time, space features the chosen engine cannot express."""
    s, specs = cfg.search, cfg.space.specs
    if s.engine == "optuna" and s.sampler == "grid":
        points = 1
        for spec in specs:
            if isinstance(spec, FloatSpec):
                raise ConfigError(
                    source,
                    f"space.{spec.name}",
                    "the grid sampler needs discrete values; "
                    "write this float range as type: choice (or use sampler: tpe/random)",
                )
            if isinstance(spec, IntSpec):
                points *= len(range(spec.low, spec.high + 1, spec.step))
            elif isinstance(spec, ChoiceSpec):
                points *= len(spec.values)
        if points > GRID_LIMIT:
            raise ConfigError(
                source,
                "search.sampler",
                f"the grid has {points} points "
                f"(limit {GRID_LIMIT}); narrow the space or use sampler: tpe",
            )
    if (
        s.engine == "optuna"
        and s.sampler == "cmaes"
        and not any(isinstance(spec, IntSpec | FloatSpec) for spec in specs)
    ):
        raise ConfigError(
            source,
            "search.sampler",
            "cmaes needs at least one int or float range in the space; use tpe, random or grid",
        )
    if s.engine == "keras-tuner" and cfg.cv:
        raise ConfigError(
            source,
            "cv",
            "k-fold trials run with the optuna engine only "
            "(keras-tuner trains each trial itself); drop cv or use engine: optuna",
        )
    if (
        s.engine == "keras-tuner"
        and s.tuner == "hyperband"
        and not isinstance(cfg.space["epochs"], FixedSpec)
    ):
        raise ConfigError(
            source,
            "space.epochs",
            "keras-tuner's hyperband allots epochs "
            "itself: make epochs a fixed value (its max_epochs), or use tuner: "
            "bayesian/random",
        )


def parse_task(raw: Any, source: str = "<memory>", default_name: str = "task") -> TaskConfig:
    """Validate a task mapping (the parsed YAML) into a TaskConfig."""
    top = {"task", "kind", "data", "space", "search", "objective", "training", "retrain", "cv"}
    top |= {"final", "baselines"}
    raw = take(source, raw if raw is not None else {}, "<top level>", top)
    name = raw.get("task", default_name)
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name or name.endswith("."):
        raise ConfigError(
            source,
            "task",
            "must be a simple name of at most 100 letters, digits and _.- (no '..', not "
            f"ending in '.'), got {str(name)[:120]!r}",
        )
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(source, "kind", f"must be one of {tuple(KINDS)}, got {kind!r}")
    if "data" not in raw:
        raise ConfigError(source, "data", "missing")
    data = parse_data(source, raw["data"])
    if data.target_scaling != "none" and kind != "regression":
        raise ConfigError(
            source, "data.target_scaling", f"scales a regression target; this task is {kind}"
        )
    if kind == "regression" and "target_scaling" not in raw["data"]:
        data = replace(data, target_scaling="standard")  # the default for regression
    space = parse_space(source, raw["space"]) if raw.get("space") is not None else None
    search_raw = take(
        source, raw.get("search", {}), "search", set(SearchConfig.__dataclass_fields__)
    )
    metric, direction = parse_objective(source, raw.get("objective", {}), kind)
    class_weight, patience, monitor = parse_training(source, raw.get("training", {}), kind, metric)
    if class_weight is not None and space is not None and not _has(space, "class_weight"):
        space = SearchSpace((*space.specs, FixedSpec("class_weight", class_weight)))
    retrain = parse_retrain(source, raw.get("retrain", {}))
    if kind == "regression" and retrain.test == "mcnemar":
        raise ConfigError(
            source,
            "retrain.test",
            "mcnemar compares correctness; regression "
            "uses the paired bootstrap (test: auto or bootstrap)",
        )
    cv = raw.get("cv")
    if cv is not None and (typed(source, "cv", cv, int) < 2 or cv > 20):
        raise ConfigError(source, "cv", f"k-fold needs 2 ≤ k ≤ 20, got {cv}")
    if data.select_terms == "chi2" and cv is not None:
        raise ConfigError(
            source,
            "data.select_terms",
            "chi2 ranks terms by the training labels, which cv folds would then be scored on; "
            "use select_terms: frequency",
        )
    if data.text_weights == "nb" and (kind != "binary" or cv is not None):
        why = f"this task is {kind}" if kind != "binary" else "cv folds would see the ratios"
        raise ConfigError(
            source,
            "data.text_weights",
            f"nb weights need a binary task without cv ({why}); use text_weights: none",
        )
    if space is not None and _has(space, "mirror") and data.name != "fashion_mnist":
        raise ConfigError(
            source, "space.mirror", "flips images left-right; this task's inputs are not images"
        )
    if space is not None and _has(space, "class_weight") and kind == "regression":
        raise ConfigError(source, "space.class_weight", "weights classes; this task is regression")
    baselines = typed(source, "baselines", raw.get("baselines", True), bool)
    given = {k for k in raw if k not in ("search", "training", "final")}
    for section in ("search", "training", "final"):
        if isinstance(raw.get(section), dict):
            given |= {f"{section}.{k}" for k in raw[section]}
    cfg = TaskConfig(
        name=name,
        kind=kind,
        data=data,
        space=space,
        search=SearchConfig(**search_raw),
        objective=metric,
        direction=direction,
        patience=patience,
        monitor=metric if monitor == "objective" else "val_loss",
        cv=cv,
        retrain=retrain,
        final=parse_final(source, raw.get("final", {})),
        source_file=source,
        class_weight=class_weight,
        baselines=baselines,
        given=frozenset(given),
    )
    return _validated_search(source, cfg)


def _has(space: SearchSpace, name: str) -> bool:
    return any(s.name == name for s in space.specs)


def known_tasks(spaces_dir: Path) -> list[str]:
    """Names of the task YAML files in the search-space folder."""
    return sorted(p.stem for p in Path(spaces_dir).glob("*.yaml"))


def load_task(task: str, spaces_dir: Path) -> TaskConfig:
    """Load a task by name (a YAML in `spaces_dir`) or by path to a YAML file."""
    path = Path(task)
    if path.suffix not in (".yaml", ".yml"):
        path = Path(spaces_dir) / f"{task}.yaml"
    if not path.exists():
        names = known_tasks(spaces_dir)
        raise UnknownTaskError(
            f"unknown task '{task}': no file {path}. Known tasks: "
            f"{', '.join(names) or '(none)'} — or pass the path of a task YAML file"
        )
    return parse_task(read_yaml(path), source=str(path), default_name=path.stem)
