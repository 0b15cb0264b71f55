"""Retraining: the paired promotion rule, drift figures, and the retrain flow end to end."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from helpers import make_table, retrain, tune, write_task
from mlflow import MlflowClient
from prefect.settings import PREFECT_API_URL

from sweepflow.data.drift import drift_report, profile
from sweepflow.errors import SweepflowError
from sweepflow.retrain.compare import compare, mcnemar
from sweepflow.store.layout import Store


def test_clearly_better_classifier_is_promoted_and_equal_or_worse_is_not():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    champion = np.where(rng.random(400) < 0.75, y, 1 - y)  # ~75 % right
    better = np.where(rng.random(400) < 0.92, y, 1 - y)  # ~92 % right
    up = compare("binary", y, champion, better)
    assert up.promoted and up.test == "mcnemar" and up.p_value < 1e-6
    assert up.challenger > up.champion and up.ci_low > 0
    same = compare("binary", y, champion, champion.copy())
    assert not same.promoted and same.p_value == 1.0
    down = compare("binary", y, better, champion)
    assert not down.promoted and down.p_value > 0.5
    boot = compare("multiclass", y, champion, better, test="bootstrap")
    assert boot.promoted and boot.test == "bootstrap"


def test_margin_and_alpha_hold_back_small_gains():
    y = np.zeros(1000, dtype=int)
    champion = np.r_[np.ones(60), np.zeros(940)].astype(int)  # 94.0 %
    challenger = np.r_[np.ones(50), np.zeros(950)].astype(int)  # 95.0 %, 10 discordant pairs
    assert mcnemar(champion == y, challenger == y) == (pytest.approx(0.0009765625), 0, 10)
    assert compare("binary", y, champion, challenger, margin=0.0).promoted
    held = compare("binary", y, champion, challenger, margin=0.02)
    assert not held.promoted and "margin 0.02" in held.reason


def test_regression_uses_a_paired_bootstrap_on_absolute_errors():
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    champion = y + rng.normal(scale=1.0, size=300)
    challenger = y + rng.normal(scale=0.5, size=300)
    result = compare("regression", y, champion, challenger)
    assert result.promoted and result.metric == "test_mae" and not result.higher_is_better
    assert result.challenger < result.champion and result.ci_low > 0
    assert not compare("regression", y, challenger, champion).promoted
    with pytest.raises(ValueError):
        compare("regression", y, champion, challenger, test="mcnemar")


def test_drift_is_small_on_the_same_distribution_and_large_on_a_shift():
    rng = np.random.default_rng(2)
    names = ["a", "b", "flag"]
    ref = np.c_[rng.normal(size=3000), rng.normal(size=3000), rng.random(3000) < 0.3]
    reference = profile(ref.astype(np.float32), names)
    same = np.c_[rng.normal(size=2000), rng.normal(size=2000), rng.random(2000) < 0.3]
    calm = drift_report(reference, same.astype(np.float32))
    assert calm["max_psi"] < 0.05
    shifted = np.c_[rng.normal(size=2000), rng.normal(1.0, 1.0, size=2000), rng.random(2000) < 0.7]
    report = drift_report(reference, shifted.astype(np.float32))
    assert report["psi"]["b"] > 0.25 and report["psi"]["flag"] > 0.25
    assert report["psi"]["a"] < 0.05
    assert report["worst_feature"] in {"b", "flag"}
    assert json.loads(json.dumps(reference)) == reference  # travels as JSON


def prefect_api(path: str, body: dict) -> list[dict]:
    """POST a filter to the (test harness's) Prefect API; newest first."""
    body = {
        "limit": 200,
        "offset": 0,
        "sort": "CREATED_DESC" if "artifacts" in path else "ID_DESC",
        **body,
    }
    response = httpx.post(f"{PREFECT_API_URL.value()}/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def versions(client: MlflowClient, task: str) -> dict[str, dict]:
    return {str(v.version): v.tags for v in client.search_model_versions(f"name='{task}'")}


@pytest.mark.slow  # among the longest of the fast suite; CI runs it in make test-slow
@pytest.mark.usefixtures("prefect_harness")
def test_retrain_promotes_only_a_really_better_challenger(tmp_path):
    task = "tiny_retrain"
    noisy = make_table("binary", n=160, seed=3)
    noisy["y"] = noisy["y"].sample(frac=1.0, random_state=0).to_numpy()  # labels carry no signal
    path = write_task(
        tmp_path,
        task,
        "binary",
        noisy,
        overrides={
            "retrain": {"seeds": 2, "alpha": 0.05, "margin": 0.1},
            "space": {
                "layers": 1,
                "units": 16,
                "learning_rate": 0.02,
                "optimizer": "adam",
                "batch_size": 16,
                "epochs": 30,
            },
        },
    )
    store = Store(tmp_path / "store")
    tune(str(path), trials=1, store=str(store.root), data_dir=str(tmp_path))
    client = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri)

    make_table("binary", n=400, seed=4).to_csv(
        tmp_path / f"{task}.csv", index=False
    )  # grown, clean
    first = retrain(str(path), store=str(store.root), data_dir=str(tmp_path))
    assert first.promoted and first.challenger_version == "2"
    assert first.decision["p_value"] < 0.05 and first.decision["test"] == "mcnemar"
    assert str(client.get_model_version_by_alias(task, "champion").version) == "2"
    assert str(client.get_model_version_by_alias(task, "previous").version) == "1"
    run = client.get_run(first.run_id)
    assert run.data.tags["sweepflow.role"] == "retrain"
    assert run.data.tags["decision.promoted"] == "True"
    assert {"decision_p_value", "champion_metric", "challenger_metric", "drift_max_psi"} <= set(
        run.data.metrics
    )
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{first.run_id}'"
    )
    assert len(children) == 2  # one nested run per seed, named for what it is
    assert sorted(c.info.run_name for c in children) == ["challenger-0", "challenger-1"]
    files = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"decision.json", "drift.json"} <= files
    assert versions(client, task)["2"]["decision.promoted"] == "True"
    # versions from a search and from a retrain carry the same decision tags
    assert {"champion_decision", "promoted"} <= set(versions(client, task)["1"])
    assert {"champion_decision", "promoted"} <= set(versions(client, task)["2"])
    # the decision is visible in Prefect: a Markdown artifact, and flow runs named by task
    artifacts = prefect_api(
        "artifacts/filter", {"artifacts": {"key": {"any_": ["retrain-tiny-retrain"]}}}
    )
    names = [r["name"] for r in prefect_api("flow_runs/filter", {})]
    assert artifacts and "| verdict | promoted |" in artifacts[0]["data"]
    assert any(n.startswith("retrain-tiny_retrain-") for n in names)
    assert any(n.startswith("tune-tiny_retrain-") for n in names)

    again = retrain(str(path), store=str(store.root), data_dir=str(tmp_path))
    assert not again.promoted and again.challenger_version == "3"
    assert str(client.get_model_version_by_alias(task, "champion").version) == "2"
    tags = versions(client, task)["3"]
    assert tags["decision.promoted"] == "False" and tags["decision.champion_version"] == "2"


