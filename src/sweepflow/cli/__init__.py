"""The command line: `sweepflow tune|worker|retrain|schedule|serve|dashboard|tasks|validate`."""

from sweepflow.cli.commands import main

__all__ = ["main"]
