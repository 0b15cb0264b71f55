"""k-fold CV: fold runs nested under the trial run, mean objective, per-fold pruning."""

from __future__ import annotations

import statistics

import optuna
import pytest
from helpers import runs_of, tune, write_task
from mlflow import MlflowClient

from sweepflow.config.monitor import Monitor
from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.engines.optuna_engine import OptunaEngine
from sweepflow.engines.optuna_pruning import EpochPruning
from sweepflow.errors import ConfigError
from sweepflow.search.cv import best_mean_epoch
from sweepflow.search.recorder import TrialRecorder
from sweepflow.search.session import Session
from sweepflow.store.layout import Store
from sweepflow.tracking import Tracker


def fold_curves(client: MlflowClient, exp: str, trial_run_id: str) -> list[list[float]]:
    """The logged val_mae curve of each fold run under a trial run, in fold order."""
    folds = client.search_runs([exp], f"tags.mlflow.parentRunId = '{trial_run_id}'")
    folds = sorted(folds, key=lambda f: int(f.data.tags["fold"]))
    history = [client.get_metric_history(f.info.run_id, "val_mae") for f in folds]
    return [[m.value for m in sorted(h, key=lambda m: m.step)] for h in history]


def test_the_best_epoch_of_the_mean_curve_is_not_the_mean_of_fold_bests():
    # each fold is lucky at a different epoch: the fold bests average 1.0, no epoch does
    curves = [[3.0, 1.0, 3.0, 2.5], [1.0, 3.0, 3.0]]
    assert best_mean_epoch(curves, Monitor("val_mae", "min")) == (1, 2.0, [3.0, 1.0])
    epoch, value, folds = best_mean_epoch(
        [[0.5, 0.9, 0.7], [0.6, 0.8, 0.9]], Monitor("val_accuracy", "max")
    )
    assert (epoch, folds) == (2, [0.9, 0.8]) and value == pytest.approx(0.85)


def test_a_fold_that_stopped_early_does_not_cut_the_mean_curve_short():
    # fold 2 stopped at epoch 2; it keeps its last value (2.0), so epoch 4 can still win
    curves = [[4.0, 3.0, 2.0, 1.0], [3.0, 2.0]]
    assert best_mean_epoch(curves, Monitor("val_mae", "min")) == (4, 1.5, [1.0, 2.0])
    # and where the padded value is bad, the longer training does not win
    assert best_mean_epoch([[4.0, 3.0, 2.9], [2.0, 5.0]], Monitor("val_mae", "min")) == (
        1,
        3.0,
        [4.0, 2.0],
    )


