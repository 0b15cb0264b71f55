"""A user's own CSV with the minimal YAML: defaults, missing values, column hygiene, imbalance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from helpers import child_env, make_table, tune
from mlflow import MlflowClient
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from sweepflow.config.defaults import auto_config
from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.data.preprocess import from_dict, to_dict
from sweepflow.errors import DataError
from sweepflow.model.metrics import best_threshold_f1, class_weights
from sweepflow.model.network import ModelSpec, build_model, fit
from sweepflow.registry.serving import decode
from sweepflow.store.layout import Store

REPO = Path(__file__).resolve().parents[2]  # the repository root


def minimal_task(folder: Path, name: str, kind: str, frame: pd.DataFrame, **extra: object) -> Path:
    """The YAML a new user writes: task, kind, data (source, path, target) and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{name}.csv", index=False)
    spec = {
        "task": name,
        "kind": kind,
        "data": {"source": "csv", "path": f"{name}.csv", "target": "y"},
    }
    for key, value in extra.items():
        if key == "data":
            spec["data"].update(value)
        else:
            spec[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def messy_table(kind: str, n: int = 200, seed: int = 0) -> pd.DataFrame:
    """make_table plus what real CSVs bring: row names, an ID, holes, a missing target."""
    frame = make_table(kind, n=n, seed=seed)
    frame.insert(0, "rownames", np.arange(1, n + 1))
    frame.insert(1, "customer_id", [f"C{i:05d}" for i in range(n)])
    frame["visits"] = np.arange(n) % 5  # an integer column: NaN must still be accepted later
    frame.loc[::9, "x2"] = np.nan  # numeric holes → median + indicator
    frame.loc[::11, "color"] = None  # categorical holes → their own level
    return frame


def test_the_minimal_yaml_is_a_complete_task_sized_from_the_table(tmp_path):
    path = minimal_task(tmp_path, "mini", "binary", make_table("binary", n=300))
    cfg = load_task(str(path), tmp_path)
    assert cfg.auto and cfg.space is None and cfg.objective == "val_accuracy"
    small = auto_config(cfg, rows=240)
    assert small.cv == 4 and small.final.ensemble == 5 and small.search.timeout == 180
    assert small.space["units"].high == 128 and small.space.max_value("layers") == 2
    large = auto_config(cfg, rows=40_000)
    assert large.cv is None and large.space["units"].high == 512
    assert max(large.space["batch_size"].values) == 512 and large.final.ensemble == 3
    wide = auto_config(cfg, rows=240, features=700, classes=40)
    assert (wide.space["units"].low, wide.space["units"].high) == (64, 1024)
    huge = auto_config(cfg, rows=500_000)
    assert huge.final.ensemble == 1 and huge.space.max_value("epochs") == 30
    # what the YAML (or the command line) sets is kept
    given = auto_config(cfg.with_overrides(trials=3), rows=240)
    assert given.search.trials == 3
    final = {"ensemble": 1, "members": "top"}
    path = minimal_task(tmp_path, "own", "binary", make_table("binary"), final=final, cv=None)
    own = auto_config(load_task(str(path), tmp_path), rows=240)
    assert (own.final.ensemble, own.final.members, own.cv) == (1, "top", None)
    path = minimal_task(tmp_path, "top", "binary", make_table("binary"), final={"members": "top"})
    top = auto_config(load_task(str(path), tmp_path), rows=240)
    assert (top.final.ensemble, top.final.members) == (5, "top")


def test_regression_targets_are_standardised_by_default(tmp_path):
    path = minimal_task(tmp_path, "reg", "regression", make_table("regression"))
    assert load_task(str(path), tmp_path).data.target_scaling == "standard"
    path = minimal_task(tmp_path, "cls", "binary", make_table("binary"))
    assert load_task(str(path), tmp_path).data.target_scaling == "none"


def test_missing_targets_dropped_and_id_rownames_columns_left_out(tmp_path):
    frame = messy_table("regression")
    frame.loc[[3, 50, 70], "y"] = np.nan
    cfg = load_task(str(minimal_task(tmp_path, "holes", "regression", frame)), tmp_path)
    data = prepare(cfg, tmp_path)
    assert data.rows_missing_target == 3
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 197
    assert data.left_out == {"rownames": "row names", "customer_id": "named like an ID"}
    pre = data.preprocessor
    assert pre.numeric == ["x1", "x2", "visits"] and pre.indicators == ["x2"]
    assert "(missing)" in pre.categorical["color"]
    assert np.isfinite(data.x_train).all() and np.isfinite(data.x_test).all()
    assert data.summary()["rows_missing_target"] == 3
    # the strict switch restores today's behaviour
    strict = minimal_task(tmp_path, "strict", "regression", frame, data={"missing": "error"})
    with pytest.raises(DataError, match="missing values"):
        prepare(load_task(str(strict), tmp_path), tmp_path)


def test_data_sep_and_a_semicolon_header_hint(tmp_path):
    frame = make_table("binary")
    path = minimal_task(tmp_path, "semi", "binary", frame)
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    with pytest.raises(DataError, match='set data.sep: ";"'):
        prepare(load_task(str(path), tmp_path), tmp_path)
    path = minimal_task(tmp_path, "semi", "binary", frame, data={"sep": ";"})
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    data = prepare(load_task(str(path), tmp_path), tmp_path)
    assert data.preprocessor.numeric == ["x1", "x2"]


def test_free_text_and_data_drop_columns_left_out(tmp_path):
    frame = make_table("regression", n=200)
    frame["comment"] = [f"note number {i} about {c}" for i, c in enumerate(frame["color"])]
    frame["x3"] = np.arange(200) % 7
    path = minimal_task(tmp_path, "txt", "regression", frame, data={"drop": ["x3"]})
    data = prepare(load_task(str(path), tmp_path), tmp_path)
    assert data.left_out["x3"] == "data.drop"
    assert (
        data.left_out["comment"].startswith("unique per row")
        or "free text" in data.left_out["comment"]
    )


def test_balanced_class_weights_change_the_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype("float32")
    y = (rng.random(200) < 0.1).astype("int32")  # 10 % positives
    weights = class_weights(y)
    assert weights[1] > 4 * weights[0]
    spec = ModelSpec("binary", 3)
    losses = {}
    for mode in ("none", "balanced"):
        keras.utils.set_random_seed(1)
        params = {"layers": 1, "units": 4, "learning_rate": 1e-3, "optimizer": "adam"}
        params.update({"batch_size": 200, "epochs": 1, "class_weight": mode})
        model = build_model(params, spec)
        losses[mode] = fit(model, params, (x, y), None, patience=1).history["loss"][0]
    assert losses["balanced"] != pytest.approx(losses["none"], rel=0.05)


def test_the_pyfunc_labels_by_the_stored_threshold():
    scores = np.array([[0.3], [0.7], [0.9]])
    assert decode("binary", ["no", "yes"], scores)["label"].tolist() == ["no", "yes", "yes"]
    strict = decode("binary", ["no", "yes"], scores, threshold=0.8)
    assert strict["label"].tolist() == ["no", "no", "yes"]
    assert strict["label_index"].tolist() == [0, 0, 1]
    # probability is always that of the label shown; proba_<class> of each class
    assert strict["probability"].tolist() == pytest.approx([0.7, 0.3, 0.9])
    assert strict["proba_yes"].tolist() == pytest.approx([0.3, 0.7, 0.9])
    assert strict["proba_no"].tolist() == pytest.approx([0.7, 0.3, 0.1])
    multi = decode("multiclass", ["a", "b", "c"], np.array([[0.2, 0.5, 0.3]]))
    assert multi.loc[0, "label"] == "b" and multi.loc[0, "probability"] == pytest.approx(0.5)
    assert [c for c in multi.columns if c.startswith("proba_")] == ["proba_a", "proba_b", "proba_c"]


def test_best_threshold_f1_is_the_cut_off_that_maximises_f1():
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6])
    f1, cut = best_threshold_f1(y, p)
    assert cut == pytest.approx(0.4)  # every positive caught, one false positive: F1 6/7
    assert f1 == pytest.approx(6 / 7)


