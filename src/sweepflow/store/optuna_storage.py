"""Optuna's persistent storage: the RDB storage of a URL, with heartbeats for shared studies."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import optuna

from sweepflow.environment import sqlite_timeout
from sweepflow.store.layout import is_locked_error, store_error

log = logging.getLogger("sweepflow")


def heartbeat_seconds() -> int:
    """How often a running trial tells the storage it is alive ($SWEEPFLOW_HEARTBEAT_SECONDS)."""
    return max(1, int(float(os.environ.get("SWEEPFLOW_HEARTBEAT_SECONDS") or 10)))


class HeartbeatStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, except that a heartbeat it fails to write is kept, not raised.

    Optuna writes heartbeats from a thread of its own; a write that fails there (a store made
    read-only, a full disk) ends that thread with a traceback on stderr while the trial trains
    on. Here the failure is kept in `heartbeat_failed` (cleared by the next heartbeat written)
    for the trial's own thread to confirm with a write of its own (`EpochPruning`), which raises
    where sweepflow turns a broken store into its one error line.
    """

    heartbeat_failed: bool = False

    def record_heartbeat(self, trial_id: int) -> None:
        """Record that the trial is alive; a failed write sets `heartbeat_failed` instead."""
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:
            self.heartbeat_failed = True
            log.debug("heartbeat of trial id %d not written: %s", trial_id, exc)
        else:
            self.heartbeat_failed = False


def make_storage(url: str) -> HeartbeatStorage:
    """The study storage, with heartbeats: a trial whose process died is failed after a grace."""
    beat = heartbeat_seconds()
    sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": sqlite_timeout()}} if sqlite else {"pool_pre_ping": True}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return HeartbeatStorage(
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
