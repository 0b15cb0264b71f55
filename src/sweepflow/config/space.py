"""Search spaces: YAML data validated into small frozen specs (what to search, never how)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweepflow.errors import ConfigError

OPTIMIZERS = ("adam", "rmsprop", "sgd")
CLASS_WEIGHTS = ("none", "balanced")

# Every hyperparameter a trial understands, and the type its values must have.
HYPERPARAMETERS: dict[str, type] = {
    "layers": int,  # number of hidden Dense layers (0: the head alone, a linear model)
    "units": int,  # units per hidden layer (sampled once per layer: units_1, units_2, …)
    "dropout": float,  # dropout after each hidden layer (0 = none)
    "learning_rate": float,
    "optimizer": str,
    "batch_size": int,
    "epochs": int,  # maximum epochs; early stopping (training.monitor) decides the rest
    "l2": float,  # optional: L2 weight penalty on every hidden layer's kernel (0 = none)
    "batch_norm": bool,  # optional: batch normalisation after each hidden Dense layer
    "lr_decay": float,  # optional: learning rate × lr_decay after every epoch (1 = constant)
    "class_weight": str,  # optional (classification): none | balanced (weights ∝ 1 / class size)
    "mirror": bool,  # optional (images): each epoch trains on every image and its mirror image
}
LIMITS = {"layers": 32, "units": 65_536, "batch_size": 1_048_576, "epochs": 100_000}
REQUIRED = ("layers", "units", "learning_rate", "optimizer", "batch_size", "epochs")


@dataclass(frozen=True)
class IntSpec:
    """An integer range; `log` samples on a log scale (min ≤ max; log needs min > 0)."""

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatSpec:
    """A float range; `log` samples on a log scale."""

    name: str
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class ChoiceSpec:
    """A list of discrete values."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class FixedSpec:
    """A value that is not searched."""

    name: str
    value: Any


ParamSpec = IntSpec | FloatSpec | ChoiceSpec | FixedSpec


@dataclass(frozen=True)
class SearchSpace:
    """The validated space: one spec per hyperparameter."""

    specs: tuple[ParamSpec, ...]

    def __getitem__(self, name: str) -> ParamSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def max_value(self, name: str) -> Any:
        """The largest value a hyperparameter can take (e.g. the epoch budget of a trial)."""
        spec = self[name]
        if isinstance(spec, FixedSpec):
            return spec.value
        if isinstance(spec, ChoiceSpec):
            return max(spec.values)
        return spec.high

    def as_dict(self) -> dict[str, Any]:
        """A plain, YAML-friendly description of the space (logged with each search)."""
        out: dict[str, Any] = {}
        for s in self.specs:
            if isinstance(s, FixedSpec):
                out[s.name] = s.value
            elif isinstance(s, ChoiceSpec):
                out[s.name] = {"type": "choice", "values": list(s.values)}
            else:
                kind = "int" if isinstance(s, IntSpec) else "float"
                out[s.name] = {"type": kind, "min": s.low, "max": s.high, "log": s.log}
                if isinstance(s, IntSpec) and s.step != 1:
                    out[s.name]["step"] = s.step
        return out


def _number(source: str, field: str, value: Any, want: type) -> int | float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if want is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(float(value)):
        raise ConfigError(source, field, f"must be {want.__name__}, got {value!r}")
    return want(value)


def _check_value(source: str, name: str, field: str, value: Any) -> Any:
    """Type- and range-check one concrete value of hyperparameter `name`."""
    want = HYPERPARAMETERS[name]
    if want is bool:
        if not isinstance(value, bool):
            raise ConfigError(source, field, f"must be true or false, got {value!r}")
        return value
    if want is str:
        if name == "optimizer" and value not in OPTIMIZERS:
            raise ConfigError(
                source, field, f"unknown optimizer {value!r}; use one of {OPTIMIZERS}"
            )
        if name == "class_weight" and value not in CLASS_WEIGHTS:
            raise ConfigError(
                source, field, f"unknown class_weight {value!r}; use one of {CLASS_WEIGHTS}"
            )
        return value
    number = _number(source, field, value, want)
    if name == "learning_rate" and number <= 0:
        raise ConfigError(source, field, f"learning rate must be > 0, got {number}")
    if name == "l2" and number < 0:
        raise ConfigError(source, field, f"l2 must be ≥ 0, got {number}")
    if name == "lr_decay" and not 0 < number <= 1:
        raise ConfigError(source, field, f"lr_decay must be in (0, 1] (1 = no decay), got {number}")
    if name == "dropout" and not 0 <= number < 1:
        raise ConfigError(source, field, f"dropout must be in [0, 1), got {number}")
    if name == "layers" and number < 0:
        raise ConfigError(source, field, f"must be ≥ 0 (0: a linear model), got {number}")
    if name in {"units", "batch_size", "epochs"} and number < 1:
        raise ConfigError(source, field, f"must be ≥ 1, got {number}")
    if name in LIMITS and number > LIMITS[name]:
        raise ConfigError(source, field, f"must be ≤ {LIMITS[name]}, got {number}")
    return number


