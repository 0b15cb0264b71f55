"""The console: sweepflow's own lines only (Prefect's and MLflow's echoes of them kept quiet)."""

from __future__ import annotations

import logging
from typing import ClassVar

from sweepflow.errors import SweepflowError


class _NoTracebackForUserErrors(logging.Filter):
    """Drop Prefect's echoes of user errors: the CLI prints their message once, at the end."""

    seen: ClassVar[set[str]] = set()  # messages of the user errors already dropped

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop records carrying a SweepflowError, and later ones that only repeat its message."""
        if record.exc_info and isinstance(record.exc_info[1], SweepflowError):
            self.seen.add(str(record.exc_info[1]))
            return False
        text = record.getMessage()
        return not any(message in text for message in self.seen)


def quiet_user_errors() -> None:
    """Filter Prefect's run loggers, which log every task and flow failure in full."""
    for name in (
        "prefect.task_runs",
        "prefect.flow_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    ):
        logging.getLogger(name).addFilter(_NoTracebackForUserErrors())


# Loggers that repeat what sweepflow itself reports (VERBOSE=1 brings them back).
ECHOES = (
    "prefect.task_runs",  # "Task run 'search-…' - Finished in state Completed()"
    "mlflow.tracking._model_registry.client",  # "Created version '1' of model …"
    "mlflow.store.db.utils",  # "Creating initial MLflow database tables…"
    "alembic.runtime.migration",
    "mlflow.pyfunc",  # "Validating input example against model signature"
)


def quiet_echoes() -> None:
    """Keep the console to sweepflow's own lines: Prefect task chatter and MLflow echoes off."""
    for name in ECHOES:
        logging.getLogger(name).setLevel(logging.WARNING)
    # "SQLAlchemy database error" + a traceback, for an exception MLflow raises anyway
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
