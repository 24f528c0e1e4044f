"""Shared test helpers.  CI runs the suite on the compiled kernels and on
the pure-Python twin, against the source tree and against installed wheels.
Where the compiled core is there (not a pure install, ENGINE_NO_EXTENSIONS
unset) the core tests (index, policies, subscriptions, snapshots) also run
over both implementations of the core, through the ``implementation``
fixture; otherwise only the pure one is there to run."""

import os
from pathlib import Path

import pytest

from engine import kernels

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _implementations() -> list[str]:
    if os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
        return ["pure"]
    try:
        kernels.for_implementation("compiled")
    except ImportError:
        return ["pure"]  # a pure install, or test_kernels says the compiled core should have loaded
    return ["compiled", "pure"]


IMPLEMENTATIONS = _implementations()


def pytest_report_header(config):
    import engine

    return (
        f"topology-engine {engine.__version__} from {Path(engine.__file__).parent}; core: "
        f"{kernels.IMPLEMENTATION} (ENGINE_NO_EXTENSIONS={os.environ.get('ENGINE_NO_EXTENSIONS', '')}); "
        f"core tests over: {', '.join(IMPLEMENTATIONS)}"
    )


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def implementation(request) -> str:
    """The core implementation an engine under test runs on."""
    return request.param


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def not_logs(tmp_path) -> dict[str, tuple[Path, str]]:
    """Paths that are not logs, each with what refusing it says."""
    regular = tmp_path / "regular"
    regular.write_text("hello")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    empty = tmp_path / "empty"
    empty.mkdir()
    return {
        "missing": (tmp_path / "missing", "missing: no such log directory"),
        "regular file": (regular, "regular is not a log directory"),
        "directory": (busy, "not a log: "),
        "empty directory": (empty, "not a log: "),
    }
