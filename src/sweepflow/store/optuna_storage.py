"""Optuna's persistent storage: the RDB storage of a URL, with heartbeats for shared studies."""

from __future__ import annotations

import os
import warnings
from typing import Any

import optuna

from sweepflow.environment import sqlite_timeout
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
