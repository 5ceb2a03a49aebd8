"""Shared test fixtures: paths to the project's conformance fixtures (in ``tests/fixtures/``).

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so test modules in the sub-folders
import ``from conftest import GOLDEN`` and the helpers ``clips``, ``fakeservers`` and ``reference``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
GOLDEN = FIXTURES / "golden"


def golden_cases() -> list[dict]:
    return json.loads((GOLDEN / "cases.json").read_text())


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own model cache, and never reaches a real hub."""
    home = tmp_path_factory.mktemp("edvr_home")
    monkeypatch.setenv("EDVR_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))


@pytest.fixture
def backend():
    """``set_dcn_backend``, with the previous choice restored after the test."""
    from edvr_cli.model.arch import dcn as dcn_module
    from edvr_cli.model.arch import set_dcn_backend

    previous = dcn_module._backend
    yield set_dcn_backend
    dcn_module._backend = previous


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a busy machine several threads spin against each other (10-50x slower)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