@pytest.mark.slow  # among the longest of the fast suite; CI runs it in make test-slow
@pytest.mark.usefixtures("prefect_harness")
def test_imbalanced_binary_with_f1_objective_end_to_end(tmp_path):
    """Minimal YAML + val_f1: threshold from validation, stored, applied by the pyfunc; NaN,
    None and an unseen category accepted at predict time; baselines logged and reproducible."""
    rng = np.random.default_rng(3)
    frame = messy_table("binary", n=260, seed=3)
    signal = 2 * frame["x1"].to_numpy()
    frame["y"] = np.where(signal + rng.normal(scale=0.5, size=260) > 2.2, "fraud", "ok")
    frame.loc[[5, 9], "y"] = None
    path = minimal_task(
        tmp_path,
        "fraud",
        "binary",
        frame,
        objective={"metric": "val_f1"},
        training={"patience": 3, "class_weight": "balanced"},
        cv=2,
        final={"ensemble": 1},
        search={"trials": 2, "seed": 0},
    )
    store = Store(tmp_path / "store")
    report = tune(str(path), store=str(store.root), data_dir=str(tmp_path))
    assert report.version == "1" and "baselines on the same split" in report.baselines

    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)
    exp = client.get_experiment_by_name("fraud")
    parent = client.search_runs([exp.experiment_id], "tags.`sweepflow.role` = 'search'")[0]
    params, metrics = parent.data.params, parent.data.metrics
    assert params["rows_missing_target"] == "2"
    assert "rownames (row names)" in params["columns_left_out"]
    assert "customer_id (named like an ID)" in params["columns_left_out"]
    threshold = float(params["decision_threshold"])
    assert 0 < threshold < 1

    # MLflow metadata: experiment description, run source, the training data as an input,
    # descriptions on the registered model and its version
    assert "binary" in client.get_experiment(exp.experiment_id).tags["mlflow.note.content"]
    assert parent.data.tags["mlflow.source.name"].startswith("sweepflow tune ")
    inputs = client.get_run(parent.info.run_id).inputs.dataset_inputs
    assert inputs and inputs[0].dataset.name == "fraud-train" and inputs[0].dataset.digest
    assert "test_accuracy" in client.get_model_version("fraud", "1").description
    assert "champion" in client.get_registered_model("fraud").description
    # the Optuna study names its metric and task; each trial points at its MLflow run and back
    study = optuna.load_study(study_name="fraud", storage=store.study_storage)
    assert study.metric_names == ["val_f1"]
    assert study.user_attrs["task"] == "fraud" and study.user_attrs["kind"] == "binary"
    trial_runs = client.search_runs([exp.experiment_id], "tags.`sweepflow.role` = 'trial'")
    by_id = {r.info.run_id: r for r in trial_runs}
    for t in study.trials:
        run = by_id[t.user_attrs["mlflow_run_id"]]
        assert run.data.tags["trial_number"] == str(t.number)
        assert run.data.tags["mlflow.user"]  # the UI's "Created by"

    # the baselines' test metrics are what a direct scikit-learn fit on the same rows gives
    data = prepare(load_task(str(path), tmp_path), tmp_path)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    for name, model in (
        ("linear", LogisticRegression(max_iter=500)),
        ("hgb", HistGradientBoostingClassifier(random_state=0)),
    ):
        expected = float(np.mean(model.fit(x, y).predict(data.x_test) == data.y_test))
        assert metrics[f"baseline.{name}.test_accuracy"] == pytest.approx(expected)

    mlflow.set_tracking_uri(store.mlflow_uri)
    mlflow.set_registry_uri(store.mlflow_uri)
    champion = mlflow.pyfunc.load_model("models:/fraud@champion")
    out = champion.predict(data.raw_test)
    negative_name, positive_name = data.class_names  # sorted: "ok" is class 1, the positive
    positive = out[f"proba_{positive_name}"].to_numpy() >= threshold
    assert positive.any() and (~positive).any()
    assert (out["label"].to_numpy()[positive] == positive_name).all()
    assert (out["label"].to_numpy()[~positive] == negative_name).all()
    assert champion.unwrap_python_model().meta["threshold"] == pytest.approx(threshold)
    assert metrics["test_accuracy"] == pytest.approx(
        float(np.mean(out["label_index"].to_numpy() == data.y_test)), abs=1e-6
    )
    rows = data.raw_test.head(3).copy().astype(object)
    rows.loc[rows.index[0], "x2"] = np.nan
    rows.loc[rows.index[1], "visits"] = np.nan  # an integer column in training
    rows.loc[rows.index[1], "color"] = None
    rows.loc[rows.index[2], "color"] = "purple"  # never seen in training
    answer = champion.predict(rows)
    assert len(answer) == 3 and answer["probability"].between(0, 1).all()
    typed = data.raw_test.head(2).copy()
    typed["visits"] = typed["visits"].astype("float64")  # an integer column sent as 81.0
    typed["x1"] = [1, 2]  # integers into a float column
    assert len(champion.predict(typed)) == 2


