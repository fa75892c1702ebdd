"""Plain-text output for command lines: clear failures and aligned tables."""

from datetime import UTC, datetime

import typer


def fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def parse_moment(value: str | None, option: str = "--as-of") -> datetime | None:
    """A command line's date or time option, as aware UTC; a clear failure otherwise."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(
            f"{option} {value!r} is not a date or time: write it as 2026-12-01 or "
            "2026-12-01T09:00:00Z (ISO 8601; UTC unless it ends with an offset such as +01:00)"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_table(rows: list[dict]) -> None:
    if not rows:
        print("(none)")
        return
    columns = list(rows[0])
    text = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


class Progress:
    """A progress bar on a terminal (one line, redrawn), plain lines otherwise (a log file, CI):
    at most one line per tenth of the way."""

    def __init__(self, label: str, total: int, stream=None, width: int = 30):
        import sys

        self.label, self.total, self.width = label, total, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if self.total <= 0:
            return
        share = min(done / self.total, 1.0)
        if self.tty:
            filled = round(share * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            end = "\n" if done >= self.total else ""
            self.stream.write(f"\r{self.label} [{bar}] {share:4.0%} ({done}/{self.total}){end}")
        elif int(share * 10) > self.shown:
            self.shown = int(share * 10)
            self.stream.write(f"{self.label}: {done} of {self.total} ({share:.0%})\n")
        self.stream.flush()


class Ticker:
    """Progress where the total is not known in advance (a provider's lists stream): on a
    terminal one line redrawn every `every` items, otherwise a plain line every `log_every`."""

    def __init__(self, label: str, stream=None, every: int = 100, log_every: int = 10_000):
        import sys

        self.label, self.every, self.log_every = label, every, log_every
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def update(self, done: int, detail: str = "") -> None:
        if self.tty and done % self.every == 0:
            self.stream.write(f"\r{self._line(done, detail)}")
        elif not self.tty and done % self.log_every == 0:
            self.stream.write(f"{self._line(done, detail)}\n")
        self.stream.flush()

    def done(self, total: int, detail: str = "") -> None:
        if self.tty:  # the line ends; a log has had its lines
            self.stream.write(f"\r{self._line(total, detail)}\n")
            self.stream.flush()

    def _line(self, done: int, detail: str) -> str:
        return f"{self.label}: {done:,}" + (f" {detail}" if detail else "")
