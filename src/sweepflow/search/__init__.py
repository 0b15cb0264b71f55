"""The search stage: the tracked session, each trial's record, cross-validation, workers."""
