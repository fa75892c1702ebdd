"""Dunning's names, in one place: its two engine pipelines."""

MEMBER_PIPELINE = "dunning"  # emails to the member
OPS_PIPELINE = "dunning-ops"  # tickets and alerts for the business's people
