"""The one module a pipeline imports from memberflow's engine: its contract, its registration,
how it plans, the only way it writes a touchpoint, and the flow that runs it.

Everything else under `memberflow.messaging` is the engine's own and may change; import-linter
keeps memberflow's pipelines to this module (`pyproject.toml`), and a pipeline shipped outside
memberflow should do the same. What a pipeline may still import beside it is `memberflow.core`
(members, money, schedules, settings, the models it reads) and its own package.

    from memberflow.plugin import Registration, Selection, StepInfo, member_recipient, run_pipeline

`run_pipeline` is Prefect's side (a pipeline's flow calls it): it is imported when first asked
for, so importing this module for the contract alone does not start Prefect.
"""

from typing import TYPE_CHECKING, Any

from memberflow.core.members import member_recipient
from memberflow.messaging.composing import MANAGE as MANAGE_LINK
from memberflow.messaging.experiments import HOLDOUT, held_out
from memberflow.messaging.http import TIMEOUT as HTTP_TIMEOUT
from memberflow.messaging.http import make_session as http_session
from memberflow.messaging.messages import Message, Receipt
from memberflow.messaging.outbox import (
    amend_context,
    insert_touchpoints,
    last_bill_notice,
    new_touchpoint,
    plan_touchpoint,
    skip_unsent,
    touchpoint_key,
)
from memberflow.messaging.protocols import (
    DatePlanner,
    ExtendsClaim,
    ExtendsPlan,
    LinkMaker,
    Pipeline,
    PlanningWindow,
    Recipient,
    SignsLinks,
    Step,
    StepInfo,
    SubscriptionRow,
    TouchpointRow,
)
from memberflow.messaging.registry import DemoHooks, Registration, provided
from memberflow.messaging.samples import SAMPLE_ANCHOR, sample_touchpoint
from memberflow.messaging.store import Selection, member_subscription_rows

if TYPE_CHECKING:
    from flows.pipeline import run_pipeline

__all__ = [
    # the contract (memberflow.messaging.protocols): what the engine asks of a pipeline
    "Pipeline",
    "Recipient",
    "LinkMaker",
    "SubscriptionRow",
    "DatePlanner",
    "ExtendsClaim",
    "ExtendsPlan",
    "SignsLinks",
    "Step",
    "StepInfo",
    "TouchpointRow",
    # registering it once, and asking another pipeline's facts through its `provides`
    "Registration",
    "DemoHooks",
    "provided",
    # planning: the candidates' ranges, and the window a run accounts for
    "Selection",
    "PlanningWindow",
    # the outbox: the only way a pipeline writes a touchpoint
    "new_touchpoint",
    "touchpoint_key",
    "insert_touchpoints",
    "plan_touchpoint",
    "skip_unsent",
    "amend_context",
    "last_bill_notice",
    # what a message is, who gets it, and the rows a member preview starts from
    "Message",
    "Receipt",
    "member_recipient",
    "member_subscription_rows",
    "sample_touchpoint",
    "SAMPLE_ANCHOR",
    "HOLDOUT",
    "held_out",
    # the purpose of the member's signed "change or cancel" link (the cancel page's)
    "MANAGE_LINK",
    # the one HTTP helper (retries, a pool per thread): for a pipeline's own calls
    "http_session",
    "HTTP_TIMEOUT",
    # the flow's one call: plan since the watermark, deliver, publish the summary
    "run_pipeline",
]


def __getattr__(name: str) -> Any:
    if name == "run_pipeline":
        from flows.pipeline import run_pipeline

        return run_pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
