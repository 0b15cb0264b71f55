"""Search-space YAML validation and the Optuna adapter."""

from __future__ import annotations

import copy

import optuna
import pytest
from helpers import SMALL_SPACE

from sweepflow.config.space import ChoiceSpec, FixedSpec, FloatSpec, IntSpec, parse_space
from sweepflow.engines.optuna_engine import suggest
from sweepflow.errors import ConfigError


def space_with(**changes: object) -> dict:
    raw = copy.deepcopy(SMALL_SPACE)
    raw.update(changes)
    return raw


def test_valid_space_parses_into_frozen_specs():
    space = parse_space("t.yaml", SMALL_SPACE)
    assert space["layers"] == IntSpec("layers", 1, 2)
    assert space["learning_rate"] == FloatSpec("learning_rate", 0.005, 0.05, log=True)
    assert space["optimizer"] == ChoiceSpec("optimizer", ("adam", "rmsprop"))
    assert space["epochs"] == FixedSpec("epochs", 6)
    assert space.max_value("batch_size") == 32
    with pytest.raises(AttributeError):
        space["layers"].low = 3  # frozen


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"units": {"type": "int", "min": 32, "max": 8}}, "space.units", "min (32) must be ≤ max"),
        (
            {"learning_rate": {"type": "float", "min": 0.0, "max": 0.1, "log": True}},
            "space.learning_rate.min",
            "learning rate must be > 0",
        ),
        ({"units": {"type": "int", "min": 0, "max": 8, "log": True}}, "space.units.min", "≥ 1"),
        (
            {"dropout": {"type": "float", "min": -0.5, "max": 0.5, "log": True}},
            "space.dropout.min",
            "dropout must be in",
        ),
        ({"optimizer": {"type": "choice", "values": []}}, "space.optimizer.values", "non-empty"),
        (
            {"optimizer": {"type": "choice", "values": ["adam", "adamw"]}},
            "space.optimizer.values",
            "unknown optimizer",
        ),
        (
            {"batch_size": {"type": "choice", "values": [16, "big"]}},
            "space.batch_size.values",
            "must be int",
        ),
        (
            {"units": {"type": "int", "min": 4, "max": 16, "stepp": 2}},
            "space.units",
            "unexpected key",
        ),
        (
            {"layers": {"type": "integer", "min": 1, "max": 2}},
            "space.layers.type",
            "must be one of",
        ),
        ({"layerz": 2}, "space.layerz", "unknown hyperparameter"),
        ({"learning_rate": -0.01}, "space.learning_rate", "must be > 0"),
        ({"learning_rate": 0}, "space.learning_rate", "must be > 0"),
        ({"epochs": 2.5}, "space.epochs", "must be int"),
        ({"units": {"type": "float", "min": 4, "max": 16}}, "space.units.type", "use type: int"),
    ],
)
def test_invalid_space_names_field_and_reason(changes, field, words):
    with pytest.raises(ConfigError) as err:
        parse_space("tasks/t.yaml", space_with(**changes))
    message = str(err.value)
    assert message.startswith("tasks/t.yaml: field ")
    assert err.value.field == field
    assert words in message


def test_missing_required_hyperparameter():
    raw = space_with()
    del raw["learning_rate"]
    with pytest.raises(ConfigError, match="missing hyperparameter.*learning_rate"):
        parse_space("t.yaml", raw)


def test_optuna_adapter_samples_inside_the_space_with_units_per_layer(tmp_path):
    space = parse_space("t.yaml", SMALL_SPACE)
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'o.db'}", sampler=optuna.samplers.RandomSampler(seed=3)
    )
    seen_layers = set()
    for _ in range(20):
        trial = study.ask()
        params = suggest(space, trial)
        study.tell(trial, 0.0)
        n = params["layers"]
        seen_layers.add(n)
        units = [params[f"units_{i}"] for i in range(1, n + 1)]
        assert all(4 <= u <= 16 for u in units)
        assert f"units_{n + 1}" not in params
        assert 0.005 <= params["learning_rate"] <= 0.05
        assert params["optimizer"] in ("adam", "rmsprop")
        assert params["epochs"] == 6  # fixed values pass straight through
    assert seen_layers == {1, 2}
