"""Templates are untrusted input: a sandboxed, strict, autoescaping Jinja environment."""

import traceback
from dataclasses import dataclass
from pathlib import Path

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

PARTS = ("subject.txt", "body.txt", "body.html")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class TemplateProblem(Exception):
    """A template failed: which file, which line, and what is wrong."""

    def __init__(self, template: str, line: int | None, reason: str):
        self.template, self.line, self.reason = template, line, reason
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {reason}")


class Renderer:
    """Renders `<name>/<locale>/{subject.txt, body.txt, body.html}` under the templates folder."""

    def __init__(self, templates_dir: Path, default_locale: str = "en"):
        self.templates_dir = Path(templates_dir)
        self.default_locale = default_locale
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(self.templates_dir),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def locale_for(self, name: str, locale: str | None) -> str:
        """The member's locale when the template has it, else the default (en)."""
        if locale and (self.templates_dir / name / locale).is_dir():
            return locale
        base = (locale or "").split("-")[0].split("_")[0]
        if base and (self.templates_dir / name / base).is_dir():
            return base
        return self.default_locale

    def render(self, name: str, locale: str | None, fields: dict) -> Rendered:
        """Subject, text and HTML; raises `TemplateProblem` naming the file and line."""
        folder = f"{name}/{self.locale_for(name, locale)}"
        subject, text, html = (self._render_part(f"{folder}/{part}", fields) for part in PARTS)
        return Rendered(" ".join(subject.split()), text, html)

    def _render_part(self, path: str, fields: dict) -> str:
        try:
            return self.env.get_template(path).render(fields)
        except TemplateSyntaxError as error:
            raise TemplateProblem(error.name or path, error.lineno, error.message or "") from None
        except TemplateNotFound as error:
            raise TemplateProblem(path, None, f"template not found: {error.name}") from None
        except TemplateError as error:
            template, line = self._where(error, path)
            raise TemplateProblem(template, line, str(error)) from None

    def _where(self, error: Exception, fallback: str) -> tuple[str, int | None]:
        # Jinja rewrites tracebacks so template frames carry the template's file and line.
        root = str(self.templates_dir.resolve())
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            if frame.filename.startswith(root):
                return str(Path(frame.filename).relative_to(root)), frame.lineno
        return fallback, None

    def template_names(self) -> list[str]:
        """Every `<pipeline>/<template>` folder that holds locale folders."""
        names = {
            str(path.parent.parent.relative_to(self.templates_dir))
            for path in self.templates_dir.glob("*/*/*/subject.txt")
        }
        return sorted(names)

    def locales(self, name: str) -> list[str]:
        return sorted(p.name for p in (self.templates_dir / name).iterdir() if p.is_dir())

    def lint(self, samples: dict[str, dict]) -> list[TemplateProblem]:
        """Renders every template in every locale with sample fields; returns every problem."""
        problems = []
        for name in self.template_names():
            fields = samples.get(name)
            if fields is None:
                problems.append(TemplateProblem(name, None, "no pipeline step uses this template"))
                continue
            for locale in self.locales(name):
                for part in PARTS:
                    try:
                        self._render_part(f"{name}/{locale}/{part}", fields)
                    except TemplateProblem as problem:
                        problems.append(problem)
        return problems
