"""Both engines over one YAML space: identical tracking, resumable state, load-time refusals."""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
import threading
import time
from pathlib import Path

import optuna
import pytest
from helpers import SMALL_SPACE, runs_of, score_from_champion, tune, write_task
from mlflow import MlflowClient

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.errors import ConfigError
from sweepflow.store.layout import Store


def kt_task(tmp_path, name, kind, tuner, trials=3, space=None):
    return write_task(
        tmp_path,
        name,
        kind,
        overrides={
            "search": {"engine": "keras-tuner", "tuner": tuner, "trials": trials, "seed": 2},
            **({"space": space} if space else {}),
        },
    )


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("kind", "tuner"),
    [
        ("regression", "hyperband"),
        ("binary", "bayesian"),
        ("multiclass", "random"),
    ],
)
def test_keras_tuner_trials_are_tracked_like_optuna_ones(tmp_path, kind, tuner):
    name = f"kt_{kind}"
    path = kt_task(tmp_path, name, kind, tuner)
    store = Store(tmp_path / "store")
    report = tune(str(path), store=str(store.root), data_dir=str(tmp_path))
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    parents, children = runs_of(client, name)
    assert len(parents) == 1 and len(children) == 3
    assert parents[0].data.params["engine"] == "keras-tuner"
    assert parents[0].data.params["tuner"] == tuner
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.data.tags["state"] == "complete"
        assert {"layers", "units_1", "learning_rate", "batch_size"} <= set(child.data.params)
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert len(history) >= 1 and history[-1].step == int(child.data.metrics["epochs_run"])
        # all 3 trials completed, so all are among the 3 best that get a learning-curve PNG
        assert [a.path for a in client.list_artifacts(child.info.run_id, "plots")] == [
            "plots/learning_curve.png"
        ]
    # the best trial's value is the same number its MLflow run recorded
    best = max if kind != "regression" else min
    objective = "val_mae" if kind == "regression" else "val_accuracy"
    assert report.best_value == pytest.approx(
        best(c.data.metrics[f"final_{objective}"] for c in children)
    )
    data = prepare(load_task(str(path), tmp_path), tmp_path)
    headline = "test_mae" if kind == "regression" else "test_accuracy"
    assert score_from_champion(name, data, store.mlflow_uri) == pytest.approx(
        report.test_metrics[headline], abs=1e-5
    )
    assert (store.root / "keras_tuner" / f"{name}-{tuner}" / "oracle.json").is_file()


@pytest.mark.slow  # among the longest of the fast suite; CI runs it in make test-slow
@pytest.mark.usefixtures("prefect_harness")
def test_keras_tuner_rerun_continues_its_state(tmp_path):
    path = kt_task(tmp_path, "kt_resume", "binary", "random", trials=2)
    store = Store(tmp_path / "store")
    tune(str(path), store=str(store.root), data_dir=str(tmp_path))
    tune(str(path), store=str(store.root), data_dir=str(tmp_path))
    oracle = json.loads(
        (store.root / "keras_tuner" / "kt_resume-random" / "oracle.json").read_text()
    )
    assert len(oracle["tried_so_far"]) == 4
    parents, children = runs_of(
        MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri), "kt_resume"
    )
    assert len(parents) == 2
    assert sorted(int(c.data.tags["trial_number"]) for c in children) == [0, 1, 2, 3]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("sampler", "pruner", "cls"),
    [
        ("random", "median", optuna.samplers.RandomSampler),
        ("grid", "none", optuna.samplers.GridSampler),
        ("cmaes", "successive_halving", optuna.samplers.CmaEsSampler),
    ],
)
def test_optuna_samplers_and_pruners_from_the_yaml(tmp_path, sampler, pruner, cls):
    space = copy.deepcopy(SMALL_SPACE)
    if sampler == "grid":
        space["learning_rate"] = {"type": "choice", "values": [0.01, 0.03]}
        space["dropout"] = 0.0
    name = f"sampler_{sampler}"
    path = write_task(
        tmp_path,
        name,
        "binary",
        overrides={
            "search": {"sampler": sampler, "pruner": pruner, "trials": 2, "seed": 0},
            "space": space,
        },
    )
    store = Store(tmp_path / "store")
    tune(str(path), store=str(store.root), data_dir=str(tmp_path))
    from sweepflow.engines.optuna_engine import OptunaEngine

    study = OptunaEngine(store.study_storage).load_study(load_task(str(path), tmp_path))
    assert isinstance(study.sampler, cls)
    assert len(study.trials) == 2
    if sampler == "grid":
        assert {t.params["learning_rate"] for t in study.trials} <= {0.01, 0.03}
    for t in study.trials:  # values reach the study only where the pruner can act on them
        steps, run = sorted(t.intermediate_values), t.user_attrs["epochs_run"]
        if pruner == "median":
            assert steps == list(range(1, run + 1))
        elif pruner == "none":
            assert steps == []
        else:  # successive halving decides at its rungs: 2, 6, 18, … epochs
            assert steps == [s for s in (2, 6, 18, 54) if s <= run]
            assert run >= 2


