"""Security: servers bind 127.0.0.1, storage passwords never leak, models are native .keras."""

from __future__ import annotations

import json
import logging
import re
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_task

from sweepflow.cli.parser import build_parser
from sweepflow.config.task import load_task
from sweepflow.store.layout import Store, redact

REPO = Path(__file__).resolve().parents[2]  # the repository root
PG_HOST = "127.0.0.1:5432"  # the local PostgreSQL (trust auth: any password is accepted)


def test_servers_bind_localhost_by_default():
    makefile = (REPO / "Makefile").read_text()
    assert "0.0.0.0" not in makefile
    hosts = re.findall(r"--host\s+(\S+)", makefile)
    assert hosts and set(hosts) == {"127.0.0.1"}
    for server in ("mlflow ui", "prefect server start"):
        line = next(line for line in makefile.splitlines() if server in line)
        assert "--host 127.0.0.1" in line, line
    assert "PREFECT_API_URL ?= http://127.0.0.1:" in makefile
    # make dashboard goes through the CLI, whose default host is loopback
    assert build_parser().parse_args(["dashboard", "t"]).host == "127.0.0.1"


def test_redact_hides_the_password_only():
    url = "postgresql://alice:p%40ss:word@db.example:5432/optuna"
    assert redact(url) == "postgresql://alice:***@db.example:5432/optuna"
    assert redact("sqlite:////tmp/x/optuna.db") == "sqlite:////tmp/x/optuna.db"


@pytest.fixture
def pg_urls() -> Iterator[tuple[str, str, str]]:
    """Two fresh PostgreSQL databases (MLflow, Optuna) as URLs with a password; dropped after."""
    import psycopg2

    secret = f"s3cret-{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(f"postgresql://postgres:{secret}@{PG_HOST}/postgres")
    admin.autocommit = True
    names = [f"sweepflow_pw_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f"CREATE DATABASE {name}")
    try:
        urls = tuple(f"postgresql://postgres:{secret}@{PG_HOST}/{n}" for n in names)
        yield (*urls, secret)
    finally:  # FORCE: MLflow and Optuna keep pooled connections open
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.mark.postgres
def test_storage_passwords_never_leak(tmp_path, pg_urls, caplog, capfd):
    """A real search on PostgreSQL URLs with a password: not in MLflow, files, logs or output."""
    import mlflow
    import optuna
    from mlflow import MlflowClient

    from sweepflow import tune as pipeline
    from sweepflow.command import Command
    from sweepflow.tracking import mlflow_at

    tracking_uri, study_url, secret = pg_urls
    store = Store(tmp_path / "store", tracking_uri=tracking_uri, optuna_storage=study_url)
    cfg = load_task(str(write_task(tmp_path, "pw_leak", "binary")), tmp_path)
    caplog.set_level(logging.DEBUG)
    command = Command(store, tmp_path)
    data = pipeline.stage_prepare(cfg, tmp_path)
    found = pipeline.stage_search(cfg, data, command)
    evaluation = pipeline.stage_evaluate(cfg, data, found, command)
    decision = pipeline.stage_register(cfg, data, found, evaluation, command)
    assert decision.version == "1"
    assert not list(store.root.glob("*.db"))  # both stores really were the PostgreSQL URLs

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(cfg.name)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # the search run and two trials
    recorded: list[str] = [experiment.name, experiment.artifact_location]
    for run in runs:
        recorded += [*run.data.params, *run.data.params.values()]
        recorded += [*run.data.tags, *run.data.tags.values(), *run.data.metrics]
        recorded.append(run.info.artifact_uri)
    for model in client.search_logged_models([experiment.experiment_id]):
        recorded += [*model.params, *model.params.values(), *model.tags, *model.tags.values()]
    for version in client.search_model_versions(f"name='{cfg.name}'"):
        recorded += [version.source, *version.tags, *version.tags.values()]
    for trial in optuna.load_study(study_name=cfg.name, storage=study_url).trials:
        recorded += [str(trial.user_attrs), str(trial.system_attrs)]
    leaks = [text for text in recorded if secret in str(text)]
    assert not leaks

    # every artifact file of every run and of the logged model, downloaded and searched
    downloaded = tmp_path / "downloaded"
    for run in runs:
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            dst_path=str(downloaded / run.info.run_id),
            tracking_uri=tracking_uri,
        )
    with mlflow_at(tracking_uri):  # models:/ URIs resolve in the fluent API's registry
        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/{cfg.name}/1", dst_path=str(downloaded / "model")
            )
        )
    files = [p for root in (downloaded, store.root) for p in root.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert not [p for p in files if secret.encode() in p.read_bytes()]
    out, err = capfd.readouterr()
    assert secret not in out + err + caplog.text

    # the model is the native Keras format (a zip with config + weights), no pickles anywhere
    network = next(model_dir.rglob("network.keras"))
    assert {"config.json", "model.weights.h5"} <= set(zipfile.ZipFile(network).namelist())
    assert not [p for p in files if p.suffix in {".pkl", ".pickle", ".joblib"}]
    assert "python_model.pkl" not in (model_dir / "MLmodel").read_text()


def test_the_storage_url_can_come_from_a_file(tmp_path, monkeypatch):
    from sweepflow.errors import SweepflowError
    from sweepflow.store.layout import Store

    secret = tmp_path / "storage"
    secret.write_text("postgresql://optuna:s3cret@127.0.0.1/test\n")
    monkeypatch.delenv("SWEEPFLOW_STORAGE", raising=False)
    monkeypatch.setenv("SWEEPFLOW_STORAGE_FILE", str(secret))
    assert (
        Store.from_env(tmp_path / "s").study_storage == "postgresql://optuna:s3cret@127.0.0.1/test"
    )
    secret.write_text("")
    with pytest.raises(SweepflowError, match="exactly one storage URL"):
        Store.from_env(tmp_path / "s")
    monkeypatch.setenv("SWEEPFLOW_STORAGE_FILE", str(tmp_path / "missing"))
    with pytest.raises(SweepflowError, match="cannot read the storage URL file"):
        Store.from_env(tmp_path / "s")


def test_a_flows_recorded_parameters_hold_the_config_but_no_store_url(tmp_path):
    """Prefect stores a flow's parameters: the task config yes, the store's URLs never."""
    from flows.tune import tune
    from sweepflow.command import Command

    secret = f"s3cret-{uuid.uuid4().hex[:8]}"
    store = Store(tmp_path / "s", optuna_storage=f"postgresql://u:{secret}@127.0.0.1/x")
    cfg = load_task(str(write_task(tmp_path, "pw_params", "binary")), tmp_path)
    recorded = tune.serialize_parameters({"cfg": cfg, "command": Command(store, tmp_path)})
    assert recorded["command"] == "<Command>"
    assert recorded["cfg"]["name"] == "pw_params" and recorded["cfg"]["kind"] == "binary"
    assert secret not in json.dumps(recorded)
