"""The report: what it computes on a churned cluster, the page it writes, and
the command line.  The page in a real browser: test_report_browser.py."""

import html.parser
import json

import pytest
from test_cli import run

from benchmarks.generate import generate
from engine.api import Engine
from engine.cli import main
from engine.report import build_report, render_html, write_report
from engine.timeline import timelines
from engine.whatif import client_sites, evaluate


@pytest.fixture(scope="module")
def churned(tmp_path_factory):
    """The benchmark generator's tiny cluster: 40 services, rollouts, scaling, drains, hint toggles."""
    return generate(tmp_path_factory.mktemp("tiny"), "tiny", seed=3).log


@pytest.fixture(scope="module")
def report(churned):
    return build_report(churned, top=5)


def test_the_summary_adds_up(churned, report):
    summary = report.summary
    with Engine.open(churned) as engine:
        _, sites = client_sites(engine, None)
        ranked = sorted(k for k, s in engine.state.services.items() if s.ports)
        assert [r.service for r in sorted(summary.ranking, key=lambda r: r.service)] == ranked
        for rank in summary.ranking[:8]:
            again = evaluate(engine, rank.service, rank.port, sites, "linkerd")
            assert rank.cross_zone_share == again.cross_zone_share and rank.endpoints == len(again.endpoints)
        assert summary.services == len(engine.state.service_keys())
        assert summary.endpoints == engine.state.endpoint_count()
    contributions = [r.contribution for r in summary.ranking]
    assert contributions == sorted(contributions, reverse=True)
    assert sum(contributions) == pytest.approx(summary.cross_zone["recorded"])
    total = sum(r.endpoints for r in summary.ranking)
    assert summary.cross_zone["recorded"] == pytest.approx(
        sum(r.endpoints * r.cross_zone_share for r in summary.ranking) / total
    )
    assert sum(summary.rule_shares.values()) == pytest.approx(1.0)
    assert sum(z.cpu_share for z in summary.zones) == pytest.approx(1.0)
    # This cluster hints most services: removing every hint can only send more across zones.
    assert summary.cross_zone["none"] > summary.cross_zone["recorded"]


def test_sections_are_the_top_services_with_whatif_and_their_timelines(churned, report):
    top = [(r.service, r.port) for r in report.summary.ranking[:5]]
    assert [(s.service, s.port) for s in report.sections] == top
    points = timelines(churned, top, per_batch=True)
    for section in report.sections:
        assert (
            section.recorded.cross_zone_share
            == report.summary.ranking[top.index((section.service, section.port))].cross_zone_share
        )
        assert [s.name for s in section.whatif.scenarios][:3] == ["recorded", "none", "auto"]
        assert list(section.points) == points[(section.service, section.port)]
        assert section.hints.service == section.service


class Page(html.parser.HTMLParser):
    """What a test wants to know of a page: its charts, scripts and outside references."""

    def __init__(self):
        super().__init__()
        self.charts, self.specs, self.external, self.cross_zone = [], set(), [], {}
        self._cross = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-chart" in attrs:
            self.charts.append(attrs["data-chart"])
        if tag == "script" and attrs.get("type") == "application/json":
            self.specs.add(attrs["id"].removeprefix("spec-"))
        for name in ("src", "href"):
            if name in attrs and not attrs[name].startswith("#"):
                self.external.append((tag, attrs[name]))
        self._cross = attrs.get("data-cross-zone")

    def handle_data(self, data):
        if self._cross is not None:
            self.cross_zone[self._cross] = data
            self._cross = None


def test_the_page_is_self_contained_and_every_chart_has_its_spec(report, tmp_path):
    path = write_report(report, tmp_path / "report.html")
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert page.external == []
    assert len(page.charts) == len(set(page.charts)) == 3 + 2 * len(report.sections)
    assert set(page.charts) == page.specs
    for section in report.sections:
        name = f"{section.service}:{section.port}"
        assert page.cross_zone[name] == f"{100 * section.recorded.cross_zone_share:.1f}%"


def test_named_services_at_an_earlier_event(churned):
    early = build_report(churned, services=[("team-000/svc-00003", 80)], at=200)
    assert early.seq == 200 and [s.service for s in early.sections] == ["team-000/svc-00003"]
    assert all(p.row.seq <= 200 for p in early.sections[0].points)
    assert "team-000/svc-00003:80" in render_html(early)


def test_command_writes_the_page_and_says_where(churned, tmp_path, capsys):
    out_path = tmp_path / "page.html"
    code, out, err = run(capsys, "report", churned, "-o", out_path, "--top", "2", "--policy", "kube-proxy")
    assert code == 0 and out.startswith(f"report written to {out_path}: 2 services, as of event ")
    assert out_path.read_text(encoding="utf-8").count("data-section=") == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--service", "team-000/nope:80"], "service team-000/nope not found"),
        (["--service", "team-000/svc-00003:81"], "service team-000/svc-00003 has no port 81"),
        (["--at", "999999"], "past the end of the log"),
        (["--clients", "service:team-000/nobody"], "--clients: no service team-000/nobody"),
    ],
)
def test_bad_requests_are_one_line_errors(churned, tmp_path, capsys, args, message):
    code, out, err = run(capsys, "report", churned, "-o", tmp_path / "x.html", *args)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


def test_usage_errors_and_an_unwritable_page(churned, tmp_path, capsys):
    for args in (["--top", "0"], ["--service", "no-port"], ["--policy", "nginx"]):
        with pytest.raises(SystemExit) as info:
            main(["report", str(churned), *args])
        assert info.value.code == 2
    capsys.readouterr()
    code, out, err = run(capsys, "report", churned, "-o", tmp_path / "no-such-dir" / "r.html")
    assert code == 1 and err.endswith(f"r.html: cannot write the report: no directory {tmp_path / 'no-such-dir'}\n")
    code, out, err = run(capsys, "report", churned, "-o", tmp_path)
    assert code == 1 and err == f"topology-engine: {tmp_path}: cannot write the report: is a directory\n"


def test_the_report_command_knows_the_service_a_whatif_json_names(churned, capsys):
    code, out, _ = run(capsys, "whatif", churned, "team-000/svc-00003:80", "--json", "--scenario", "recorded")
    answer = json.loads(out)
    early = build_report(churned, services=[("team-000/svc-00003", 80)])
    assert (
        f"{100 * answer['scenarios'][0]['cross_zone_share']:.1f}"
        == f"{100 * early.sections[0].recorded.cross_zone_share:.1f}"
    )


def test_the_demo_ends_with_the_command_that_writes_its_report(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo")
    command = out.strip().splitlines()[-1].strip()
    assert code == 0 and command == (
        "topology-engine demo --keep demo-log && topology-engine report demo-log -o demo-report.html"
    )
    for step in command.split(" && "):
        assert main(step.split()[1:]) == 0
    page = (tmp_path / "demo-report.html").read_text(encoding="utf-8")
    assert page.count("data-section=") == 5
