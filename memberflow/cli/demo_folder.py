"""Where `memberflow demo` keeps what it makes: its own folder (`./demo`), its own database and
outbox in it, a marker saying the demo made that database, and the list of files it wrote. It
removes only what it made itself: a file of yours in that folder stays."""

from dataclasses import dataclass
from pathlib import Path

MARKER = ".memberflow-demo"
MANIFEST = ".demo-files"


class DemoRefused(Exception):
    """The demo will not touch something it did not make."""


@dataclass(frozen=True)
class DemoFolder:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "memberflow-demo.db"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def prepare(self, reset: bool = False) -> None:
        """Ready for a fresh demo: the demo's last database and files gone, nothing else."""
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / MARKER
        if self.database.exists() and not marker.exists() and not reset:
            raise DemoRefused(
                f"{self.database} was not made by the demo, so the demo will not replace it; "
                "pass --reset to replace it anyway, or run the demo in another folder"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.database}{suffix}").unlink(missing_ok=True)
        manifest = self.root / MANIFEST
        if manifest.exists():
            for name in manifest.read_text(encoding="utf-8").splitlines():
                made = (self.root / name).resolve()
                if made.is_relative_to(self.root.resolve()):
                    made.unlink(missing_ok=True)
            manifest.unlink()
        marker.write_text("this database was made by `memberflow demo`\n", encoding="utf-8")

    def files(self) -> set[Path]:
        return {path for path in self.root.rglob("*") if path.is_file()}

    def remember(self, before: set[Path]) -> None:
        """Records the files the demo wrote since `before`, to remove them next time."""
        made = sorted(self.files() - before)
        names = [str(path.relative_to(self.root)) for path in made]
        names = [name for name in names if name not in (MARKER, MANIFEST)]
        with (self.root / MANIFEST).open("a", encoding="utf-8") as manifest:
            manifest.writelines(f"{name}\n" for name in names)
