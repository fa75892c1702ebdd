"""The ingress as an ASGI app: one route per discovered provider (`providers/`). Each request
is size-checked, authenticated, translated, then stored and applied in one transaction before
the 200; the Prefect event follows from a background emitter. Bad input gets a 4xx with a JSON
error and stores nothing."""

import contextlib
import logging
import threading
from contextlib import asynccontextmanager
from functools import cache
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from memberflow.core import db as database
from memberflow.core.settings import Settings
from memberflow.ingress import inbox, unsubscribe
from memberflow.ingress.changes import Change, Received, Rejected, unstorable
from memberflow.ingress.emitter import Emitter, PrefectApi
from memberflow.ingress.provider import Provider
from memberflow.ingress.providers import discover_providers
from memberflow.messaging import registry

logger = logging.getLogger("memberflow.ingress")


class Problem(BaseModel):
    """Why a webhook was refused. Nothing was stored."""

    error: str
    field: str | None = None
    provider: str


class WebhookAccepted(BaseModel):
    """The webhook is stored. `event` is the Prefect event it will emit, if any."""

    status: Literal["applied", "stale", "ignored", "unmatched", "failed", "duplicate"]
    webhook_id: int
    event: str | None = None
    note: str | None = None


PROVIDERS = discover_providers()


def translate_stored(row, settings: Settings) -> Change:
    """A stored webhook, translated again (for `memberflow ingress reapply`)."""
    received = Received(headers={}, query={}, body=row.body.encode(), received_at=row.received_at)
    return PROVIDERS[row.provider].translate(received, settings)


def _problem(status: int, provider: str, message: str, field: str | None = None) -> JSONResponse:
    body = Problem(error=message, field=field, provider=provider).model_dump()
    headers = {"Retry-After": "30"} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


