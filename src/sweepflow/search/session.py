"""Search sessions: one parent MLflow run per `tune`, resumed after a crash, joined by workers.

A session is the parent run of one search, tagged `sweepflow.session=open` until its model is
registered. `tune` resumes the task's open session (after kill -9, Ctrl-C, a crash during final
evaluation or registration) instead of starting another, so its trial budget is met once; `worker`
processes join the open session and add trials to it. Trial runs left RUNNING by a killed process
are closed here, against the engine's own record of each trial.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
from mlflow.entities import Run

from sweepflow.errors import SweepflowError
from sweepflow.model.trial import COMPLETE, FAILED, PRUNED, RUNNING
from sweepflow.tracking import Tracker

log = logging.getLogger("sweepflow.session")
SESSION_TAG = "sweepflow.session"
OPEN, CLOSED = "open", "closed"
INTERRUPTED = "interrupted: the process running this trial stopped (killed or crashed)"


@dataclass(frozen=True)
class Session:
    """The parent run a search records into, and the trial budget it must reach."""

    experiment_id: str
    parent_run_id: str
    budget: int
    resumed: bool = False


def find_open(tracker: Tracker, experiment_id: str) -> Run | None:
    """The task's newest open search session, if any."""
    if not tracker.enabled:
        return None
    runs = tracker.client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{SESSION_TAG}` = '{OPEN}' and tags.`sweepflow.role` = 'search'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def open_session(
    tracker: Tracker,
    task: str,
    engine: str,
    budget: int,
    params: Mapping[str, Any],
    device: str = "",
) -> Session:
    """Resume the task's open session of this engine, or start a new one with `budget` trials."""
    experiment_id = tracker.experiment(task)
    found = find_open(tracker, experiment_id)
    if found is not None and found.data.params.get("engine") == engine:
        run_id = found.info.run_id
        budget = int(found.data.params.get("trials", budget))
        tracker.client.update_run(run_id, status="RUNNING")
        tags = {"sweepflow.resumed": "true", "device": device, "backend": keras.backend.backend()}
        tracker.log(run_id, tags=tags)
        log.info(
            "%s: resuming the interrupted search run %s (budget %d trials)", task, run_id, budget
        )
        return Session(experiment_id, run_id, budget, resumed=True)
    if found is not None:  # an open session of another engine: close it, start afresh
        close(tracker, found.info.run_id, stage="abandoned", status="KILLED")
    run_id = tracker.start_run(
        experiment_id,
        f"search-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={
            "sweepflow.role": "search",
            "sweepflow.stage": "searching",
            SESSION_TAG: OPEN,
            "device": device,
            "backend": keras.backend.backend(),  # the Keras 3 backend the trials ran on
        },
    )
    tracker.log(run_id, params={**params, "trials": budget})
    return Session(experiment_id, run_id, budget)


def join_session(tracker: Tracker, task: str, wait: float, poll: float = 2.0) -> Session:
    """The open session a worker adds trials to; waits up to `wait` seconds for one to open."""
    deadline = time.monotonic() + wait
    while True:
        experiment = tracker.client.get_experiment_by_name(task)
        found = find_open(tracker, experiment.experiment_id) if experiment else None
        if found is not None:
            budget = int(found.data.params.get("trials", 0))
            return Session(found.info.experiment_id, found.info.run_id, budget, resumed=True)
        if time.monotonic() >= deadline:
            raise SweepflowError(
                f"no open search of task '{task}' to join after {wait:.0f} s; start it with "
                f"`make tune TASK={task}` (same STORAGE and MLFLOW_TRACKING_URI) first"
            )
        time.sleep(poll)


def close(tracker: Tracker, run_id: str, stage: str, status: str = "FINISHED") -> None:
    """Close a session: it will not be resumed or joined again."""
    tracker.log(run_id, tags={SESSION_TAG: CLOSED, "sweepflow.stage": stage})
    if tracker.enabled:
        tracker.client.set_terminated(run_id, status)


def is_closed(tracker: Tracker, run_id: str) -> bool:
    """True once a session is closed (another process of the same session registered it)."""
    if not tracker.enabled:
        return False
    return tracker.client.get_run(run_id).data.tags.get(SESSION_TAG) == CLOSED


def interrupted(tracker: Tracker, run_id: str, reason: str) -> None:
    """Mark a session interrupted (Ctrl-C, SIGTERM): it stays open, so `tune` resumes it."""
    tracker.log(run_id, tags={"sweepflow.stage": "interrupted", "interrupt_reason": reason})
    if tracker.enabled:
        tracker.client.set_terminated(run_id, "KILLED")


def close_orphans(
    tracker: Tracker, experiment_id: str, parent: str, states: Mapping[int, str] | None
) -> int:
    """Close trial runs left RUNNING under `parent` whose trial is over; return how many.

    `states` maps trial numbers to the engine's record (complete/pruned/failed/running); None
    means no trial of this session can still be running (single-process engines).
    """
    if not tracker.enabled:
        return 0
    runs = tracker.client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent}' and attributes.status = 'RUNNING'",
        max_results=5000,
    )
    closed = 0
    for run in runs:
        number = run.data.tags.get("trial_number")
        state = FAILED if states is None else states.get(int(number) if number else -1, FAILED)
        if state == RUNNING:
            continue  # alive in another worker, or not yet declared stale by its heartbeat
        tags: dict[str, Any] = {"state": state}
        if state not in (COMPLETE, PRUNED) and "failure_reason" not in run.data.tags:
            tags["failure_reason"] = INTERRUPTED
        tracker.log(run.info.run_id, tags=tags)
        tracker.end(run.info.run_id, ok=state in (COMPLETE, PRUNED))
        closed += 1
    if closed:
        log.info("closed %d trial run(s) left open by an interrupted process", closed)
    return closed
