"""The champion rule on a real MLflow registry (SQLite in tmp_path)."""

from __future__ import annotations

import os

import mlflow
import pytest
from mlflow import MlflowClient

from sweepflow.registry.register import promote_if_better
from sweepflow.tracking import mlflow_at


@pytest.fixture
def client(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    return client


def new_version(client: MlflowClient, tmp_path, metric: str, value: float) -> str:
    source = tmp_path / f"model{value}"
    source.mkdir(exist_ok=True)
    version = str(client.create_model_version("m", str(source)).version)
    client.set_model_version_tag("m", version, metric, repr(value))
    return version


def alias(client: MlflowClient, name: str) -> str:
    return str(client.get_model_version_by_alias("m", name).version)


def test_higher_is_better_promotes_only_a_strictly_better_version(client, tmp_path):
    v1 = new_version(client, tmp_path, "test_accuracy", 0.80)
    first = promote_if_better(client, "m", v1, "test_accuracy", 0.80, True)
    assert first.promoted and first.reason == "no champion yet" and alias(client, "champion") == v1

    v2 = new_version(client, tmp_path, "test_accuracy", 0.79)
    worse = promote_if_better(client, "m", v2, "test_accuracy", 0.79, True)
    assert not worse.promoted and alias(client, "champion") == v1
    assert (worse.previous_version, worse.previous_value) == (v1, 0.80)

    v3 = new_version(client, tmp_path, "test_accuracy", 0.80)
    equal = promote_if_better(client, "m", v3, "test_accuracy", 0.80, True)
    assert not equal.promoted and alias(client, "champion") == v1

    v4 = new_version(client, tmp_path, "test_accuracy", 0.85)
    better = promote_if_better(client, "m", v4, "test_accuracy", 0.85, True)
    assert better.promoted and alias(client, "champion") == v4 and alias(client, "previous") == v1
    tags = client.get_model_version("m", v2).tags
    assert tags["promoted"] == "false" and "does not beat champion v1" in tags["champion_decision"]


def test_lower_is_better_for_regression_errors(client, tmp_path):
    v1 = new_version(client, tmp_path, "test_mae", 2.0)
    promote_if_better(client, "m", v1, "test_mae", 2.0, False)
    v2 = new_version(client, tmp_path, "test_mae", 2.5)
    assert not promote_if_better(client, "m", v2, "test_mae", 2.5, False).promoted
    v3 = new_version(client, tmp_path, "test_mae", 1.5)
    decision = promote_if_better(client, "m", v3, "test_mae", 1.5, False)
    assert decision.promoted and alias(client, "champion") == v3
    assert decision.reason == "test_mae 1.5000 < champion v1's 2.0000"


def test_mlflow_at_points_the_fluent_api_at_one_store_and_leaves_no_pointer_behind(tmp_path):
    a, b = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    with mlflow_at(a):
        assert mlflow.get_registry_uri() == a and os.environ["MLFLOW_REGISTRY_URI"] == a
        MlflowClient().create_registered_model("m")  # a client with no URI follows the pointer
    assert "MLFLOW_REGISTRY_URI" not in os.environ and "MLFLOW_TRACKING_URI" not in os.environ
    # a later client of another store reads that store's registry, not the one pointed at before
    assert MlflowClient(b).search_registered_models() == []
    assert [m.name for m in MlflowClient(a, registry_uri=a).search_registered_models()] == ["m"]

    mlflow.set_tracking_uri(b)  # a pointer the caller set stays as it was
    with mlflow_at(a):
        assert mlflow.get_tracking_uri() == a
    assert mlflow.get_tracking_uri() == b and os.environ["MLFLOW_TRACKING_URI"] == b
    assert "MLFLOW_REGISTRY_URI" not in os.environ
