"""The quickstart report in a real browser (slow): headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
driven by Selenium) renders it with no console errors, no network requests beyond the file itself and its inline
``data:`` images, every section present, every image decoded; a full-page screenshot is saved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SECTIONS = ["summary", "lineage", "curves", "evaluation", "gallery", "distillation", "compression",
            "weight-histograms", "activations", "profile", "bench", "pareto", "cards"]
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]


def _binaries() -> tuple[str | None, str | None]:
    browser = next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None)
    return browser, shutil.which("chromedriver")


def require_chromium() -> tuple[str, str]:
    """Chromium and ChromeDriver paths; installs Debian's packages when missing (as root), else skips."""
    browser, driver = _binaries()
    if (browser is None or driver is None) and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
        if subprocess.run(cmd, capture_output=True, env=env, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=900)
            subprocess.run(cmd, capture_output=True, env=env, timeout=900)
        browser, driver = _binaries()
    if browser is None or driver is None:
        pytest.skip("headless Chromium is not installed and could not be installed here "
                    "(needs root and `apt-get install chromium chromium-driver`)")
    pytest.importorskip("selenium", reason="selenium is a dev dependency: run `make install-dev`")
    return browser, driver


@pytest.fixture
def chrome(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = require_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


INTERNAL = ("chrome:", "chrome-untrusted:", "about:")  # the new-tab page Chromium starts on, not the report


def _network(perf_log: list[dict]) -> tuple[list[str], list[str]]:
    """(URLs requested, failed requests as "url: error") from Chrome's performance log, browser-internal pages
    excluded (their requests are aborted when the report replaces the start page)."""
    by_id: dict[str, str] = {}
    urls, failed = [], []
    for entry in perf_log:
        msg = json.loads(entry["message"])["message"]
        p = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent" and not p["request"]["url"].startswith(INTERNAL):
            by_id[p["requestId"]] = p["request"]["url"]
            urls.append(p["request"]["url"])
        elif msg["method"] == "Network.loadingFailed" and p.get("requestId") in by_id:
            failed.append(f"{by_id[p['requestId']][:80]}: {p.get('errorText', '?')}")
    return urls, failed


def test_quickstart_report_renders_in_chromium(quickstart_run, chrome):
    out, _ = quickstart_run
    report = (out / "report.html").resolve()
    chrome.get(report.as_uri())
    assert chrome.execute_script("return document.readyState") == "complete"
    ids = chrome.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)")
    missing = [s for s in SECTIONS if s not in ids]
    assert not missing, f"sections missing from the report: {missing} (present: {ids})"
    broken = chrome.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
    assert not broken, f"images that did not decode: {broken}"
    assert chrome.execute_script("return document.querySelectorAll('#lineage svg rect').length") >= 5
    assert chrome.execute_script("return document.querySelectorAll('#gallery img').length") >= 4
    errors = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    urls, failed = _network(chrome.get_log("performance"))
    outside = [u for u in urls if not u.startswith(("file:", "data:"))]  # only the file itself and inline images
    assert not outside and not failed, f"network requests: {outside}, failures: {failed}"
    assert report.as_uri() in urls  # the log did record requests: the check above is not vacuous
    height = chrome.execute_script("return document.documentElement.scrollHeight")
    chrome.set_window_size(1200, min(int(height) + 100, 16000))
    shot = out / "report.png"
    assert chrome.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    keep = os.environ.get("EDGEVISION_SCREENSHOT")  # CI can keep the screenshot as an artifact
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep)
