"""The terminal progress bar (and the ticker, when the total is not known): redrawn on a
terminal, a few plain lines in a log."""

import io

from memberflow.core.console import Progress, Ticker


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


def test_a_ticker_counts_without_a_total():
    screen, log = Terminal(), io.StringIO()
    on_screen = Ticker("synced from Stripe", stream=screen, every=100)
    in_log = Ticker("synced from Stripe", stream=log, log_every=1000)
    for done in range(1, 2501):
        on_screen.update(done, "(customers 1)")
        in_log.update(done)
    on_screen.done(2500, "(customers 2,500)")
    assert screen.getvalue().count("\r") == 26 and screen.getvalue().endswith(
        "2,500 (customers 2,500)\n"
    )
    assert log.getvalue().splitlines() == [
        "synced from Stripe: 1,000",
        "synced from Stripe: 2,000",
    ]
