"""Retraining: a challenger on current data, drift, and the paired test that promotes it."""
