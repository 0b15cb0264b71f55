"""Test session set-up: a quiet offline environment, one Prefect harness, service markers.

Helpers that tests import live in helpers.py; this file only holds fixtures and hooks.
"""

from __future__ import annotations

import os

from sweepflow.environment import QUIET_ENV  # imports nothing heavy (no TensorFlow, no MLflow)

# Before TensorFlow, Keras, MLflow or Prefect are imported anywhere in the test session: the
# environment every sweepflow command sets, and no downloads (a missing file is a clear error).
# Not PREFECT_LOGGING_EXTRA_LOGGERS: tests read sweepflow's records with caplog, and the Prefect
# handler it adds warns for every record logged outside a flow run.
os.environ.update(
    {k: v for k, v in QUIET_ENV.items() if k != "PREFECT_LOGGING_EXTRA_LOGGERS"}
    | {"SWEEPFLOW_OFFLINE": "1"}
)

import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import PG, STORE_VARS, child_env, stop  # noqa: E402

from sweepflow.prefect_server import free_port  # noqa: E402


def _postgres_missing() -> str | None:
    """Why the local PostgreSQL cannot be used, or None when it answers."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return None
    except OSError as exc:
        return f"no PostgreSQL on 127.0.0.1:5432 ({exc.strerror or exc})"


def _prefect_missing() -> str | None:
    """Why a `prefect server` cannot be started here, or None."""
    cli = Path(sys.executable).with_name("prefect")
    return None if cli.exists() or shutil.which("prefect") else "no `prefect` command installed"


_SERVICES = {"postgres": _postgres_missing, "prefect_server": _prefect_missing}


# A test that uses one of these fixtures needs that service (it is marked so by itself).
_NEEDS = {"pg_admin": "postgres", "pg_urls": "postgres", "prefect_server": "prefect_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need PostgreSQL or a standing Prefect server (`-m postgres` …)."""
    for item in items:
        for fixture, marker in _NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose service is absent, with the reason; in CI an absent service fails."""
    for marker, missing in _SERVICES.items():
        if marker not in item.keywords:
            continue
        reason = missing()
        if reason is None:
            continue
        if os.environ.get("CI") == "true":
            pytest.fail(f"{item.nodeid} needs {marker}: {reason} (CI provides it)")
        pytest.skip(f"needs {marker}: {reason}")


@pytest.fixture(autouse=True)
def _no_store_pointers_between_tests():
    """Each test starts with no store pointers: no variables, and MLflow's fluent URIs unset.

    A test's own mlflow.set_registry_uri() would otherwise send a later test's MlflowClient,
    which reads the registry from that process global, to the earlier test's store.
    """
    import mlflow

    def unset() -> None:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        for var in STORE_VARS:
            os.environ.pop(var, None)

    unset()
    yield
    unset()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect database for the whole session (~30 s to create)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def pg_admin():
    """A connection to the local PostgreSQL's `test` database (autocommit), for test databases."""
    import psycopg2

    admin = psycopg2.connect(f"{PG}/test", connect_timeout=5)
    admin.autocommit = True
    yield admin
    admin.close()


@pytest.fixture
def prefect_server(tmp_path):
    """`prefect server start` on a free loopback port; yields (API URL, environment)."""
    port = free_port()
    env = {k: v for k, v in child_env().items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-server"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    else:
        stop(proc)
        pytest.fail(
            f"prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}"
        )
    env["PREFECT_API_URL"] = url
    yield url, env
    stop(proc)
    log.close()
