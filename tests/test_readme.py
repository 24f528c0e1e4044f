"""Every example in the README runs, and shows what it really prints.

tests/readme_examples.py says which blocks are examples and what ``…``
stands for.  The demo log is made once per session by the README's own
``$ topology-engine demo --keep demo-log`` block; every other console
session and every pycon session then runs in a fresh directory holding a
copy of it, so each example starts from the log as the README says to make
it.  ``topology-engine`` and ``python`` in a session are the interpreter
running the tests (the installed package under test, compiled or pure), so
both test runs check the same text.

The README is found beside tests/ (a checkout, an unpacked sdist, or the
copies .ci/run makes outside the checkout).  Where it is not there this
test skips, saying so; ``REQUIRE_README=1`` (set by .ci/run) makes that a
failure instead.
"""

from __future__ import annotations

import doctest
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from readme_examples import Block, Command, blocks, shows

README = Path(__file__).resolve().parent.parent / "README.md"
DEMO_COMMAND = "topology-engine demo --keep demo-log"
CHECKED = {"console", "pycon"}


def readme() -> Path:
    """The README, or a skip (a failure under REQUIRE_README=1) saying it is not there."""
    if not README.is_file():
        message = f"no README.md beside tests/ (looked for {README}): its examples are checked where it is"
        if os.environ.get("REQUIRE_README") == "1":
            pytest.fail(f"REQUIRE_README=1 and {message}")
        pytest.skip(message)
    return README


def _examples() -> list:
    if not README.is_file():
        return [pytest.param(None, id="README.md-missing")]  # the test says why
    return [pytest.param(block, id=block.name) for block in blocks(README) if block.kind in CHECKED]


@pytest.fixture(scope="session")
def shims(tmp_path_factory) -> Path:
    """A directory whose ``topology-engine`` and ``python`` are this interpreter's."""
    directory = tmp_path_factory.mktemp("readme-bin")
    for name, run in [("topology-engine", f'"{sys.executable}" -m engine'), ("python", f'"{sys.executable}"')]:
        script = directory / name
        script.write_text(f'#!/bin/sh\nexec {run} "$@"\n')
        script.chmod(0o755)
    return directory


def run(command: str, cwd: Path, shims: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{shims}{os.pathsep}{os.environ['PATH']}", PYTHONUNBUFFERED="1")
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=300,
    )


class Demo(NamedTuple):
    block: Block
    command: Command
    directory: Path  # holds demo-log
    result: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def demo(tmp_path_factory, shims) -> Demo:
    """The README's demo command, run once."""
    found = [
        (block, command)
        for block in blocks(readme())
        if block.kind == "console"
        for command in block.commands()
        if command.text == DEMO_COMMAND
    ]
    assert len(found) == 1, f"the README shows `$ {DEMO_COMMAND}` once, in a console block ({len(found)} found)"
    block, command = found[0]
    assert len(block.commands()) == 1, f"{block.name}: the demo's block holds only the demo command"
    directory = tmp_path_factory.mktemp("readme-demo")
    return Demo(block, command, directory, run(command.text, directory, shims))


@pytest.fixture
def workdir(tmp_path, demo) -> Path:
    """A fresh directory holding a copy of the demo log."""
    shutil.copytree(demo.directory / "demo-log", tmp_path / "demo-log")
    return tmp_path


def check(command: Command, result: subprocess.CompletedProcess) -> None:
    where = f"README.md:{command.line}: $ {command.text}"
    assert command.matches(result.stdout), (
        f"{where}\nshown:\n" + "\n".join(command.expected) + f"\nprinted:\n{result.stdout}"
    )
    assert result.returncode == command.exit_code, (
        f"{where}\nexit {result.returncode}, shown as {command.exit_code}:\n{result.stdout}"
    )


@pytest.mark.parametrize("block", _examples())
def test_readme_example(block, demo, workdir, shims, monkeypatch):
    if block.kind == "console":
        if block.line == demo.block.line:
            check(demo.command, demo.result)
            return
        for command in block.commands():
            check(command, run(command.text, workdir, shims))
    else:
        monkeypatch.chdir(workdir)
        test = doctest.DocTestParser().get_doctest(block.body, {}, block.name, str(README), block.line)
        runner = doctest.DocTestRunner(checker=_PlaceholderChecker(), optionflags=doctest.REPORT_UDIFF)
        report: list[str] = []
        runner.run(test, out=report.append)
        assert runner.failures == 0, "".join(report)


class _PlaceholderChecker(doctest.OutputChecker):
    """Doctest output compared as console output is: ``…`` for what varies."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return shows(tuple(want.rstrip("\n").split("\n")) if want else (), got)


def test_every_shown_command_is_checked():
    """A `$ ` prompt or a Python session outside the checked blocks would drift unseen."""
    for block in blocks(readme()):
        if block.kind in CHECKED:
            continue
        assert block.info != "python", f"{block.name}: a python block is run as pycon or marked `python illustrative`"
        if block.info.startswith("python"):
            assert block.info == "python illustrative", f"{block.name}: unknown marker {block.info!r}"
            continue
        prompts = [line for line in block.body.split("\n") if line.startswith(("$ ", ">>> "))]
        assert not prompts, f"{block.name}: a ```{block.info} block shows {prompts[0]!r}: make it console or pycon"


def test_placeholders_stand_for_what_varies_and_no_more(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(
        "text\n\n```console\n$ make thing \\\n    --fast\nbuilt in … s\n…\ndone\n[exit 1]\n"
        "$ cat <<'EOF'\n$ inside\nEOF\n$ inside\n```\n",
        encoding="utf-8",
    )
    (block,) = blocks(page)
    first, heredoc, last = block.commands()
    assert (first.text, first.exit_code, first.line) == ("make thing \\\n    --fast", 1, 4)
    assert (heredoc.text, heredoc.expected, heredoc.exit_code) == ("cat <<'EOF'\n$ inside\nEOF", (), 0)
    assert (last.text, last.line) == ("inside", 13)  # a here-document's lines are its own
    assert first.matches("built in 0.25 s\ndone\n") and first.matches("built in 3 s  \na\nb\ndone\n\n")
    assert not first.matches("built in 0.25 s\n")  # the last line is not optional
    assert not first.matches("built in 1\ns\ndone\n")  # `…` in a line stays on that line
    assert not first.matches("built in 1 s\ndone\nmore\n")  # nothing after the shown end
    assert not first.matches("Built in 1 s\ndone\n")
