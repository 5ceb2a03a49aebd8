"""Environment switches, read at call time in ``edvr_cli.env``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edvr_cli import env as constants


def test_edvr_home(monkeypatch, tmp_path):
    monkeypatch.setenv("EDVR_HOME", str(tmp_path / "h"))
    assert constants.edvr_home() == tmp_path / "h"
    monkeypatch.delenv("EDVR_HOME")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert constants.edvr_home() == tmp_path / "xdg" / "edvr"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert constants.edvr_home() == Path.home() / ".cache" / "edvr"


@pytest.mark.parametrize(
    "edvr, hf, expected",
    [(None, None, False), ("1", None, True), (None, "1", True), ("0", "1", False), ("true", "0", True)],
)
def test_offline_switches(monkeypatch, edvr, hf, expected):
    for name, value in (("EDVR_OFFLINE", edvr), ("HF_HUB_OFFLINE", hf)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert constants.is_offline() is expected
    assert constants.hf_hub_offline() is (hf == "1")


def test_endpoints_and_repo(monkeypatch):
    monkeypatch.delenv("EDVR_HF_REPO", raising=False)
    assert constants.hf_repo() is None  # no default mirror: none exists
    assert not hasattr(constants, "DEFAULT_HF_REPO")
    monkeypatch.setenv("EDVR_HF_REPO", "me/edvr")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1/")
    monkeypatch.setenv("EDVR_DOWNLOAD_TIMEOUT", "2.5")
    assert (constants.hf_repo(), constants.hf_endpoint(), constants.download_timeout()) == (
        "me/edvr",
        "http://127.0.0.1:1",
        2.5,
    )
    monkeypatch.setenv("HF_HUB_CACHE", "/x/hub")
    assert constants.hf_hub_cache() == "/x/hub"
