"""Cancellation follow-up's tasks: record new cancellations and plan their messages; notice the
members who came back."""

from memberflow.pipelines.cancellations import offers, records, returns
from tasks import batch_task

record_cancellations = batch_task(records.record_new, name="record_cancellations")
record_returns = batch_task(returns.record_returns, name="record_returns")
issue_offer_codes = batch_task(offers.issue_offer_codes, name="issue_offer_codes")