@pytest.mark.usefixtures("prefect_harness")
def test_cv_trials_average_their_nested_fold_runs(tmp_path):
    # raw targets, as this test was written for (standardised targets are now the default)
    path = write_task(
        tmp_path, "tiny_cv", "regression", overrides={"cv": 3}, data={"target_scaling": "none"}
    )
    store = Store(tmp_path / "store")
    report = tune(str(path), store=str(store.root), data_dir=str(tmp_path))
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    parents, children = runs_of(client, "tiny_cv")
    exp = client.get_experiment_by_name("tiny_cv").experiment_id
    assert len(children) == 2
    for trial in children:
        folds = client.search_runs([exp], f"tags.mlflow.parentRunId = '{trial.info.run_id}'")
        assert sorted(int(f.data.tags["fold"]) for f in folds) == [1, 2, 3]
        # a cv trial's curves are its folds': each fold run of a best trial gets the PNG
        assert not client.list_artifacts(trial.info.run_id, "plots")
        for f in folds:
            plots = [a.path for a in client.list_artifacts(f.info.run_id, "plots")]
            assert plots == ["plots/learning_curve.png"]
        fold_values = [f.data.metrics["final_val_mae"] for f in folds]
        curves = fold_curves(client, exp, trial.info.run_id)
        n = max(len(c) for c in curves)
        curves = [c + c[-1:] * (n - len(c)) for c in curves]  # a stopped fold keeps its last
        mean_curve = [statistics.mean(c[i] for c in curves) for i in range(n)]
        best = min(range(n), key=lambda i: mean_curve[i])
        metrics = trial.data.metrics
        assert metrics["cv_val_mae_mean"] == pytest.approx(mean_curve[best], rel=1e-6)
        assert metrics["final_val_mae"] == pytest.approx(mean_curve[best], rel=1e-6)
        assert metrics["best_epoch"] == best + 1
        assert metrics["cv_val_mae_std"] == pytest.approx(statistics.stdev(c[best] for c in curves))
        assert metrics["cv_val_mae_mean_of_fold_bests"] == pytest.approx(
            statistics.mean(fold_values)
        )
        assert metrics["cv_val_mae_mean"] >= metrics["cv_val_mae_mean_of_fold_bests"] - 1e-9
        for fold in folds:
            steps = [m.step for m in client.get_metric_history(fold.info.run_id, "val_loss")]
            assert steps == list(range(1, int(fold.data.metrics["epochs_run"]) + 1))
    assert report.best_value == pytest.approx(
        min(c.data.metrics["final_val_mae"] for c in children)
    )
    parent = parents[0].data.metrics
    assert "test_mae" in parent
    # the epoch budget of a cv search is every fold's: trials x max epochs x folds
    fold_epochs = sum(
        f.data.metrics["epochs_run"]
        for trial in children
        for f in client.search_runs([exp], f"tags.mlflow.parentRunId = '{trial.info.run_id}'")
    )
    assert parent["epochs_trained"] == fold_epochs
    budget = len(children) * load_task(str(path), tmp_path).space.max_value("epochs") * 3
    assert parent["epochs_saved_fraction"] == pytest.approx(1 - fold_epochs / budget)
    assert 0 <= parent["epochs_saved_fraction"] < 1


def one_cv_trial(
    tmp_path,
    kind: str,
    cv: int,
    pruner: optuna.pruners.BasePruner,
    data: dict | None = None,
    **params,
) -> tuple[str, Tracker, str, optuna.Study, EpochPruning]:
    """One real cv trial through TrialRecorder: its state, tracker, experiment, study, pruner."""
    path = write_task(tmp_path, "tiny_cvt", kind, overrides={"cv": cv}, data=data)
    cfg = load_task(str(path), tmp_path)
    data = prepare(cfg, tmp_path)
    store = Store(tmp_path / "store")
    store.ensure()
    tracker = Tracker(store.mlflow_uri, store.artifact_root)
    exp = tracker.experiment("tiny_cvt")
    parent = tracker.start_run(exp, "search")
    study = optuna.create_study(storage=store.study_storage, pruner=pruner)
    trial = study.ask()
    pruning = EpochPruning(trial, cfg.objective)
    base = {"layers": 1, "dropout": 0.0, "optimizer": "adam", "batch_size": 32, "epochs": 2}
    outcome = TrialRecorder(cfg, data, tracker, Session(exp, parent, budget=1))(
        {**base, **params}, 0, [pruning], lambda: pruning.pruned
    )
    return outcome.state, tracker, exp, study, pruning


def test_a_pruned_cv_trial_stops_after_the_fold_that_was_pruned(tmp_path):
    pruner = optuna.pruners.ThresholdPruner(upper=0.0)
    state, tracker, exp, _, pruning = one_cv_trial(
        tmp_path, "binary", 4, pruner, units_1=4, learning_rate=0.01
    )
    assert state == "pruned" and pruning.pruned
    trial_run = tracker.client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")[0]
    assert trial_run.data.metrics["cv_folds_run"] == 1
    assert trial_run.data.tags["state"] == "pruned"


def test_a_cv_trial_is_not_pruned_after_its_last_fold(tmp_path):
    # this pruner prunes from step 2 on: with 2 folds that is when every fold has run
    pruner = optuna.pruners.ThresholdPruner(upper=0.0, n_warmup_steps=2)
    state, tracker, exp, study, pruning = one_cv_trial(
        tmp_path, "binary", 2, pruner, units_1=4, learning_rate=0.01
    )
    assert state == "complete" and not pruning.pruned
    trial_run = tracker.client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")[0]
    assert trial_run.data.metrics["cv_folds_run"] == 2
    assert sorted(study.trials[0].intermediate_values) == [1]


