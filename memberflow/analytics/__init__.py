"""Retention analytics: what the pipelines achieved, read from what they recorded. SQL
aggregates over the core tables, pure formulas (docs/metrics.md) and the report's rendering;
no Prefect. It reads the pipelines' records; no pipeline imports it."""
