"""`memberflow templates lint | preview`: every registered pipeline's templates."""

from pathlib import Path
from typing import Annotated

import typer

from memberflow.cli._common import engine, fail
from memberflow.cli.screenshot import screenshot as take_screenshot
from memberflow.core.settings import get_settings
from memberflow.messaging import registry
from memberflow.messaging.rendering import Renderer, TemplateProblem, business_fields

templates_app = typer.Typer(
    rich_markup_mode=None, help="Check and preview message templates.", no_args_is_help=True
)


def _renderer() -> Renderer:
    settings = get_settings()
    return Renderer(registry.template_folders(settings), settings.default_locale)


@templates_app.command("lint")
def templates_lint() -> None:
    """Render every template in every locale with sample data; report every problem at once."""
    renderer = _renderer()
    problems = renderer.lint(registry.sample_fields(get_settings()))
    for problem in problems:
        typer.secho(str(problem), fg=typer.colors.RED, err=True)
    names = renderer.template_names()
    if problems:
        fail(f"{len(problems)} problem(s) in {len(names)} template(s)")
    print(f"{len(names)} template(s) render cleanly in every locale")


@templates_app.command("preview")
def templates_preview(
    name: Annotated[str, typer.Argument(help="e.g. reminders/renewal")],
    member: Annotated[str | None, typer.Option(help="A member's external id.")] = None,
    locale: Annotated[str | None, typer.Option()] = None,
    screenshot: Annotated[
        Path | None, typer.Option(help="Also save the HTML as a PNG, as a mail client shows it.")
    ] = None,
    width: Annotated[
        int, typer.Option(help="Screen width for --screenshot: 320 is a phone.")
    ] = 600,
) -> None:
    """Print the subject, text and HTML of a template for a member (or sample data)."""
    settings = get_settings()
    samples = registry.sample_fields(settings, locale)
    if name not in samples:
        fail(f"no step uses template {name!r}; known: {', '.join(sorted(samples))}")
    fields, member_locale = samples[name], None
    if member:
        owner = registry.get(name.split("/")[0])
        if owner.member_fields is None:
            fail(f"--member is not supported for {owner.name} templates; they use sample data")
        with engine().connect() as conn:
            found = owner.member_fields(conn, member, name, settings, locale)
        if found is None:
            fail(f"no member with external id {member!r} (or they have no subscription)")
        fields, member_locale = found
        fields = {**business_fields(settings), **fields}
    try:
        rendered = _renderer().render(name, locale or member_locale or "en", fields)
    except TemplateProblem as problem:
        fail(str(problem))
    print(f"Subject: {rendered.subject}\n\n--- text ---\n{rendered.text}")
    print(f"--- html ---\n{rendered.html}")
    if screenshot is not None:
        print(f"screenshot at {width} px: {take_screenshot(rendered.html, screenshot, width)}")
