"""What dunning's emails are for, to judge an experiment on one of them: the bill was paid."""

from sqlalchemy import exists
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.models import CaseOutcome, DunningCase, Touchpoint

touchpoint, dunning_case = Touchpoint.__table__, DunningCase.__table__
RECOVERED = (CaseOutcome.recovered.value, CaseOutcome.paid_elsewhere.value)


def goal(dialect: str) -> tuple[str, ColumnElement]:
    """Recovered: the case of the bill the email was about ended paid."""
    return "recovered", exists().where(
        dunning_case.c.invoice_id == touchpoint.c.invoice_id,
        dunning_case.c.outcome.in_(RECOVERED),
    )