def validate_in_a_fresh_process(path: Path, data_dir: Path) -> subprocess.CompletedProcess:
    """`sweepflow validate` in a new interpreter; prints its exit code and what it imported."""
    probe = (
        "import sys\n"
        "from sweepflow.cli import main\n"
        f"rc = main(['validate', {str(path)!r}, '--data-dir', {str(data_dir)!r}])\n"
        "print('RC', rc, 'TF', 'tensorflow' in sys.modules, 'KERAS', 'keras' in sys.modules)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=child_env(), capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("kind", "extra", "words"),
    [
        ("multiclass", {"data": {"target": "nope"}}, "target column 'nope' not found"),
        ("binary", {}, "binary task needs exactly 2 classes"),
        ("multiclass", {"objective": {"metric": "val_f1"}}, "objective.metric"),
    ],
    ids=["missing-target", "wrong-kind", "unknown-metric"],
)
def test_validate_opens_the_data_without_tensorflow(tmp_path, kind, extra, words):
    path = minimal_task(tmp_path, "v", kind, make_table("multiclass"), **extra)
    out = validate_in_a_fresh_process(path, tmp_path)
    assert "RC 2 TF False KERAS False" in out.stdout, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("sweepflow: error:")]
    assert len(errors) == 1 and words in errors[0]
    assert "Traceback" not in out.stderr


