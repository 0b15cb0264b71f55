"""Old home of the served model class, kept so models registered before the stage packages load.

A registered model's code (its `serving_model.py` artifact) imports `sweepflow.serving`; new
registrations import `sweepflow.registry.serving`.
"""

from sweepflow.registry.serving import SweepflowModel

__all__ = ["SweepflowModel"]
