"""Templates are untrusted input: a sandboxed, strict, autoescaping Jinja environment."""

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import css_inline
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from memberflow.core.locales import Choice, choose
from memberflow.core.settings import Settings

PARTS = ("subject.txt", "body.txt", "body.html")


def business_fields(settings: Settings) -> dict:
    """What every template may use whichever pipeline sends it: the shared layouts need them."""
    return {
        "business_name": settings.business_name,
        "support_email": settings.support_email,
        "portal_url": settings.portal_url,
    }


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def inline_styles(html: str) -> str:
    """Styles copied onto each element for mail clients that drop <style>; the <style> stays
    for those that read it (the phone layout and dark mode need its media queries)."""
    return _INLINER.inline(html)


def preheader(text: str, most: int = 110) -> str:
    """The message's first words after the greeting, for the inbox's preview line."""
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    body = [p for p in paragraphs if not p.endswith(",")] or paragraphs or [""]
    first = body[0]
    return first if len(first) <= most else first[: most - 1].rsplit(" ", 1)[0] + "…"


class TemplateProblem(Exception):
    """A template failed: which file, which line, and what is wrong."""

    def __init__(self, template: str, line: int | None, reason: str):
        self.template, self.line, self.reason = template, line, reason
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {reason}")


class Renderer:
    """Renders `<name>/<locale>/{subject.txt, body.txt, body.html}` under the templates folders.

    The first folder is the project's (MEMBERFLOW_TEMPLATES_DIR: ops edit it, and a copy of a
    template there overrides the original); then come the folders outside pipelines ship.
    """

    def __init__(self, templates_dirs: Path | Sequence[Path], default_locale: str = "en"):
        dirs = [templates_dirs] if isinstance(templates_dirs, str | Path) else templates_dirs
        self.search_path = list(dict.fromkeys(Path(folder) for folder in dirs))
        self.default_locale = default_locale
        self._locales: dict[str, list[str]] = {}
        self._choices: dict[tuple[str, str | None, str | None], Choice] = {}
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(self.search_path),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # a renderer lives for one run or one command: a template edited meanwhile is read
            # by the next one; checking every file's time on each render cost ~5% of a send
            auto_reload=False,
            # a plain dict, not Jinja's LRU cache: that takes a lock on every lookup (includes
            # too), which a hundred sending threads rendering at once queued on; the templates
            # are a few hundred files at most
            cache_size=-1,
        )

    def folder_of(self, name: str) -> Path:
        """Where template `name` lives: the first folder of the search path that has it."""
        for root in self.search_path:
            if (root / name).is_dir():
                return root / name
        return self.search_path[0] / name

    def language(self, name: str, locale: str | None, product_locale: str | None = None) -> Choice:
        """The locale template `name` is rendered in for a member reading `locale`: the first of
        the fallback chain it is written in (memberflow.core.locales)."""
        asked = (name, locale, product_locale)
        if asked not in self._choices:  # asked twice per message, by thousands of members
            self._choices[asked] = choose(
                self.locales(name), locale, product_locale, self.default_locale
            )
        return self._choices[asked]

    def locale_for(self, name: str, locale: str | None) -> str:
        return self.language(name, locale).locale

    def render(
        self, name: str, locale: str | None, fields: dict, subjects: dict[str, str] | None = None
    ) -> Rendered:
        """Subject, text and HTML; raises `TemplateProblem` naming the file and line.
        `subjects`: another subject line by language (an experiment's variant), Jinja too."""
        chosen = self.locale_for(name, locale)
        fields = {"lang": chosen, **fields}  # the layout's <html lang>
        folder = f"{name}/{chosen}"
        if subjects and chosen in subjects:
            subject = self._render_string(subjects[chosen], f"{folder} (variant subject)", fields)
        else:
            subject = self._render_part(f"{folder}/subject.txt", fields)
        text = self._render_part(f"{folder}/body.txt", fields)
        # the inbox shows the start of the message beside the subject: its first real words
        html = self._render_part(f"{folder}/body.html", {**fields, "preheader": preheader(text)})
        return Rendered(" ".join(subject.split()), text, inline_styles(html))

    def _render_part(self, path: str, fields: dict) -> str:
        return self._render(lambda: self.env.get_template(path), path, fields)

    def _render_string(self, source: str, where: str, fields: dict) -> str:
        return self._render(lambda: self.env.from_string(source), where, fields)

    def _render(self, template, where: str, fields: dict) -> str:
        try:
            return template().render(fields)
        except TemplateSyntaxError as error:
            raise TemplateProblem(error.name or where, error.lineno, error.message or "") from None
        except TemplateNotFound as error:
            raise TemplateProblem(where, None, f"template not found: {error.name}") from None
        except TemplateError as error:
            template_name, line = self._where(error, where)
            raise TemplateProblem(template_name, line, str(error)) from None

    def _where(self, error: Exception, fallback: str) -> tuple[str, int | None]:
        # Jinja rewrites tracebacks so template frames carry the template's file and line.
        roots = [folder.resolve() for folder in self.search_path]
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            for root in roots:
                if Path(frame.filename).is_relative_to(root):
                    return str(Path(frame.filename).relative_to(root)), frame.lineno
        return fallback, None

    def template_names(self) -> list[str]:
        """Every `<pipeline>/<template>` folder that holds locale folders."""
        names = {
            str(path.parent.parent.relative_to(root))
            for root in self.search_path
            for path in root.glob("*/*/*/subject.txt")
        }
        return sorted(names)

    def locales(self, name: str) -> list[str]:
        if name not in self._locales:  # asked once per message: look at the folder once per run
            folder = self.folder_of(name)
            found = [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
            self._locales[name] = sorted(found)
        return self._locales[name]

    def lint(self, samples: dict[str, dict]) -> list[TemplateProblem]:
        """Renders every template in every locale with sample fields; returns every problem."""
        problems = []
        for name in self.template_names():
            # an experiment's variant of a template, `<template>.<variant>`, takes its fields
            fields = samples.get(name, samples.get(name.split(".")[0]))
            if fields is None:
                problems.append(TemplateProblem(name, None, "no pipeline step uses this template"))
                continue
            for locale in self.locales(name):
                for part in PARTS:
                    try:
                        self._render_part(f"{name}/{locale}/{part}", {"lang": locale, **fields})
                    except TemplateProblem as problem:
                        problems.append(problem)
        return problems
