"""Task YAML loading: unknown tasks, malformed YAML, bad sections, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_task

from sweepflow.config.task import known_tasks, load_task
from sweepflow.errors import ConfigError, UnknownTaskError

REPO = Path(__file__).resolve().parents[2]  # the repository root


def test_every_builtin_task_file_validates():
    names = known_tasks(REPO / "search_spaces")
    assert {
        "carseats",
        "boston_housing",
        "imdb",
        "reuters",
        "fashion_mnist",
        "diabetes",
        "breast_cancer",
        "digits",
    } <= set(names)
    kinds = {load_task(n, REPO / "search_spaces").kind for n in names}
    assert kinds == {"regression", "binary", "multiclass"}


def test_unknown_task_lists_the_known_ones(tmp_path):
    write_task(tmp_path, "alpha", "regression")
    with pytest.raises(UnknownTaskError) as err:
        load_task("beta", tmp_path)
    assert "unknown task 'beta'" in str(err.value)
    assert "Known tasks: alpha" in str(err.value)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("task: broken\nkind: regression\nspace: {layers: [1, 2\n")
    with pytest.raises(ConfigError) as err:
        load_task(str(bad), tmp_path)
    assert str(bad) in str(err.value)
    assert "line" in err.value.field


@pytest.mark.parametrize(
    ("section", "value", "field"),
    [
        ("kind", "ranking", "kind"),
        ("search", {"engine": "hyperopt"}, "search.engine"),
        ("search", {"pruner": "sometimes"}, "search.pruner"),
        ("search", {"trials": 0}, "search.trials"),
        ("search", {"trails": 3}, "search.trails"),
        ("data", {"source": "csv", "path": "x.csv"}, "data.target"),
        ("data", {"source": "ftp", "path": "x.csv", "target": "y"}, "data.source"),
        (
            "data",
            {"source": "csv", "path": "x.csv", "target": "y", "val_fraction": 1.5},
            "data.val_fraction",
        ),
        ("training", {"patience": 0}, "training.patience"),
        ("objective", {"metric": "loss"}, "objective.metric"),
        ("retrain", {"alpha": 1.5}, "retrain.alpha"),
        ("retrain", {"seeds": 0}, "retrain.seeds"),
        ("retrain", {"test": "mcnemar"}, "retrain.test"),  # regression: bootstrap only
        ("retrain", {"sedes": 3}, "retrain.sedes"),
        ("cv", 1, "cv"),
        ("search", {"timeout": -5}, "search.timeout"),
    ],
)
def test_bad_sections_are_refused_with_their_field(tmp_path, section, value, field):
    path = write_task(tmp_path, "t", "regression", overrides={section: value})
    with pytest.raises(ConfigError) as err:
        load_task(str(path), tmp_path)
    assert err.value.field == field
    assert str(path) in str(err.value)


def test_overrides_replace_only_what_is_given(tmp_path):
    cfg = load_task(str(write_task(tmp_path, "t", "binary")), tmp_path)
    changed = cfg.with_overrides(trials=7, engine=None, seed=None)
    assert (changed.search.trials, changed.search.seed) == (7, cfg.search.seed)
    assert cfg.search.trials == 2  # frozen original untouched
    with pytest.raises(ConfigError, match="search.trials"):
        cfg.with_overrides(trials=-1)
    assert (cfg.objective, cfg.direction) == ("val_accuracy", "maximize")
