"""The temporary Prefect server a command owns when no PREFECT_API_URL is set.

Prefect would start its own ephemeral server as a child in the command's process group: a
`kill -TERM -- -PGID` (what a supervisor sends) then kills the server first, and the flow spends
minutes retrying to record its end; after a `kill -9` of the command the server lives on. This one
runs the same ephemeral app (Prefect's `create_app` under uvicorn, no UI, no services), but in a
session of its own, so it outlives the signal by the seconds the flow needs to close, and with
Linux's parent-death signal, so it never outlives the command.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from sweepflow.errors import SweepflowError

# Run in the child: set the parent-death signal (kept across exec), then become uvicorn. A wrapper
# rather than Popen's preexec_fn, which is unsafe once threads exist (TensorFlow starts some).
_WRAPPER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)\n"
    "except Exception:\n"
    "    pass\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TemporaryServer:
    """Start with `start()` (returns at once), `wait()` until it answers, `stop()` at the end."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        # its database and log live outside the store: a store that breaks mid-run must not
        # take down the server the flow reports its failure to
        self.home = Path(tempfile.mkdtemp(prefix="sweepflow-prefect-"))
        self.log_path = self.home / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Launch uvicorn on a free loopback port; returns at once."""
        # Prefect's folder, without importing it: Prefect reads its settings once, on import
        package = Path(importlib.util.find_spec("prefect").origin).parent
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.home}/prefect.db",
        }
        env.pop("PREFECT_API_URL", None)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WRAPPER,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(package.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self, seconds: float = 180.0) -> None:
        """Block until the server answers /health; one clear error if it exits or never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            health = f"{self.url}/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as r:
                if r.status == 200:
                    return
            time.sleep(0.2)
        tail = self.log_path.read_text()[-300:].strip() if self.log_path.is_file() else ""
        self.stop()
        raise SweepflowError(
            f"the temporary Prefect server did not start ({tail or 'no output'}); "
            "point PREFECT_API_URL at a running `make server` instead"
        )

    def stop(self) -> None:
        """Terminate the server (kill it after 5 s) and remove its database."""
        if self.proc is None:
            shutil.rmtree(self.home, ignore_errors=True)
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.home, ignore_errors=True)


def _prefect_has_api() -> bool:
    """True when Prefect, already imported, has an API (a settings context, a test harness)."""
    if "prefect.settings" not in sys.modules:
        return False  # not imported yet: importing it here would freeze its settings too early
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


@contextlib.contextmanager
def prefect_api() -> Iterator[Callable[[], None]]:
    """PREFECT_API_URL for the block: the user's server if set, else a temporary one we own.

    Yields `ready()`, which blocks until the server answers: the server starts while the caller
    imports the flows.
    """
    if os.environ.get("PREFECT_API_URL") or _prefect_has_api():
        yield lambda: None
        return
    server = TemporaryServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.url

    def ready() -> None:
        server.wait()
        # "View at <url>" would point at a server that is gone once the command ends
        logging.getLogger("prefect.flow_runs").addFilter(
            lambda record: not record.getMessage().startswith(f"View at {server.url[:-4]}")
        )

    try:
        yield ready
    finally:
        if "prefect.logging.handlers" in sys.modules:  # send the run logs before the server goes
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            for worker in (APILogWorker, EventsWorker):
                with contextlib.suppress(Exception):
                    worker.drain_all(timeout=5)
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()
