"""How a dunning case ends or waits: the final action (at the provider first, where the
product asks for it), and the gateway's own states: paused by an outage, probed again with
backoff, resumed when it answers. The stepper in advance.py holds one `Endings` and hands it
what it needs: the policy, the gateway, the moment, the case's writes and the batch's
transaction."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, update

from memberflow.core import lifecycle
from memberflow.core.charges import FinalActionRequest, Gateway
from memberflow.core.dunning_models import CaseOutcome, CaseStatus
from memberflow.core.members import INVOLUNTARY
from memberflow.pipelines.dunning import policy as rules
from memberflow.pipelines.dunning import queries
from memberflow.pipelines.dunning.policy import DunningPolicy, FinalAction
from memberflow.pipelines.dunning.queries import case, subscription
from memberflow.pipelines.dunning.steps import MEMBER_PIPELINE, OPS_PIPELINE
from memberflow.pipelines.dunning.writes import CaseWrites

SUBSCRIPTION_STATUS = {
    FinalAction.cancel: "canceled",
    FinalAction.pause: "paused",
    FinalAction.unpaid: "unpaid",
}
OUTCOME = {
    FinalAction.cancel: CaseOutcome.canceled,
    FinalAction.pause: CaseOutcome.paused,
    FinalAction.unpaid: CaseOutcome.unpaid,
}


class Endings:
    """The stepper's final actions and gateway states (see the module's docstring)."""

    def __init__(
        self,
        policy: DunningPolicy,
        gateway: Gateway,
        as_of: datetime,
        writes: CaseWrites,
        transaction: Callable[[], AbstractContextManager[Connection]],
    ):
        self.policy, self.gateway, self.as_of = policy, gateway, as_of
        self.writes, self.transaction = writes, transaction

    def pause(self, conn: Connection, row: Row, reason: str) -> None:
        conn.execute(
            update(case)
            .where(case.c.id == row.id)
            .values(
                status=CaseStatus.paused,
                paused_reason=reason[:1000],
                next_probe_at=rules.next_probe(row.probes, self.as_of),
                probes=row.probes + 1,
            )
        )
        self.writes.plan(
            conn,
            row,
            OPS_PIPELINE,
            "gateway_alert",
            entity=f"{row.invoice_external_id}#{row.retries + 1}",
            due_at=self.as_of,
            context={"reason": reason, "gateway": self.gateway.name},
        )

    def resume(self, conn: Connection, row: Row) -> None:
        """The gateway answered a probe: the case goes on, and ops hear that it is back."""
        conn.execute(
            update(case)
            .where(case.c.id == row.id, case.c.status == CaseStatus.paused)
            .values(status=CaseStatus.open, paused_reason=None, next_probe_at=None, probes=0)
        )
        self.writes.plan(
            conn,
            row,
            OPS_PIPELINE,
            "gateway_back",
            entity=f"{row.invoice_external_id}#{row.probes}",
            due_at=self.as_of,
            context={"gateway": self.gateway.name, "probes": row.probes},
        )

    def applied_at_gateway(self, row: Row, done: Any) -> bool:
        """Applies the final action at the provider first, where the product asks for it, so
        memberflow never says "canceled" about a subscription the provider still charges."""
        ending = self.policy.ending_for(row.product_external_id)
        if not ending.apply_at_gateway:
            return True
        action = ending.final_action.value
        request = FinalActionRequest(
            idempotency_key=f"dunning:{row.invoice_external_id}:final:{action}",
            action=action,
            subscription_external_id=row.sub_external_id,
            invoice_external_id=row.invoice_external_id,
        )
        if action == FinalAction.cancel.value:  # its echo from the provider is ours, not the
            with self.transaction() as conn:  # member's choice, even if it comes back first
                self.own_fact(conn, row, lifecycle.OWN_INTENT)
        try:
            self.gateway.apply_final_action(request)
        except Exception as error:  # the provider's problem, or ours: ops act, the member waits
            reason = f"could not {action} at the gateway: {type(error).__name__}: {error}"
            with self.transaction() as conn:
                self.pause(conn, row, reason)
            done.counts["gateway_paused"] += 1
            return False
        done.counts[f"final_{action}_at_gateway"] += 1
        return True

    def own_fact(self, conn: Connection, row: Row, kind: str) -> lifecycle.Cancellation | None:
        """memberflow's own word in the subscription's history: it cancels (or is about to, at
        the provider) for failed payments. Returns the cancellation the history now settles."""
        fact = lifecycle.Fact(
            kind, self.as_of, f"{lifecycle.OWN}:dunning:{row.invoice_external_id}", INVOLUNTARY
        )
        current = None
        if row.sub_canceled_at is not None:
            current = lifecycle.Cancellation(
                row.sub_canceled_at, row.sub_cancel_reason, None, None, 0
            )
        return lifecycle.record_and_settle(conn, row.subscription_id, [fact], current=current)

    def final_action(self, conn: Connection, row: Row) -> FinalAction:
        ending = self.policy.ending_for(row.product_external_id)
        action = ending.final_action
        access_until = None
        values: dict[str, Any] = {"status": SUBSCRIPTION_STATUS[action]}
        if action == FinalAction.cancel:
            settled = self.own_fact(conn, row, lifecycle.CANCELED)
            values |= {"canceled_at": settled.canceled_at, "cancel_reason": settled.reason}
            values |= {"cancel_feedback": settled.feedback, "cancel_comment": settled.comment}
        if action == FinalAction.unpaid:
            access_until = self.as_of + timedelta(days=ending.unpaid_access_days)
        conn.execute(
            update(subscription).where(subscription.c.id == row.subscription_id).values(**values)
        )
        conn.execute(
            update(case)
            .where(case.c.id == row.id)
            .values(final_action=action, access_until=access_until, next_retry_at=None)
        )
        self.writes.close(conn, row, OUTCOME[action])
        context = {"final_action": action.value, "access_until": queries.iso(access_until)}
        self.writes.plan(
            conn, row, MEMBER_PIPELINE, "final_notice", due_at=self.as_of, context=context
        )
        return action
