"""Worker processes: more processes on one study (`make tune WORKERS=n`, `make worker`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from types import TracebackType

from sweepflow.config.task import TaskConfig

log = logging.getLogger("sweepflow")
_STOP_SECONDS = 60  # how long workers get to finish their trial once the search is over


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """TensorFlow threads for each of `workers` processes, so they do not oversubscribe."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


class WorkerPool:
    """Starts n worker processes on a task's search, and stops them when the search ends."""

    def __init__(self, cfg: TaskConfig, args: argparse.Namespace, n: int, threads: int) -> None:
        self.cfg, self.args, self.n, self.threads = cfg, args, n, threads
        self.procs: list[subprocess.Popen] = []

    def command(self, worker: int) -> list[str]:
        """The command line of worker `worker` (the leader is worker 0)."""
        cmd = [sys.executable, "-m", "sweepflow", "worker", self.cfg.source_file]
        cmd += ["--store", self.args.store, "--spaces", self.args.spaces]
        cmd += ["--worker-id", str(worker), "--verbose", str(self.args.verbose)]
        cmd += ["--threads", str(self.threads)]
        return cmd + (["--data-dir", self.args.data_dir] if self.args.data_dir else [])

    def __enter__(self) -> WorkerPool:
        """Start the workers; they wait for the leader to open the search, then join it."""
        for worker in range(1, self.n + 1):
            # storage URLs reach them through the environment, never on a command line
            self.procs.append(subprocess.Popen(self.command(worker), env=os.environ.copy()))
        if self.n:
            log.info("%s: started %d worker process(es)", self.cfg.name, self.n)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Let workers finish (the search is over), or interrupt them if the leader failed."""
        for proc in self.procs:
            if kind is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # closes its running trial as failed
            try:
                proc.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, 130, -signal.SIGTERM):
                log.warning("worker pid %d exited with code %d", proc.pid, proc.returncode)
