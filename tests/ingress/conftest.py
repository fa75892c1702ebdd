"""The ingress's tests: the providers' secrets set, and the real app in a test client."""

import pytest
from fastapi.testclient import TestClient

from memberflow.core.settings import get_settings
from memberflow.ingress.app import create_app
from tests.support.webhooks import SECRETS


@pytest.fixture
def configured(settings, monkeypatch):
    """The test's settings with every provider's secret (the app and `send` sign alike)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def client(configured):
    with TestClient(create_app(configured)) as test_client:
        yield test_client