def test_validate_a_good_minimal_yaml_says_ok_without_tensorflow(tmp_path):
    path = minimal_task(tmp_path, "ok", "regression", messy_table("regression"))
    out = validate_in_a_fresh_process(path, tmp_path)
    assert "RC 0 TF False KERAS False" in out.stdout, out.stderr[-2000:]
    assert "left out: rownames (row names), customer_id (named like an ID)" in out.stdout


def test_data_drop_of_an_unknown_column_is_named(tmp_path):
    path = minimal_task(tmp_path, "d", "binary", make_table("binary"), data={"drop": ["nope"]})
    with pytest.raises(DataError, match=r"data.drop names unknown column\(s\) \['nope'\]"):
        prepare(load_task(str(path), tmp_path), tmp_path)


def test_zero_hidden_layers_is_a_linear_model_with_the_l2_on_its_head():
    params = {"layers": 0, "units": 8, "learning_rate": 1e-2, "optimizer": "adam"}
    params.update({"batch_size": 16, "epochs": 2, "l2": 1e-3, "dropout": 0.2})
    model = build_model(params, ModelSpec("binary", 5))
    assert [layer.name for layer in model.layers] == ["head"]
    assert model.get_layer("head").kernel_regularizer is not None
    assert model.count_params() == 5 + 1


def test_quantile_scaling_is_fitted_on_train_and_travels_as_json(tmp_path):
    frame = make_table("regression", n=300)
    frame["x2"] = np.exp(frame["x2"])  # very skewed
    path = minimal_task(tmp_path, "q", "regression", frame, data={"scaling": "quantile"})
    data = prepare(load_task(str(path), tmp_path), tmp_path)
    pre = data.preprocessor
    assert pre.quantiles and len(pre.quantiles[0]) == 2  # x1, x2
    skewed = data.x_train[:, 1]
    assert abs(float(np.mean(skewed))) < 0.1 and 0.8 < float(np.std(skewed)) < 1.2
    again = from_dict(json.loads(json.dumps(to_dict(pre)))).transform(data.raw_test)
    np.testing.assert_allclose(again, data.x_test, rtol=1e-6)
