"""Worked examples from docs/extending.md, kept runnable and tested (tests/test_extending.py)."""
