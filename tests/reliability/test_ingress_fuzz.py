"""The ingress under fuzzing: schemathesis generates requests from the ingress's own OpenAPI
document (valid and invalid), against the real app on a real database. Never a 5xx; nothing
stored from a rejected request; the app still answers /health after every case. Hypothesis on
raw bodies and headers lives in tests/ingress/test_fuzz.py. Cases per route: 50 x TRIALS."""

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select
from sqlmodel import SQLModel

from memberflow.core import db as database
from memberflow.core.models import InboxEvent
from memberflow.core.settings import Settings
from memberflow.ingress.app import create_app
from tests.support.trials import TRIALS
from tests.support.webhooks import SECRETS

COUNTS: dict[str, int] = {"cases": 0, "rejected": 0, "stored": 0}
# schemathesis reads the schema (starting the app) when the module is imported: the app and
# its database (in a folder of its own) exist from then on
FOLDER = Path(tempfile.mkdtemp(prefix="memberflow-schemathesis-"))
URL = f"sqlite:///{FOLDER / 'fuzz.db'}"
SQLModel.metadata.create_all(database.get_engine(URL))
SECRET_SETTINGS = {k.removeprefix("MEMBERFLOW_").lower(): v for k, v in SECRETS.items()}
APP = create_app(Settings(database_url=URL, **SECRET_SETTINGS))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def ingress():
    engine = database.get_engine(URL)
    with TestClient(APP) as client:  # runs the app's startup, as uvicorn would
        yield client, engine
    shutil.rmtree(FOLDER, ignore_errors=True)


def stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(InboxEvent)).scalar_one()


@schema.parametrize()
@settings(
    max_examples=50 * TRIALS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_5xx_or_stores_anything_when_rejected(case, ingress, figures):
    client, engine = ingress
    before = stored(engine)
    response = case.call()
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    after = stored(engine)
    if response.status_code >= 400:
        assert after == before, (case.as_curl_command(), response.status_code)
        COUNTS["rejected"] += 1
    COUNTS["cases"] += 1
    COUNTS["stored"] += after - before
    health = client.get("/health")
    assert health.status_code == 200, health.text


def test_report_the_fuzzing(figures):
    figures.append({"test": "schemathesis on the ingress", **COUNTS, "server_errors": 0})
