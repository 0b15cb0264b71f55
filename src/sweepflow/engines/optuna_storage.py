"""Optuna storage for shared studies: heartbeats, and each search session's share of trials."""

from __future__ import annotations

import os
import warnings
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweepflow.config.final import MAX_MEMBERS
from sweepflow.engines import Candidate
from sweepflow.environment import sqlite_timeout
from sweepflow.model.trial import COMPLETE, FAILED, PRUNED
from sweepflow.search.session import RUNNING
from sweepflow.store.layout import is_locked_error, store_error


def heartbeat_seconds() -> int:
    """How often a running trial tells the storage it is alive ($SWEEPFLOW_HEARTBEAT_SECONDS)."""
    return max(1, int(float(os.environ.get("SWEEPFLOW_HEARTBEAT_SECONDS") or 10)))


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """The study storage, with heartbeats: a trial whose process died is failed after a grace."""
    beat = heartbeat_seconds()
    sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": sqlite_timeout()}} if sqlite else {"pool_pre_ping": True}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, heartbeat_interval=beat, grace_period=3 * beat
            )
    except Exception as exc:
        if is_locked_error(exc):
            raise
        raise store_error(
            "the Optuna storage",
            url,
            exc,
            "check STORAGE / --storage (Optuna and MLflow each need a database of their own)",
        ) from None


def session_trials(study: optuna.Study, session: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials that belong to one search session (all workers)."""
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("session") == session]


def spent(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials that use up a session's budget: running or finished, not those a kill cut short."""
    done = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    return sum(
        t.state in done or (t.state == TrialState.FAIL and "failure_reason" in t.user_attrs)
        for t in trials
    )


def trial_states(study: optuna.Study) -> dict[int, str]:
    """Each trial's state in sweepflow's words, by trial number."""
    words = {TrialState.COMPLETE: COMPLETE, TrialState.PRUNED: PRUNED, TrialState.FAIL: FAILED}
    return {t.number: words.get(t.state, RUNNING) for t in study.get_trials(deepcopy=False)}


def ranked(study: optuna.Study, n: int = MAX_MEMBERS) -> list[Candidate]:
    """The study's n best completed trials, best first."""
    done = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)
    return [
        Candidate(
            t.number,
            dict(t.user_attrs.get("params", t.params)),
            int(t.user_attrs.get("best_epoch", 1)),
            float(t.value),
        )
        for t in done[:n]
    ]
