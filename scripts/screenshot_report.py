"""The README's picture of the retention report as the Prefect UI shows it: after `make demo`
(whose last step publishes the report to the local Prefect server), this opens the newest
`retention-all-summary` artifact in headless Chromium and saves docs/images/retention-report.png.

    .venv/bin/python scripts/screenshot_report.py [--ui http://127.0.0.1:4200]
"""

import argparse
from pathlib import Path

import requests

from memberflow.cli.screenshot import screenshot_url

KEY = "retention-all-summary"
OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "retention-report.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ui", default="http://127.0.0.1:4200")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    found = requests.post(
        f"{args.ui}/api/artifacts/filter",
        json={"artifacts": {"key": {"any_": [KEY]}}, "sort": "CREATED_DESC", "limit": 1},
        timeout=10,
    )
    found.raise_for_status()
    if not found.json():
        raise SystemExit(f"no {KEY} artifact on {args.ui}: run `make demo` first")
    page = f"{args.ui}/artifacts/artifact/{found.json()[0]['id']}"
    screenshot_url(page, args.out, width=1280, height=1500, wait_ms=20_000)
    print(f"{page} -> {args.out}")


if __name__ == "__main__":
    main()
