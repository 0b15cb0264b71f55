"""The command line: `sweepflow tune|worker|retrain|schedule|serve|dashboard|tasks|validate`."""
