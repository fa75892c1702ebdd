"""`memberflow ingress ...`: the webhook ingress for payment providers."""

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from memberflow.cli._common import engine, fail, print_table
from memberflow.core import db as database
from memberflow.core.settings import get_settings

ingress_app = typer.Typer(
    rich_markup_mode=None, help="The webhook ingress for payment providers.", no_args_is_help=True
)


def _prefect_api():
    """Prefect's API from MEMBERFLOW_PREFECT_API_URL, else Prefect's own settings (profile or
    PREFECT_API_URL); None when neither names one."""
    from memberflow.ingress.emitter import PrefectApi

    settings = get_settings()
    if settings.prefect_api_url:
        return PrefectApi(settings.prefect_api_url)
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if not api.url:
        return None
    headers = {}
    if api.key:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    elif api.auth_string:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return PrefectApi(api.url, headers)


@ingress_app.command("serve")
def ingress_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
) -> None:
    """Serve /webhooks/{stripe,memberpress,membermouse,memberflow} until stopped."""
    import uvicorn

    from memberflow.ingress.app import create_app
    from memberflow.ingress.serve import log_config

    settings = get_settings()
    try:
        database.require_schema(engine())
    except database.SchemaMissing as error:
        fail(str(error))
    api = _prefect_api()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    print(
        f"ingress on http://{host}:{port}; Prefect events to {api.url if api else '(nowhere yet)'}"
    )
    uvicorn.run(
        create_app(settings, api), host=host, port=port, log_level="info", log_config=log_config()
    )


@ingress_app.command("replay")
def ingress_replay(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A stored payload.")],
    provider: Annotated[str, typer.Option(help="stripe, memberpress, membermouse or memberflow.")],
    url: Annotated[str, typer.Option(help="The running ingress.")] = "http://127.0.0.1:8787",
    now: Annotated[
        bool,
        typer.Option(
            help="Re-date it to now, with a new event id: the stored samples are dated "
            "late 2026, and an event already received changes nothing."
        ),
    ] = False,
) -> None:
    """Sign a payload as its provider would and send it to a running ingress."""
    import requests

    from memberflow.ingress.provider import NotConfigured
    from memberflow.ingress.replay import redated, signed_request
    from memberflow.messaging.http import TIMEOUT, make_session

    body = path.read_bytes()
    if now:
        body = redated(body, datetime.now(UTC))
    try:
        target, body, headers = signed_request(provider, body, get_settings())
    except NotConfigured as error:
        fail(str(error))
    try:
        response = make_session().post(
            url.rstrip("/") + target, data=body, headers=headers, timeout=TIMEOUT
        )
    except requests.RequestException as error:
        fail(
            f"could not reach the ingress at {url}: {type(error).__name__}; replay sends to a "
            "running ingress: start one with `memberflow ingress serve` (or pass --url)"
        )
    print(f"{response.status_code} {response.text}")
    if response.status_code >= 400:
        raise typer.Exit(1)


@ingress_app.command("emit")
def ingress_emit() -> None:
    """Send the Prefect events still waiting in the inbox (the ingress does this by itself)."""
    from memberflow.ingress.emitter import Emitter

    api = _prefect_api()
    if api is None:
        fail("no Prefect API: set PREFECT_API_URL (or MEMBERFLOW_PREFECT_API_URL)")
    report = Emitter(engine(), api).emit_pending()
    print(f"emitted {report.emitted} event(s)")
    if report.error:
        fail(f"{report.error}; {report.failed} event(s) still wait in the inbox")


@ingress_app.command("inbox")
def ingress_inbox(
    status: Annotated[
        str | None, typer.Option(help="applied, stale, ignored, unmatched or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest first, at most this many.")] = 50,
) -> None:
    """List received webhooks and what became of them."""
    from memberflow.ingress import inbox

    print_table(inbox.list_webhooks(engine(), status, limit))


@ingress_app.command("reapply")
def ingress_reapply() -> None:
    """Apply again the webhooks left unmatched or failed (after importing what they lacked)."""
    from memberflow.ingress import inbox
    from memberflow.ingress.app import translate_stored

    settings = get_settings()
    results = inbox.reapply(engine(), lambda row: translate_stored(row, settings))
    for result in results:
        print(f"webhook {result.webhook_id}: {result.status} {result.note or ''}".rstrip())
    print(
        f"reapplied {len(results)} webhook(s); the running ingress sends their Prefect events "
        "(or `memberflow ingress emit`)"
    )
