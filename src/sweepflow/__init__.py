"""sweepflow: tune, track and register small Keras Dense networks."""

__version__ = "0.1.0"