@pytest.mark.usefixtures("prefect_harness")
def test_retrain_can_require_drift_and_needs_a_champion(tmp_path):
    path = write_task(
        tmp_path,
        "tiny_drift",
        "regression",
        overrides={"retrain": {"require_drift": True, "drift_threshold": 0.5}},
    )
    store = Store(tmp_path / "store")
    with pytest.raises(SweepflowError, match="no champion model yet"):
        retrain(str(path), store=str(store.root), data_dir=str(tmp_path))
    tune(str(path), trials=1, store=str(store.root), data_dir=str(tmp_path))
    calm = retrain(str(path), store=str(store.root), data_dir=str(tmp_path))
    assert calm.challenger_version is None and "no feature drifted" in calm.decision["reason"]
    assert calm.drift_max_psi < 0.5
    shifted = make_table("regression")
    shifted["x2"] = shifted["x2"] + 25.0
    shifted.to_csv(tmp_path / "tiny_drift.csv", index=False)
    moved = retrain(str(path), store=str(store.root), data_dir=str(tmp_path))
    assert moved.challenger_version == "2" and moved.drift_max_psi > 0.5
    run = MlflowClient(store.mlflow_uri, registry_uri=store.mlflow_uri).get_run(moved.run_id)
    assert run.data.tags["drift_worst_feature"] == "x2"
