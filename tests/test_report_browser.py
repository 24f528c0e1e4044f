"""The report in a real browser: headless Chromium renders the page of a
churned cluster with every host name unresolvable, and the test reads the
rendered DOM and a screenshot.

It needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run``
installs it); without one the tests are skipped, saying why, unless
``REQUIRE_BROWSER`` is set (CI sets it), when they fail.  With
``REPORT_SCREENSHOT=PATH`` the demo's screenshot is also written to PATH
(that is how ``docs/report.png`` is made).
"""

import html.parser
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import run
from test_report import churned  # noqa: F401 (a fixture)

from engine.cli import main
from engine.demo import run_demo

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1360, 3000)


@pytest.fixture(scope="module")
def browser() -> str:
    found = os.environ.get("CHROMIUM") or next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        reason = (
            "no Chromium found (looked for " + ", ".join(BROWSERS) + " and $CHROMIUM): install Debian's "
            "chromium (apt-get install chromium) to render the report in a browser"
        )
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(reason + "; REQUIRE_BROWSER is set")
        pytest.skip(reason)
    return found


def chromium(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Load ``page`` with every host name unresolvable, let its scripts run, then do ``args``."""
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=30000",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class Rendered(html.parser.HTMLParser):
    """The chart elements of a rendered page, whether each holds an <svg>, and the numbers shown."""

    def __init__(self):
        super().__init__()
        self.charts: dict[str, bool] = {}
        self.errors: dict[str, str] = {}
        self.cross_zone: dict[str, str] = {}
        self.ranking: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []  # (tag, chart name or "")
        self._text_for = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("data-chart", "")
        if name:
            self.charts[name] = False
            if "data-chart-error" in attrs:
                self.errors[name] = attrs["data-chart-error"]
        if tag == "svg":
            inside = next((chart for _, chart in reversed(self._open) if chart), None)
            if inside is not None:
                self.charts[inside] = True
        if tag == "tr" and "data-service" in attrs:
            self._row = attrs["data-service"]
        if "data-cross-zone" in attrs:
            self._text_for = ("section", attrs["data-cross-zone"])
        elif attrs.get("data-field") == "cross-zone" and self._row:
            self._text_for = ("ranking", self._row)
        if tag not in ("br", "img", "input", "meta", "link", "hr"):
            self._open.append((tag, name))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_data(self, data):
        if self._text_for is not None:
            kind, key = self._text_for
            (self.cross_zone if kind == "section" else self.ranking)[key] = data
            self._text_for = None


def whatif_recorded(capsys, log, target: str) -> str:
    capsys.readouterr()  # what came before is not this answer
    code, out, _ = run(capsys, "whatif", log, target, "--json", "--scenario", "recorded")
    assert code == 0
    return f"{100 * json.loads(out)['scenarios'][0]['cross_zone_share']:.1f}%"


def render_and_check(browser, capsys, log: Path, page: Path, tmp_path: Path) -> tuple[Rendered, Path]:
    dom = chromium(browser, page, tmp_path / "profile-dom", "--dump-dom").stdout
    rendered = Rendered()
    rendered.feed(dom)
    assert rendered.charts, "no chart element in the page"
    assert rendered.errors == {}
    assert [name for name, drawn in rendered.charts.items() if not drawn] == []
    assert rendered.cross_zone, "no service section"
    for target, shown in rendered.cross_zone.items():
        assert shown == whatif_recorded(capsys, log, target), target
        if target in rendered.ranking:
            assert rendered.ranking[target] == shown, target
    screenshot = tmp_path / "report.png"
    chromium(browser, page, tmp_path / "profile-png", f"--screenshot={screenshot}")
    assert_not_blank(screenshot)
    return rendered, screenshot


def assert_not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB").resize((WINDOW[0] // 4, WINDOW[1] // 4))
        colours = pixels.getcolors(maxcolors=1 << 16) or []
        inked = sum(count for count, rgb in colours if sum(rgb) < 600)
    assert len(colours) > 50, f"{png}: {len(colours)} colours"
    assert inked > 0.02 * pixels.width * pixels.height, f"{png}: almost nothing drawn"


def test_the_demo_report_renders_with_the_numbers_whatif_gives(browser, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the page names its log as given: demo-log, as the demo prints it
    log = Path("demo-log")
    with open(os.devnull, "w") as quiet:
        run_demo(quiet, keep=str(log))
    page = tmp_path / "demo-report.html"
    assert (
        main(
            [
                "report",
                str(log),
                "-o",
                str(page),
                "--service",
                "shop/web:80",
                "--service",
                "shop/checkout:80",
                "--service",
                "shop/node-cache:11211",
            ]
        )
        == 0
    )
    rendered, screenshot = render_and_check(browser, capsys, log, page, tmp_path)
    assert set(rendered.cross_zone) == {"shop/web:80", "shop/checkout:80", "shop/node-cache:11211"}
    assert len(rendered.charts) == 3 + 2 * 3
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["REPORT_SCREENSHOT"])


def test_the_report_of_a_churned_cluster_renders_every_chart(browser, capsys, churned, tmp_path):  # noqa: F811
    page = tmp_path / "report.html"
    assert main(["report", str(churned), "-o", str(page), "--top", "8"]) == 0
    rendered, _ = render_and_check(browser, capsys, churned, page, tmp_path)
    assert len(rendered.cross_zone) == 8 and len(rendered.charts) == 3 + 2 * 8
