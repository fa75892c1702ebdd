"""Benchmarks: `make bench` (or `python -m bench.reminders`). Not tests: they print a table."""
