"""Reading what a flow run left in the test Prefect server."""

import httpx
from prefect.settings import PREFECT_API_URL


def flow_run_artifacts(flow_run_id) -> list[dict]:
    """Straight from the REST API: prefect 3.8.8's client joins on task runs and drops
    flow-level artifacts."""
    filter_ = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=filter_)
    response.raise_for_status()
    return response.json()
