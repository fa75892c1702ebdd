"""The registered pipelines: what the CLI, template lint, previews and the demo iterate over.

A pipeline registers once, as an entry point in the `memberflow.pipelines` group naming its
`Registration` (memberflow's own in pyproject.toml; an outside package in its own). Nothing
generic names a pipeline: it asks this registry.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from memberflow.core.settings import Settings
from memberflow.messaging.protocols import Pipeline, StepInfo
from memberflow.messaging.rendering import business_fields

ENTRY_POINT_GROUP = "memberflow.pipelines"
log = logging.getLogger(__name__)

SampleFields = Callable[[Settings], dict[str, dict]]  # template name -> merge fields
# (conn, member external id, template, settings, locale to write in or None: the member's)
MemberFields = Callable[
    [Connection, str, str, Settings, str | None], tuple[dict, str | None] | None
]


@dataclass(frozen=True)
class DemoHooks:
    """How the demo drives a pipeline: `day` runs it for one simulated day (importing its flow
    lazily, as `module:function`), returning the figures to show; `summary` tabulates the end."""

    day: str
    summary: Callable[[Any], list[dict]] | None = None
    summary_title: str = ""


@dataclass(frozen=True)
class Registration:
    """One pipeline, as the rest of memberflow sees it.

    Attributes:
        name: The pipeline's name: `memberflow run <name>`, template folder, touchpoint keys.
        summary: One line for `memberflow pipelines`.
        flow: The Prefect flow as `module:function`; it takes `as_of` and `output`.
        messages: The engine-facing pipelines whose touchpoints it owns (dunning has two: the
            member's emails and the tickets for ops).
        steps: Its steps as ops see them.
        sample_fields: Merge fields per template, for `templates lint` and previews.
        member_fields: Optional: a real member's fields for a template (`preview --member`),
            with their locale; None when the member has nothing that template would use.
        demo: Optional: how `memberflow demo` runs it.
        commands: Optional command groups of its own, as name -> `module:typer_app`
            (`memberflow cases` is dunning's).
        templates: Optional: the folder holding its `<name>/...` templates, for a pipeline
            shipped outside memberflow (memberflow's own live in the project's templates/).
        routers: Optional web pages of its own on the ingress app, as `module:function`
            references to `function(settings, engine) -> fastapi.APIRouter` (survey pages).
        report: Optional: its own sections of the retention report, as a `module:function`
            reference to `function(conn, start, end, products) -> {title: rows}` over the
            period [start, end) and the products chosen (None: all).
        goal: Optional: what its messages are for, to judge its experiments by: a
            `module:function` reference to `function(dialect) -> (label, condition)`, the
            condition a SQL boolean over a `touchpoint` row and its `subscription` (joined by
            the caller): renewed, recovered...
        forecast: Optional, for a pipeline that plans its own touchpoints as it goes (dunning's
            notices): `module:function` reference to `function(conn, start, end)` yielding
            (due_at, pipeline, step) of the messages it will plan, due in [start, end).
        provides: Optional facts it answers for other pipelines, by name: a `module:function`
            reference each. A pipeline that needs another's facts asks `provided(name)`, never
            its tables (dunning provides `failed_payment_after`, which reminders judge by).
        migrations: Optional, for a pipeline that owns tables: the folder of its Alembic
            revisions, a branch of its own labelled with its name whose first revision
            depends on memberflow's; `memberflow db upgrade` applies it beside memberflow's.
    """

    name: str
    summary: str
    flow: str
    messages: Callable[[], list[Pipeline]]
    steps: Callable[[], list[StepInfo]]
    sample_fields: SampleFields
    member_fields: MemberFields | None = None
    demo: DemoHooks | None = None
    commands: dict[str, str] = field(default_factory=dict)
    templates: Path | None = None
    routers: list[str] = field(default_factory=list)
    report: str | None = None
    goal: str | None = None
    forecast: str | None = None
    provides: dict[str, str] = field(default_factory=dict)
    migrations: Path | None = None
    order: int = field(default=100, compare=False)  # where the demo runs it in a day


def load(reference: str):
    """The object a `module:attribute` reference names (a flow, a demo hook, a Typer app, a
    router factory): registrations name them so, and import them only when needed."""
    module, _, attribute = reference.partition(":")
    return getattr(import_module(module), attribute)


def registered() -> dict[str, Registration]:
    """Every pipeline by name, in run order. A registration that fails to load is logged and
    skipped: one broken plugin must not stop the others."""
    found: dict[str, Registration] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            registration = entry.load()
            if not isinstance(registration, Registration):
                raise TypeError(f"{entry.value} is not a memberflow Registration")
        except Exception as error:
            log.warning("pipeline plugin %r could not be loaded: %s", entry.name, error)
            continue
        found[registration.name] = registration
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def provided(fact: str):
    """The function a registered pipeline provides for `fact` (its `provides`), or None when
    no pipeline does: the asker then goes without (reminders without dunning count no failed
    payments)."""
    for registration in registered().values():
        if fact in registration.provides:
            return load(registration.provides[fact])
    return None


def migration_branches() -> list[Path]:
    """The migration folders of the registered pipelines that own tables."""
    return [r.migrations for r in registered().values() if r.migrations is not None]


def get(name: str) -> Registration:
    """The pipeline called `name`; a clear error naming the known ones otherwise."""
    pipelines = registered()
    if name not in pipelines:
        known = ", ".join(pipelines) or "none"
        raise LookupError(f"no pipeline called {name!r} is registered (known: {known})")
    return pipelines[name]


def sample_fields(settings: Settings, locale: str | None = None) -> dict[str, dict]:
    """Every registered pipeline's sample merge fields, by template name, over the fields every
    template may use; formatted for `locale` (dates, amounts), by default the settings' own."""
    if locale:
        settings = settings.model_copy(update={"default_locale": locale})
    samples: dict[str, dict] = {}
    for registration in registered().values():
        samples |= registration.sample_fields(settings)
    shared = business_fields(settings)
    return {name: {**shared, **fields} for name, fields in samples.items()}


def member_templates() -> list[str]:
    """The templates members read (not ops' tickets): each must exist in every supported
    language and pass the content checklist (tests/messaging/test_member_templates.py)."""
    return sorted(
        {
            info.template
            for registration in registered().values()
            for info in registration.steps()
            if info.template and info.audience.startswith("member")
        }
    )


def template_folders(settings: Settings) -> list[Path]:
    """Where templates are looked up: the project's folder first (ops' copies override), then
    each registered pipeline's own."""
    shipped = [r.templates for r in registered().values() if r.templates is not None]
    return [settings.templates_dir, *shipped]
