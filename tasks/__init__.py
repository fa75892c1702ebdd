"""Prefect tasks: thin wrappers that do one batch of I/O each, over the core's functions."""
