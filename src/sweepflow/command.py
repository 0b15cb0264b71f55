"""What one command opens once and hands down to every stage: its store, tracker, data folder."""

from __future__ import annotations

from pathlib import Path

from sweepflow.environment import resolve_data_dir
from sweepflow.store.layout import Store
from sweepflow.tracking import Tracker


class Command:
    """The store, tracker and run settings of one `sweepflow` command, built once by the CLI.

    Flows take it as a parameter beside the task's config. It has `__slots__` and no `__dict__`
    on purpose: Prefect stores every flow parameter it can serialize, cannot serialize this one
    and records `<Command>` instead, so the store's database URLs (which may hold a password)
    never reach Prefect's database.
    """

    __slots__ = ("data_dir", "store", "threads", "tracker", "verbose")

    def __init__(
        self,
        store: Store,
        data_dir: str | Path | None = None,
        *,
        verbose: int = 0,
        threads: int = 0,
        tracker: Tracker | None = None,
    ) -> None:
        self.store = store
        self.tracker = tracker or Tracker.for_store(store)
        self.data_dir = resolve_data_dir(data_dir)  # explicit, else $SWEEPFLOW_DATA_DIR, else data
        self.verbose = verbose  # Keras epoch output: 0, 1 or 2
        self.threads = threads  # threads per process for the backend (0: all cores)

    def __repr__(self) -> str:
        return f"Command(store={self.store!r}, data_dir={str(self.data_dir)!r})"
