"""Headless Chromium for the browser tests (the trace viewer, the explorer), through selenium and the system's
chromedriver (given by path: selenium never downloads a driver). Tests using it are marked needs_chromium, so
they skip, naming the Debian packages, where Chromium is absent (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def find(path: str) -> str | None:
    """The program at `path`, else the one of that name on PATH."""
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else shutil.which(Path(path).name)


@contextmanager
def chrome(downloads: Path | None = None, size: str = "1400,900") -> Iterator[Any]:
    """A headless Chromium driver (its console log kept; files it downloads land in `downloads`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = find(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(find(CHROMEDRIVER)), options=options)
    try:
        yield d
    finally:
        d.quit()


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
