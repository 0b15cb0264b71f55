"""The trial loop of a search session: run the engine to the session's budget, with any workers."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sweepflow.config.task import TaskConfig
from sweepflow.engines import Engine, Recorder, SearchSummary, SharedEngine
from sweepflow.errors import SweepflowError
from sweepflow.model.trial import TrialOutcome
from sweepflow.search.recorder import TrialClock

log = logging.getLogger("sweepflow.search")


def start_clock(cfg: TaskConfig, recorder: Recorder) -> float | None:
    """Start this process's search clock: with `search.timeout`, the recorder's TrialClock stops
    each trial in time; return the deadline (time.monotonic), or None without a timeout."""
    if cfg.search.timeout is None:
        return None
    recorder.clock = TrialClock(time.monotonic(), cfg.search.timeout, cfg.search.trial_cap)
    return recorder.clock.deadline


@contextmanager
def frozen_heap() -> Iterator[None]:
    """For one search: everything alive when it starts (the imported TensorFlow, Keras, MLflow
    and Prefect modules, the data) sits in gc's permanent generation until it ends.

    Each trial's full collection in `fresh_state` then walks only what the trials made — the
    earlier trials' graphs, models and callbacks — not the whole heap: 0.47 -> 0.01 s per trial
    on carseats (bench/results/experiments/fresh_state.md). Frozen objects are still freed when
    their reference count drops to zero; cycles among them wait for the thaw at the end.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def drive(engine: Engine, cfg: TaskConfig, recorder: Recorder, figure_dir: Path) -> SearchSummary:
    """Run the session's trial budget with `engine` (other workers may add trials), then sum up.

    An engine that shares its study runs until the session's budget is spent; trials still
    running in other workers are waited for, and the study is asked again (a worker may have
    died, or the budget may still be short). Trial runs a stopped process left open are closed
    against the engine's record.
    """
    deadline = start_clock(cfg, recorder)
    with frozen_heap():  # each trial's full gc walks only what the trials made
        state = engine.open(cfg, recorder)
        if not engine.shares_study:  # one process drives it: any trial run still open was cut off
            recorder.close_orphans(None)
        outcomes: list[TrialOutcome] = []
        while True:
            outcomes += engine.run(state, cfg, recorder, deadline)
            if not engine.shares_study:
                break
            wait_for_others(engine, state, recorder.parent)
            timed_out = deadline is not None and time.monotonic() >= deadline
            if timed_out or engine.spent(state, recorder.parent) >= recorder.budget:
                break
        if engine.shares_study:
            recorder.close_orphans(engine.trial_states(state))
        summary = engine.summarize(state, cfg, recorder, outcomes, figure_dir)
    if summary is None:
        reasons = {o.reason for o in outcomes if o.reason}
        raise SweepflowError(
            f"task '{cfg.name}': no trial completed ({len(outcomes)} run); "
            f"reasons: {'; '.join(sorted(reasons)) or 'all pruned'}"
        )
    return summary


def wait_for_others(engine: SharedEngine, state: Any, session: str) -> None:
    """Wait until no trial of the session runs: other workers finish, dead ones go stale."""
    told = False
    while running := engine.running(state, session):
        if not told:
            log.info(
                "waiting for trial(s) %s: running in other workers, or failed once their "
                "heartbeat is %d s old",
                running,
                3 * engine.poll_seconds(),
            )
            told = True
        time.sleep(engine.poll_seconds())


def work(engine: Engine, cfg: TaskConfig, recorder: Recorder) -> int:
    """A worker: add trials to the open session until its budget is spent; return how many."""
    return len(engine.run(engine.open(cfg, recorder), cfg, recorder, start_clock(cfg, recorder)))