def test_pruner_acts_at_its_rungs_every_step_or_never():
    from sweepflow.engines.optuna_pruning import pruner_acts_at

    rungs = [s for s in range(1, 200) if pruner_acts_at("hyperband", s)]
    assert rungs == [2, 6, 18, 54, 162]
    assert [s for s in range(1, 200) if pruner_acts_at("successive_halving", s)] == rungs
    assert all(pruner_acts_at("median", s) for s in range(1, 200))
    assert not any(pruner_acts_at("none", s) for s in range(1, 200))


@pytest.mark.parametrize(
    ("search", "space_change", "field", "words"),
    [
        (
            {"engine": "keras-tuner", "tuner": "hyperband"},
            {"epochs": {"type": "int", "min": 5, "max": 20}},
            "space.epochs",
            "allots epochs",
        ),
        ({"sampler": "grid"}, {}, "space.dropout", "grid sampler needs discrete values"),
        (
            {"sampler": "grid"},
            {
                "dropout": 0.0,
                "learning_rate": 0.01,
                "units": {"type": "int", "min": 1, "max": 5000},
            },
            "search.sampler",
            "grid has",
        ),
        (
            {"sampler": "cmaes"},
            {"layers": 1, "units": 8, "dropout": 0.0, "learning_rate": 0.01},
            "search.sampler",
            "cmaes needs",
        ),
        ({"engine": "ray"}, {}, "search.engine", "must be one of"),
        ({"tuner": "genetic"}, {}, "search.tuner", "must be one of"),
    ],
)
def test_space_features_an_engine_cannot_express_are_refused_at_load(
    tmp_path, search, space_change, field, words
):
    space = copy.deepcopy(SMALL_SPACE)
    space.update(space_change)
    path = write_task(tmp_path, "t", "binary", overrides={"search": search, "space": space})
    with pytest.raises(ConfigError) as err:
        load_task(str(path), tmp_path)
    assert err.value.field == field and words in str(err.value)


def test_engine_override_is_validated_like_the_yaml(tmp_path):
    space = copy.deepcopy(SMALL_SPACE)
    space["epochs"] = {"type": "int", "min": 3, "max": 6}
    cfg = load_task(str(write_task(tmp_path, "t", "binary", overrides={"space": space})), tmp_path)
    with pytest.raises(ConfigError, match="allots epochs"):
        cfg.with_overrides(engine="keras-tuner")


def _refuse_writes(db: Path, table: str) -> None:
    """From now on every insert and update of `table` fails as a write to a broken store does
    (an OperationalError, not a constraint Optuna would ignore); reads still work."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        for op in ("insert", "update"):
            con.execute(
                f"create trigger refuse_{op}_{table} before {op} on {table} "
                "begin insert into a_table_that_is_gone values (1); end"
            )
        con.commit()


def test_a_heartbeat_the_store_refuses_is_kept_not_printed_and_the_trial_confirms_it(
    tmp_path, monkeypatch, capfd
):
    """Optuna's heartbeat thread meets a store that refuses its write: no traceback on stderr;
    the trial's own thread then writes, and raises only if the store refuses that write too."""
    from sweepflow.engines.optuna_pruning import EpochPruning
    from sweepflow.store.optuna_storage import make_storage

    monkeypatch.setenv("SWEEPFLOW_HEARTBEAT_SECONDS", "1")
    died: list[BaseException | None] = []  # a thread ended by an exception (printed, by default)
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    db = tmp_path / "optuna.db"
    storage = make_storage(f"sqlite:///{db}")
    study = optuna.create_study(storage=storage)
    seen: list[bool] = []

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 0:
            _refuse_writes(db, "trial_heartbeats")  # every heartbeat write now fails
        time.sleep(2.5)  # the heartbeat thread tries again
        seen.append(storage.heartbeat_failed)
        pruning = EpochPruning(trial, "val_loss", "none", storage)
        pruning.on_epoch_end(0, {"val_loss": 1.0})  # a write of its own: the store takes it
        if trial.number == 1:
            _refuse_writes(db, "trial_user_attributes")
            storage.heartbeat_failed = True
            pruning.on_epoch_end(1, {"val_loss": 1.0})  # the store refuses it: raised here
        return 1.0

    study.optimize(objective, n_trials=1)
    assert seen == [True]
    assert died == []
    assert study.trials[0].user_attrs == {"heartbeat_missed_at_epoch": 1}
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert not storage.heartbeat_failed
    assert "Traceback" not in capfd.readouterr().err
    with pytest.raises(optuna.exceptions.StorageInternalError):
        study.optimize(objective, n_trials=1)
