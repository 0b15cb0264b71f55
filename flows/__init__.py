"""Prefect flows: thin wiring of sweepflow's stage functions into tasks."""
