"""A picture of an email as a mail client shows it: headless Chromium (Debian's package), the
same browser the test suite checks every template in, writing a PNG."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from memberflow.core.console import fail


def screenshot(html: str, path: Path, width: int, height: int = 1400) -> Path:
    """Renders `html` at `width` px and saves the first `height` px as a PNG at `path`."""
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "email.html"
        page.write_text(html, encoding="utf-8")
        return screenshot_url(page.as_uri(), path, width, height)


def screenshot_url(url: str, path: Path, width: int, height: int = 1400, wait_ms: int = 0) -> Path:
    """Opens `url` (a file, or a page on 127.0.0.1) at `width` px, lets its scripts run for
    `wait_ms` (a single-page app such as the Prefect UI), and saves a PNG at `path`."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        fail("--screenshot needs Chromium: apt-get install chromium (Debian) and run again")
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        command = [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={folder}/profile",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # nothing leaves
            f"--window-size={width},{height}",
            *([f"--virtual-time-budget={wait_ms}"] if wait_ms else []),
            f"--screenshot={path}",
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or not path.exists():
        fail(f"Chromium could not take the screenshot: {done.stderr.strip()[-300:]}")
    return path
