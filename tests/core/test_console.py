"""The terminal progress bar: redrawn on a terminal, a few plain lines in a log."""

import io

from memberflow.core.console import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn_then_ended():
    screen = Terminal()
    bar = Progress("reminders", 4, stream=screen, width=4)
    for done in range(1, 5):
        bar.update(done)
    assert screen.getvalue().endswith("\rreminders [####] 100% (4/4)\n")
    assert "\rreminders [##--]  50% (2/4)" in screen.getvalue()


def test_in_a_log_a_line_per_tenth_at_most():
    log = io.StringIO()
    bar = Progress("importing members.csv", 1000, stream=log)
    for done in range(1, 1001):
        bar.update(done)
    lines = log.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1] == "importing members.csv: 1000 of 1000 (100%)"