def parse_param(source: str, name: str, raw: Any) -> ParamSpec:
    """Validate one YAML entry of `space:` into a spec."""
    field = f"space.{name}"
    if name not in HYPERPARAMETERS:
        raise ConfigError(
            source, field, f"unknown hyperparameter; known ones: {', '.join(HYPERPARAMETERS)}"
        )
    if not isinstance(raw, Mapping):
        return FixedSpec(name, _check_value(source, name, field, raw))
    raw = dict(raw)
    kind = raw.pop("type", None)
    allowed = {
        "int": {"min", "max", "step", "log"},
        "float": {"min", "max", "log"},
        "choice": {"values"},
        "fixed": {"value"},
    }
    if kind not in allowed:
        raise ConfigError(source, f"{field}.type", f"must be one of {list(allowed)}, got {kind!r}")
    extra = set(raw) - allowed[kind]
    if extra:
        raise ConfigError(
            source,
            field,
            f"unexpected key(s) {sorted(extra)} for type {kind}; allowed: {sorted(allowed[kind])}",
        )
    if kind == "fixed":
        if "value" not in raw:
            raise ConfigError(source, f"{field}.value", "missing")
        return FixedSpec(name, _check_value(source, name, f"{field}.value", raw["value"]))
    if kind == "choice":
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(source, f"{field}.values", "must be a non-empty list")
        checked = tuple(_check_value(source, name, f"{field}.values", v) for v in values)
        if len(set(checked)) != len(checked):
            raise ConfigError(source, f"{field}.values", "has duplicates")
        return ChoiceSpec(name, checked)
    if HYPERPARAMETERS[name] in (str, bool):
        raise ConfigError(source, field, f"{name} takes a choice or a fixed value, not a {kind}")
    if kind == "int" and HYPERPARAMETERS[name] is float:
        kind = "float"  # e.g. dropout written with integer bounds
    for key in ("min", "max"):
        if key not in raw:
            raise ConfigError(source, f"{field}.{key}", "missing")
    want = int if kind == "int" else float
    if HYPERPARAMETERS[name] is int and kind == "float":
        raise ConfigError(source, f"{field}.type", f"{name} is an integer; use type: int")
    low = _check_value(
        source, name, f"{field}.min", _number(source, f"{field}.min", raw["min"], want)
    )
    high = _check_value(
        source, name, f"{field}.max", _number(source, f"{field}.max", raw["max"], want)
    )
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(source, f"{field}.log", f"must be true or false, got {log!r}")
    if low > high:
        raise ConfigError(source, field, f"min ({low}) must be ≤ max ({high})")
    if log and low <= 0:
        raise ConfigError(source, f"{field}.min", f"log scale needs min > 0, got {low}")
    if kind == "float":
        return FloatSpec(name, float(low), float(high), log)
    step = _number(source, f"{field}.step", raw.get("step", 1), int)
    if step < 1:
        raise ConfigError(source, f"{field}.step", f"must be ≥ 1, got {step}")
    if log and step != 1:
        raise ConfigError(source, f"{field}.step", "a log-scale int range cannot have a step")
    return IntSpec(name, int(low), int(high), int(step), log)


def parse_space(source: str, raw: Any) -> SearchSpace:
    """Validate the `space:` mapping of a task YAML."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(source, "space", "must be a mapping of hyperparameter → range")
    specs = [parse_param(source, str(name), value) for name, value in raw.items()]
    names = {s.name for s in specs}
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ConfigError(source, "space", f"missing hyperparameter(s): {', '.join(missing)}")
    if "dropout" not in names:
        specs.append(FixedSpec("dropout", 0.0))
    return SearchSpace(tuple(specs))


def unit_names(n_layers: int) -> list[str]:
    """The per-layer unit parameter names for a network with `n_layers` hidden layers."""
    return [f"units_{i}" for i in range(1, n_layers + 1)]