def test_the_pruner_is_told_the_best_of_the_padded_mean_curve_after_each_fold(tmp_path):
    # a fast, noisy learner with patience 2 (write_task's): the folds peak and stop at
    # different epochs, so the best of the mean curve differs from the mean of the fold bests
    # (raw targets, as the test was written for: standardised ones are now the default)
    state, tracker, exp, study, _ = one_cv_trial(
        tmp_path,
        "regression",
        3,
        optuna.pruners.NopPruner(),
        data={"target_scaling": "none"},
        units_1=8,
        learning_rate=0.3,
        optimizer="rmsprop",
        batch_size=8,
        epochs=12,
    )
    assert state == "complete"
    trial_run = tracker.client.search_runs([exp], "tags.`sweepflow.role` = 'trial'")[0]
    curves = fold_curves(tracker.client, exp, trial_run.info.run_id)
    reported = study.trials[0].intermediate_values
    objective = Monitor("val_mae", "min")
    fold_bests = [min(c) for c in curves]
    assert sorted(reported) == [1, 2]  # nothing is reported after the last fold
    for i in (1, 2):
        assert reported[i] == pytest.approx(best_mean_epoch(curves[:i], objective)[1], rel=1e-6)
    # the case this test is about: the two figures part after the second fold
    assert abs(reported[2] - statistics.mean(fold_bests[:2])) > 1e-4, (
        curves,
        reported,
    )


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # trials driven by ask/tell here
def test_hyperband_under_cv_counts_folds_so_every_trial_can_be_pruned_at_fold_two(tmp_path):
    # Hyperband's resource is what a trial reports: 4 folds here, not the epoch budget (6 epochs
    # would make a second bracket whose first rung, step 6, no fold reaches: never pruned)
    search = {"trials": 2, "seed": 1, "pruner": "hyperband"}
    path = write_task(tmp_path, "tiny_hb", "regression", overrides={"cv": 4, "search": search})
    cfg = load_task(str(path), tmp_path)
    store = Store(tmp_path / "store")
    store.ensure()
    study = OptunaEngine(store.study_storage).load_study(cfg)
    pruned = []
    for i in range(12):  # each trial worse than all before it
        trial = study.ask()
        trial.report(1.0 + i, 1)
        trial.report(1.0 + i, 2)
        pruned.append(trial.should_prune())
        study.tell(trial, 1.0 + i)
    assert pruned == [False] + [True] * 11


def test_cv_is_refused_where_it_cannot_run(tmp_path):
    path = write_task(
        tmp_path,
        "t",
        "binary",
        overrides={"cv": 3, "search": {"engine": "keras-tuner", "tuner": "random"}},
    )
    with pytest.raises(ConfigError, match="k-fold trials run with the optuna engine only"):
        load_task(str(path), tmp_path)
    with pytest.raises(ConfigError, match="2 ≤ k"):
        load_task(str(write_task(tmp_path, "u", "binary", overrides={"cv": 1})), tmp_path)


def test_folds_over_many_classes_with_two_rows_each_fall_back_to_plain_kfold(tmp_path):
    """Many-class tables cannot be stratified into folds; every row is still validated once."""
    import numpy as np
    import pandas as pd

    from sweepflow.search.cv import fold_splits

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    frame["y"] = [f"c{i // 2}" for i in range(400)]  # 200 classes, 2 rows each
    path = write_task(tmp_path, "many", "multiclass", frame)
    data = prepare(load_task(str(path), tmp_path), tmp_path)
    folds = fold_splits(data, 4, seed=0)
    rows = len(data.y_train) + len(data.y_val)
    assert len(folds) == 4
    assert sorted(np.concatenate([val for _, val in folds]).tolist()) == list(range(rows))

    few = write_task(tmp_path, "few", "multiclass")  # a usual table: stratified
    data = prepare(load_task(str(few), tmp_path), tmp_path)
    y = np.concatenate([data.y_train, data.y_val])
    for _, val in fold_splits(data, 4, seed=0):
        assert set(y[val]) == set(y)  # every class in every validation fold
