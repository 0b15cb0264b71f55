"""End to end through the real Prefect flow, MLflow store and Optuna study, on tiny tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from helpers import make_table, runs_of, score_from_champion, tune, write_task
from mlflow import MlflowClient

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.errors import DataError
from sweepflow.evaluate.final import predict_labels
from sweepflow.store.layout import Store

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.mark.parametrize(
    ("kind", "headline", "extra"),
    [
        ("regression", "test_mae", {"test_rmse", "test_r2"}),
        ("binary", "test_accuracy", {"test_precision", "test_recall", "test_f1", "test_roc_auc"}),
        ("multiclass", "test_accuracy", {"test_macro_f1"}),
    ],
)
def test_tune_end_to_end_for_each_kind(tmp_path, kind, headline, extra):
    task = f"tiny_{kind}"
    # a regression champion must undo the head's target scaling when it serves raw inputs
    scaled = {"target_scaling": "standard"} if kind == "regression" else None
    yaml_path = write_task(tmp_path / "spaces", task, kind, data=scaled)
    store = Store(tmp_path / "store")
    report = tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path / "spaces"))
    assert report.promoted and report.version == "1"

    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    parents, children = runs_of(client, task)
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweepflow.stage"] == "registered"
    assert {headline, *extra} <= set(parent.data.metrics)
    assert (
        parent.data.metrics["n_trials_complete"]
        + parent.data.metrics["n_trials_pruned"]
        + parent.data.metrics["n_trials_failed"]
        == 2
    )
    assert {"best.learning_rate", "best.optimizer", "best.layers"} <= set(parent.data.params)
    if kind == "regression":
        assert float(parent.data.params["target_scale"]) > 1.5  # y's sd on the training split
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.png" in parent_files
    evaluation = {a.path for a in client.list_artifacts(parent.info.run_id, "evaluation")}
    assert (
        "evaluation/predicted_vs_actual.png"
        if kind == "regression"
        else "evaluation/confusion_matrix.png"
    ) in evaluation

    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["state"] in {"complete", "pruned"}
        assert {"learning_rate", "batch_size", "optimizer", "units_1"} <= set(child.data.params)
        epochs = int(child.data.metrics["epochs_run"])
        for key in ("loss", "val_loss"):
            steps = [m.step for m in client.get_metric_history(child.info.run_id, key)]
            assert steps == list(range(1, epochs + 1))
        files = [a.path for a in client.list_artifacts(child.info.run_id, "plots")]
        # the PNG is drawn for the 3 best completed trials: here every completed one
        png = child.data.tags["state"] == "complete"
        assert files == (["plots/learning_curve.png"] if png else [])

    champion = client.get_model_version_by_alias(task, "champion")
    assert str(champion.version) == "1" and champion.run_id == parent.info.run_id
    assert champion.tags["headline_metric"] == headline
    data = prepare(load_task(str(yaml_path), tmp_path), tmp_path / "spaces")
    recomputed = score_from_champion(task, data, store.mlflow_uri)
    assert recomputed == pytest.approx(parent.data.metrics[headline], abs=1e-5)


@pytest.mark.slow  # among the longest of the fast suite; CI runs it in make test-slow
def test_second_run_resumes_the_study_and_keeps_the_better_champion(tmp_path):
    task = "tiny_resume"
    yaml_path = write_task(tmp_path, task, "binary")
    store = Store(tmp_path / "store")
    first = tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path))
    second = tune(str(yaml_path), trials=3, store=str(store.root), data_dir=str(tmp_path))

    study = optuna.load_study(study_name=task, storage=store.study_storage)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]  # 2 + 3, numbering continues
    assert len({str(t.params) for t in study.trials}) == 5  # resumed sampler did not replay
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    parents, children = runs_of(client, task)
    assert len(parents) == 2 and len(children) == 5
    assert sorted(int(c.data.tags["trial_number"]) for c in children) == [0, 1, 2, 3, 4]

    assert (first.version, second.version) == ("1", "2")
    champion = client.get_model_version_by_alias(task, "champion")
    better = second.test_metrics["test_accuracy"] > first.test_metrics["test_accuracy"]
    assert second.promoted == better
    assert str(champion.version) == ("2" if better else "1")
    second_parent = next(p for p in parents if p.info.run_id == second.parent_run_id)
    assert second_parent.data.tags["champion.promoted"] == str(better)
    assert second_parent.data.tags["champion.previous_version"] == "1"


def test_bad_data_fails_cleanly_and_leaves_the_store_intact(tmp_path):
    store = Store(tmp_path / "store")
    good = write_task(tmp_path, "tiny_keep", "regression")
    tune(str(good), trials=1, store=str(store.root), data_dir=str(tmp_path))
    frame = make_table("regression").drop(columns="y")
    bad = write_task(tmp_path, "tiny_keep_bad", "regression", frame)
    with pytest.raises(DataError, match="target column 'y' not found"):
        tune(str(bad), store=str(store.root), data_dir=str(tmp_path))
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    parents, children = runs_of(client, "tiny_keep")
    assert len(parents) == 1 and len(children) == 1
    assert client.get_experiment_by_name("tiny_keep_bad") is None  # nothing half-created
    assert str(client.get_model_version_by_alias("tiny_keep", "champion").version) == "1"
    assert len(optuna.load_study(study_name="tiny_keep", storage=store.study_storage).trials) == 1


def test_predict_labels_cut_off():
    assert predict_labels("binary", np.array([[0.49], [0.5], [0.9]])).tolist() == [0, 1, 1]
    assert predict_labels("multiclass", np.array([[0.1, 0.7, 0.2]])).tolist() == [1]


@pytest.mark.parametrize("values", ["binary", "log_count"])
def test_reuters_format_end_to_end_predicts_on_raw_token_lists(tmp_path, values):
    """TASK=reuters runs through the same loader: a generated .npz in the Keras format; the
    champion scores raw token lists as the final evaluation did, 0/1 or log-count inputs."""
    rng = np.random.default_rng(1)
    labels = np.arange(150) % 3
    seqs = np.empty(150, dtype=object)
    for i, label in enumerate(labels):  # each topic favours its own word indices
        seqs[i] = (rng.integers(1, 40, size=8) + 40 * label).tolist()
    folder = tmp_path / "data" / "keras" / "datasets"
    folder.mkdir(parents=True)
    np.savez(folder / "reuters.npz", x=seqs, y=labels)
    yaml_path = write_task(
        tmp_path,
        "tiny_reuters",
        "multiclass",
        overrides={
            "data": {"source": "keras", "name": "reuters", "num_words": 200, "term_values": values},
        },
    )
    store = Store(tmp_path / "store")
    report = tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path / "data"))
    assert report.promoted
    data = prepare(load_task(str(yaml_path), tmp_path), tmp_path / "data")
    assert list(data.raw_test.columns) == ["tokens"]
    recomputed = score_from_champion("tiny_reuters", data, store.mlflow_uri)
    assert recomputed == pytest.approx(report.test_metrics["test_accuracy"], abs=1e-5)


@pytest.mark.parametrize(("members", "expected"), [("top", 3), ("best", 2)])
def test_ensemble_final_model_is_registered_as_one_model_that_averages_its_members(
    tmp_path, members, expected
):
    task = f"ens_{members}"
    search = {"trials": 3, "seed": 2, "pruner": "none"}
    final = {"ensemble": expected, "members": members}
    yaml_path = write_task(
        tmp_path / "spaces", task, "multiclass", overrides={"search": search, "final": final}
    )
    store = Store(tmp_path / "store")
    tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path / "spaces"))

    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    (parent,), trials = runs_of(client, task)
    assert parent.data.metrics["final_members"] == expected
    listing = client.download_artifacts(parent.info.run_id, "evaluation/ensemble.json", tmp_path)
    rows = json.loads(Path(listing).read_text())["members"]
    assert len(rows) == expected
    if members == "top":  # the three trials, best first
        values = {
            int(t.data.tags["trial_number"]): t.data.metrics["final_val_accuracy"] for t in trials
        }
        ranked = [values[r["trial"]] for r in rows]
        assert sorted(values) == sorted(r["trial"] for r in rows)
        assert ranked == sorted(ranked, reverse=True)
    else:  # one configuration, distinct seeds
        assert len({r["seed"] for r in rows}) == expected
        assert all(r["params"] == rows[0]["params"] for r in rows)
    data = prepare(load_task(str(yaml_path), tmp_path), tmp_path / "spaces")
    recomputed = score_from_champion(task, data, store.mlflow_uri)
    assert recomputed == pytest.approx(parent.data.metrics["test_accuracy"], abs=1e-5)


@pytest.mark.parametrize(("final", "drawn"), [(None, 3), ({"ensemble": 4, "members": "top"}, 4)])
def test_learning_curve_pngs_are_drawn_for_the_best_trials_only(tmp_path, final, drawn):
    task = "curves"
    overrides = {"search": {"trials": 5, "seed": 3, "pruner": "none"}}
    if final:
        overrides["final"] = final
    yaml_path = write_task(tmp_path / "spaces", task, "regression", overrides=overrides)
    store = Store(tmp_path / "store")
    tune(str(yaml_path), store=str(store.root), data_dir=str(tmp_path / "spaces"))

    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    _, trials = runs_of(client, task)
    assert len(trials) == 5 and all(t.data.tags["state"] == "complete" for t in trials)
    ranked = sorted(trials, key=lambda t: t.data.metrics["final_val_mae"])
    for place, trial in enumerate(ranked):
        files = [a.path for a in client.list_artifacts(trial.info.run_id, "plots")]
        assert files == (["plots/learning_curve.png"] if place < drawn else []), place
    # every trial keeps its per-epoch curves in its run's metrics
    for trial in trials:
        assert len(client.get_metric_history(trial.info.run_id, "val_loss")) >= 1


def test_average_model_outputs_the_mean_of_its_members():
    from sweepflow.model.network import ModelSpec, average_model, build_model, fresh_state

    spec = ModelSpec("multiclass", 5, 3)
    params = {"layers": 1, "units_1": 4, "learning_rate": 0.01, "optimizer": "adam"}
    fresh_state(0)
    nets = [build_model(params, spec, name=f"member_{i}") for i in range(3)]
    x = np.random.default_rng(0).random((7, 5), dtype=np.float32)
    mean = np.mean([n.predict(x, verbose=0) for n in nets], axis=0)
    np.testing.assert_allclose(average_model(nets, spec).predict(x, verbose=0), mean, rtol=1e-5)
    assert average_model(nets[:1], spec) is nets[0]
