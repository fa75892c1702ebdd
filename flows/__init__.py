"""Prefect flows, one module per pipeline. They compose tasks and own parameters."""