class Ingress:
    """The request handling, apart from the web framework: easy to test and to reason about."""

    def __init__(self, settings: Settings, emitter: Emitter | None):
        self.settings, self.emitter = settings, emitter
        self.engine = database.get_engine(settings.database_url)
        # SQLite takes one writer at a time; queueing here beats its busy handler, which sleeps
        # up to 100 ms between tries (p99 650 ms -> see docs/performance.md)
        sqlite = self.engine.dialect.name == "sqlite"
        self.write_lock = threading.Lock() if sqlite else contextlib.nullcontext()
        self.watch = database.DatabaseWatch(self.engine)

    def _refuse(self, provider: Provider, rejected: Rejected) -> JSONResponse:
        logger.info("%s webhook refused (%d): %s", provider.name, rejected.status, rejected.message)
        return _problem(rejected.status, provider.name, rejected.message, rejected.field)

    def _store(self, provider: Provider, received: Received) -> inbox.Accepted:
        """Translates and stores; raises Rejected for input it refuses."""
        try:
            change = provider.translate(received, self.settings)
            body = provider.stored_body(received)
        except Rejected:
            raise
        except Exception as error:  # a translator bug: keep the authenticated webhook anyway
            logger.exception("%s webhook could not be translated; stored as failed", provider.name)
            with self.write_lock:
                return inbox.accept_untranslatable(
                    self.engine, provider.name, received.body, received.received_at, error
                )
        problem = unstorable(change)
        if problem is not None:
            raise problem
        with self.write_lock:
            return inbox.accept(self.engine, change, body, received.received_at)

    def handle(self, provider: Provider, received: Received) -> JSONResponse:
        if getattr(self.settings, provider.setting) is None:
            variable = f"MEMBERFLOW_{provider.setting.upper()}"
            return _problem(
                503,
                provider.name,
                f"the {provider.name} webhook is off: set {variable} and restart",
            )
        try:
            provider.authenticate(received, self.settings)
        except Rejected as rejected:
            return self._refuse(provider, rejected)
        except Exception:  # unauthenticated input that upset a verifier: refuse, store nothing
            logger.exception("%s signature check raised", provider.name)
            return self._refuse(provider, Rejected(401, "the signature could not be checked"))
        replaced = self.watch.replaced()  # a 2xx must mean stored in the configured database
        if replaced:
            logger.error("%s webhook not stored: %s", provider.name, replaced)
            return _problem(503, provider.name, f"{replaced}; nothing was stored, retry later")
        try:
            accepted = self._store(provider, received)
        except Rejected as rejected:
            return self._refuse(provider, rejected)
        except DataError as error:  # a value the column cannot hold: retrying will not help
            logger.info("%s webhook refused, a value does not fit: %s", provider.name, error.orig)
            return _problem(
                422, provider.name, f"a value cannot be stored: {str(error.orig).splitlines()[0]}"
            )
        except SQLAlchemyError as error:
            logger.error(
                "%s webhook not stored, database error: %s", provider.name, type(error).__name__
            )
            return _problem(
                503, provider.name, "the database is unavailable; nothing was stored, retry later"
            )
        logger.info(
            "%s webhook %d: %s%s",
            provider.name,
            accepted.webhook_id,
            accepted.status,
            f" -> {accepted.event}" if accepted.event else "",
        )
        if accepted.event and self.emitter is not None:
            self.emitter.wake.set()
        return JSONResponse(
            WebhookAccepted(
                status=accepted.status,
                webhook_id=accepted.webhook_id,
                event=accepted.event,
                note=accepted.note,
            ).model_dump()
        )


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` bytes (never buffering more)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


@cache  # once per process: an app started again (the demo's pages, each day) need not repeat it
def _say_events_wait() -> None:
    logger.warning("no Prefect API configured: events wait in the inbox")


def create_app(settings: Settings, prefect_api: PrefectApi | None = None) -> FastAPI:
    """The ingress app. With `prefect_api`, a background thread emits Prefect events."""
    engine = database.get_engine(settings.database_url)
    emitter = Emitter(engine, prefect_api) if prefect_api else None
    ingress = Ingress(settings, emitter)  # the same engine: one per URL per process

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        database.require_schema(engine)
        stop = threading.Event()
        if emitter is None:
            _say_events_wait()
        else:
            threading.Thread(target=emitter.run, args=(stop,), name="emitter", daemon=True).start()
        yield
        stop.set()

    app = FastAPI(
        title="memberflow ingress",
        version="1",
        description="Payment providers' webhooks in; domain changes and Prefect events out.",
        lifespan=lifespan,
    )

    async def receive(request: Request, provider: Provider):
        body = await _read_body(request, settings.ingress_max_body_bytes)
        if body is None:
            limit = settings.ingress_max_body_bytes
            return _problem(
                413,
                provider.name,
                f"the body is over {limit} bytes (MEMBERFLOW_INGRESS_MAX_BODY_BYTES)",
            )
        received = Received(
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=body,
            received_at=inbox.now(),
        )
        return await run_in_threadpool(ingress.handle, provider, received)

    for provider in PROVIDERS.values():
        _add_route(app, provider, receive)
    app.include_router(unsubscribe.router(settings, engine))
    for registration in registry.registered().values():  # pipelines' own pages (surveys)
        for reference in registration.routers:
            app.include_router(registry.load(reference)(settings, engine))

    @app.get("/health", tags=["ops"], summary="Whether the ingress can store webhooks now")
    def health() -> JSONResponse:
        """200 `ok`, or 503 `degraded` with why, within about a second: the database file
        replaced under it, locked by a writer, or unreachable."""
        problem = ingress.watch.problem()
        if problem:
            return JSONResponse({"status": "degraded", "problem": problem}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "unemitted_events": inbox.count_unemitted(engine),
                "prefect_api": prefect_api.url if prefect_api else None,
            }
        )

    app.openapi = lambda: _openapi(app)
    return app


def _add_route(app: FastAPI, provider: Provider, receive) -> None:
    async def endpoint(request: Request):
        return await receive(request, provider)

    for method in provider.methods:
        app.add_api_route(
            provider.path,
            endpoint,
            methods=[method],
            operation_id=f"{provider.name}_webhook_{method.lower()}",
            summary=provider.summary,
            tags=["webhooks"],
            response_model=WebhookAccepted,
            responses={
                status: {"model": Problem, "description": text} for status, text in _ERRORS.items()
            },
            openapi_extra=provider.get_openapi if method == "GET" else provider.openapi,
        )


_ERRORS = {
    400: "Malformed body (not JSON, not form data).",
    401: "Missing, wrong or stale signature or token.",
    413: "Body over MEMBERFLOW_INGRESS_MAX_BODY_BYTES.",
    422: "A required field is missing or has the wrong type; `field` names it.",
    503: "This provider's secret is not set, or the database is unavailable. Nothing stored.",
}


def _openapi(app: FastAPI) -> dict:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for provider in PROVIDERS.values():
            for model in provider.schemas:
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(model_schema.pop("$defs", {}))
                components[model.__name__] = model_schema
        app.openapi_schema = schema
    return app.openapi_schema
