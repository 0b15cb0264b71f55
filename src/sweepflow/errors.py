"""User-facing errors: one clear message, never a deep library traceback."""

from __future__ import annotations


class SweepflowError(Exception):
    """A problem the user can fix; the CLI prints its message and exits non-zero."""


class ConfigError(SweepflowError):
    """A task YAML file that fails validation (names the file and the field)."""

    def __init__(self, source: str, field: str, reason: str) -> None:
        self.source, self.field, self.reason = source, field, reason
        super().__init__(f"{source}: field '{field}': {reason}")


class DataError(SweepflowError):
    """Input data that is missing, unreadable or malformed."""


class UnknownTaskError(SweepflowError):
    """A task name with no YAML file in the search-space folder."""


def failure_reason(exc: BaseException) -> str:
    """What a failed trial or run records as its `failure_reason`: the error's first line."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
