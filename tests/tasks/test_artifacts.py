"""The run summary's rows, as the UI's table shows them (pure: no Prefect server)."""

from collections import Counter

from tasks.artifacts import OUTCOMES, summary_rows


def test_steps_are_in_natural_order_and_every_outcome_has_a_column():
    tally = {
        "nps_365d": Counter(planned=1, sent=1),
        "nps_30d": Counter(planned=2, held_out=1, sent=1),
        "exit_survey": Counter(planned=3, sent=3),
        "nps_180d": Counter(planned=1, dead=1),
        "!failures": Counter({"SMTP 550": 1}),  # a note, not a step
    }
    rows = summary_rows(tally)
    assert [row["step"] for row in rows] == [
        "exit_survey",
        "nps_30d",
        "nps_180d",
        "nps_365d",
        "total",
    ]
    assert list(rows[0]) == ["step", *OUTCOMES] and "held_out" in OUTCOMES
    assert rows[-1]["planned"] == 7 and rows[-1]["held_out"] == 1 and rows[-1]["dead"] == 1
