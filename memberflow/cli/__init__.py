"""`memberflow ...`: the command line, one module per command group. The one room under
memberflow/ that reaches up to flows/ (lazily, through the registry's `module:function`
references), because starting a flow is what a CLI is for. Pipelines add their own groups
through `Registration.commands`."""

import sys

import typer
from sqlalchemy.engine import make_url

from memberflow.cli import (
    data,
    experiments,
    ingress,
    members,
    report,
    run,
    server,
    sync,
    templates,
)
from memberflow.cli._common import load
from memberflow.core.settings import get_settings
from memberflow.messaging import registry

app = typer.Typer(
    rich_markup_mode=None,
    help="memberflow: membership billing automation on Prefect.",
    no_args_is_help=True,
)
app.add_typer(data.db_app, name="db")
app.command("import")(data.import_members)
app.command("touchpoints")(data.touchpoints)
app.command("requeue")(data.requeue)
app.add_typer(run.run_app)
app.command("pipelines")(run.pipelines)
app.add_typer(templates.templates_app, name="templates")
app.add_typer(server.server_app, name="server")
app.command("demo")(server.demo)
app.add_typer(ingress.ingress_app, name="ingress")
app.add_typer(sync.sync_app, name="sync")
app.add_typer(sync.reconcile_app, name="reconcile")
app.add_typer(members.member_app, name="member")
app.command("report")(report.report)
app.command("forecast")(report.forecast)
app.add_typer(experiments.experiments_app, name="experiments")

for _registration in registry.registered().values():
    for _name, _reference in _registration.commands.items():
        app.add_typer(load(_reference), name=_name)


def main() -> None:
    """The `memberflow` command: Typer's app, with the database's usual failures said in one
    line that names the setting (exit code 1), not a traceback."""
    from sqlalchemy.exc import OperationalError

    from memberflow.core import db

    try:
        app()
    except (db.DatabaseSettingError, db.DatabaseUnavailable, db.SchemaMissing) as problem:
        _exit_saying(str(problem))
    except OperationalError as error:  # a server database that does not answer
        said = str(error.orig or error).strip().splitlines()[0]
        url = make_url(get_settings().database_url).render_as_string(hide_password=True)
        _exit_saying(
            f"the database at {url} ({db.SETTING}) does not answer ({said}): start it, or set "
            f"{db.SETTING} to the right one"
        )


def _exit_saying(message: str) -> None:
    typer.secho(f"memberflow: {message}", fg=typer.colors.RED, err=True)
    sys.exit(1)
