"""Dunning's names, in one place: its two engine pipelines and what a case's end is called."""

from memberflow.core.members import INVOLUNTARY  # noqa: F401 (the cancel reason dunning writes)

MEMBER_PIPELINE = "dunning"  # emails to the member
OPS_PIPELINE = "dunning-ops"  # tickets and alerts for the business's people
