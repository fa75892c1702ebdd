"""A real browser for pages: Debian's Chromium, headless, driven by its ChromeDriver.

Playwright cannot download browsers here, so tests use the system's `chromium` and
`chromium-driver` packages (`.ci/run` installs them). Without them, browser tests are skipped
with the reason, so the suite still passes on a machine that has none.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def start_browser(width: int = 320, height: int = 800):
    if not (CHROMIUM and CHROMEDRIVER):
        why = "needs Debian's chromium and chromium-driver (apt-get; .ci/run installs them)"
        if os.environ.get("MEMBERFLOW_REQUIRE_BROWSER"):
            pytest.fail(why)  # CI must not pass by skipping the pages
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # loopback only
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(width, height)
    return driver


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(
    os.environ.get("MEMBERFLOW_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


def accessibility_violations(driver, impacts=("serious", "critical")) -> list[str]:
    """axe-core's findings on the current page at these impacts, as readable lines."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(done, e => done({error: String(e)}));"
    )
    assert "error" not in result, result
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def screenshot(driver, name: str) -> Path:
    """Saves what the browser shows under test-artifacts/ (CI keeps them)."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path
