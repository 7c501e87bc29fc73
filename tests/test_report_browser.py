"""Open the HTML report in headless Chromium (Debian's `chromium`): it renders, offline, without
console errors, with its sections and numbers in the DOM, and yields a screenshot.

Skipped only when chromium is not installed and we are not in CI; in CI (CI=true) a missing
chromium fails the test (`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from custsat.serving.report import write_scoring_report
from test_serving_outputs import make_scored
from test_serving_report import make_feedback, metadata

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed in CI: add `apt-get install -y chromium` to the CI setup")
    pytest.skip("chromium is not installed (apt-get install -y chromium); not in CI, so skipping")


def _run(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [*args[:1], *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args[1:]],
        capture_output=True, text=True, timeout=120,
    )


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]


def test_console_check_detects_errors(tmp_path):
    """Negative control: the console scan does see a page's errors."""
    chromium = _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); missingFn();</script></body></html>")
    result = _run([chromium, "--enable-logging=stderr", "--v=0", "--dump-dom", bad.as_uri()], tmp_path)
    lines = _console_lines(result.stderr)
    assert any("boom" in line for line in lines) and any("ReferenceError" in line for line in lines)


def test_report_renders_in_chromium(tmp_path):
    chromium = _chromium()
    scored = make_scored(200)
    feedback = make_feedback(scored)
    report = write_scoring_report(tmp_path / "report.html", scored, feedback=feedback, metadata=metadata())
    url = report.resolve().as_uri()

    dom = _run([chromium, "--enable-logging=stderr", "--v=0", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The report has no scripts, so any console message at all is a defect.
    assert not _console_lines(dom.stderr), f"console messages: {_console_lines(dom.stderr)}"
    assert "net::ERR" not in dom.stderr, "the report tried to load something from the network"
    html = dom.stdout
    for section in ("key-figures", "tiers", "churn-by-segment", "clv", "topics", "nps-csat", "actions"):
        assert f'id="{section}"' in html, f"section {section} missing from the rendered DOM"
    value_at_risk = float((scored["clv"] * scored["churn_probability"]).sum())
    assert f"{value_at_risk:,.0f}" in html
    assert html.count("<svg") >= 5, "charts are inline SVG"
    assert "score-0123456789abcdef" in html

    shot = tmp_path / "report.png"
    result = _run([chromium, f"--screenshot={shot}", "--window-size=1280,2000", url], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000, "a blank page compresses to a few kB"
