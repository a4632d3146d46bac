"""report.html opened in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium): it loads with no console errors, every figure renders, the tables are
real tables, and the first screen is not blank."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PROJECT

pytestmark = [pytest.mark.slow, pytest.mark.local_ray]


@pytest.fixture(scope="module")
def report_html(smoke_study):
    proc = subprocess.run(
        [sys.executable, "-m", "study", "report", "smoke", "--out", str(smoke_study)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    path = smoke_study / "report.html"
    assert path.is_file() and "report.html" in proc.stdout
    return path


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    assert driver_path, "chromedriver missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def test_the_report_loads_without_errors_and_every_figure_renders(report_html, browser):
    from selenium.webdriver.common.by import By

    browser.get(report_html.as_uri())
    assert browser.title == "peft-study report: smoke"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 3
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"
    )
    assert all(w > 0 for w in widths), widths
    tables = browser.find_elements(By.TAG_NAME, "table")
    assert len(tables) >= 2  # the findings and Table 2, as tables
    headers = [th.text for th in tables[1].find_elements(By.TAG_NAME, "th")]
    assert "n" in headers and any("ours" in h for h in headers)
    assert not report_html.read_text().count("http"), "the page links nothing outside itself"


def test_the_first_screen_is_not_blank(report_html, browser, tmp_path):
    browser.get(report_html.as_uri())
    png = browser.get_screenshot_as_png()
    (tmp_path / "first_screen.png").write_bytes(png)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 100 and pixels.std() > 5.0  # text and rules on white
