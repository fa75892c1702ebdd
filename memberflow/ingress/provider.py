"""What a webhook provider declares, in its own file under `memberflow/ingress/providers/`: its
route, how its requests are authenticated, how they are translated, how to sign one the way it
would (for `memberflow ingress replay` and tests), and its OpenAPI description. The app and the
replay command list no provider by hand: they take what `providers.discover_providers()`
finds."""

from collections.abc import Callable
from dataclasses import dataclass, field

from memberflow.core.settings import Settings
from memberflow.ingress.changes import Change, Received


class NotConfigured(ValueError):
    """A provider's secret is not set, so a request cannot be signed as the ingress expects."""


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    name: str  # the route is /webhooks/<name>; the inbox's `provider` column
    setting: str  # the Settings field holding its secret: the route is off while it is unset
    authenticate: Callable[[Received, Settings], None]  # raises Rejected
    translate: Callable[[Received, Settings], Change]  # raises Rejected
    sign: Callable[[bytes, Settings], SignedRequest]
    summary: str
    openapi: dict  # openapi_extra of the POST route: parameters and request body
    methods: tuple[str, ...] = ("POST",)
    # what the inbox keeps: the body as received, unless the provider normalises it
    stored_body: Callable[[Received], bytes] = lambda received: received.body
    # openapi_extra of the GET route, for providers that also accept GET
    get_openapi: dict | None = None
    # pydantic models the `openapi` text refers to as #/components/schemas/<Name>
    schemas: tuple[type, ...] = ()

    @property
    def path(self) -> str:
        return f"/webhooks/{self.name}"


def required_secret(settings: Settings, name: str) -> str:
    value = settings.secret(name)
    if value is None:
        raise NotConfigured(f"set MEMBERFLOW_{name.upper()} to sign as the ingress expects")
    return value


# OpenAPI pieces the providers share


def header(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


def json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


OBJECT = {"type": "object"}
