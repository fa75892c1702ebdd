"""The pipeline's Prefect flow: one call to memberflow's composition."""

from datetime import datetime

from prefect import flow

from memberflow.core.settings import get_settings
from memberflow.plugin import run_pipeline
from visit_thanks.pipeline import VisitThanks


@flow(name="visit-thanks")
def visit_thanks(
    as_of: datetime | None = None, output: str = "", batch_size: int = 500
) -> list[dict]:
    return run_pipeline(
        VisitThanks(), settings=get_settings(), as_of=as_of, output=output, batch_size=batch_size
    )
