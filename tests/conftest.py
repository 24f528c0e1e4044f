"""Shared test helpers.  The whole suite runs once per kernel implementation:
CI runs it with ENGINE_NO_EXTENSIONS unset (compiled) and set to 1 (pure)."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def pytest_report_header(config):
    from engine import kernels

    return f"topology-engine kernels: {kernels.IMPLEMENTATION} (ENGINE_NO_EXTENSIONS={os.environ.get('ENGINE_NO_EXTENSIONS', '')})"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
