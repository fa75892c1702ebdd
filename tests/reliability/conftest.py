"""The reliability suite reports what it measured (trials, faults, deliveries, duplicates,
losses) at the end of the session: `make reliability` prints the figures docs/reliability.md
quotes."""

import pytest

FIGURES: list[dict] = []


@pytest.fixture
def figures():
    """Append one dict per test: what it tried and what it saw."""
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    width = max(len(row["test"]) for row in FIGURES)
    for row in FIGURES:
        measured = ", ".join(f"{name} {value}" for name, value in row.items() if name != "test")
        terminalreporter.write_line(f"{row['test'].ljust(width)}  {measured}")
