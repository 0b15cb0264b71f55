"""A stop signal (SIGTERM, SIGHUP) that a swallowed KeyboardInterrupt cannot lose.

The handler raises KeyboardInterrupt in whatever Python frame runs next. When that frame is a
destructor (TensorFlow frees resources in `__del__`), Python discards the exception and the run
goes on. The handler also sets a flag, and every trial's stop callback (search/recorder.py)
raises again at the next epoch end. No Keras import here: the CLI installs the handler before
it picks the Keras backend.
"""

from __future__ import annotations

_signalled: list[int] = []  # the signals received since `clear()`


def clear() -> None:
    """Forget earlier signals (a new command in this process starts clean)."""
    _signalled.clear()


def handle(signum: int, frame: object) -> None:
    """Signal handler: remember the signal, then stop the running code like Ctrl-C does."""
    _signalled.append(signum)
    raise KeyboardInterrupt


def check() -> None:
    """Raise KeyboardInterrupt when a stop signal came in (raised again if it was swallowed)."""
    if _signalled:
        raise KeyboardInterrupt
