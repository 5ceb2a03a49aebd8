"""``edvr weights``: the click group on its own (the main CLI adds it with ``main.add_command``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import GOLDEN
from edvr_cli.cli.weights import weights
from edvr_cli.errors import DownloadError, EDVRError, ModelNotFoundError, OfflineError
from edvr_cli.zoo import cache
from edvr_cli.zoo import registry as registry_mod
from edvr_cli.zoo.registry import Registry, default_registry
from fakeservers import local_only  # noqa: F401 (autouse: no test leaves this machine)
from fakeservers import (
    FakeServer,
    fixture_bytes,
    tiny_entry,
)


def run(*args: str, width: int = 80):
    return CliRunner().invoke(weights, list(args), env={"COLUMNS": str(width)})


def one_line_error(result, cls):
    assert result.exit_code != 0
    assert isinstance(result.exception, cls), result.exception
    assert "\n" not in str(result.exception)
    return str(result.exception)


@pytest.mark.parametrize("width", [80, 140])
def test_list_fits_the_terminal(width):
    cache_dir = cache.models_dir()
    assert run("import", str(GOLDEN / "basicsr_sr_tsa.pth"), "--name", "mine").exit_code == 0
    result = run("list", width=width)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert max(len(line) for line in lines if not line.startswith("cache:")) <= width
    for entry in default_registry():
        assert any(line.startswith(entry.name + " ") for line in lines), entry.name
    row = next(line for line in lines if line.startswith("EDVR_L_x4_SR_REDS "))
    assert "20.6M" in row and "REDS4 31.09" in row and row.rstrip().endswith("no")
    stage2 = next(line for line in lines if line.startswith("EDVR_REDS_SR_Stage2 "))
    assert stage2.rstrip().endswith("import")
    mine = next(line for line in lines if line.startswith("mine "))
    assert "imported" in mine and mine.rstrip().endswith("yes")
    assert str(cache_dir) in result.output.replace("\n", "")


def test_download_import_info_path_remove(monkeypatch):
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data)
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        monkeypatch.setattr(registry_mod, "_default", Registry([*default_registry(), entry]))
        result = run("download", entry.name, "--quiet")
        assert result.exit_code == 0, result.output
        assert f"downloaded from {server.url}/m.pth" in result.output
        assert "already cached" in run("download", entry.name).output
    path = run("path", entry.name)
    assert path.exit_code == 0 and path.output.strip() == str(cache.model_file(entry.name))
    info = run("info", entry.name).output
    assert f"sha256:        {entry.sha256}" in info and "came from:     http://127.0.0.1" in info
    assert "num_feat=16" in info and "padding:       reflection_circle" in info
    file_info = run("info", str(GOLDEN / "basicsr_sr_tsa.pth")).output
    assert f"published as: {entry.name}" in file_info and "naming:       basicsr" in file_info
    assert run("remove", entry.name).exit_code == 0
    assert not cache.model_file(entry.name).exists()
    imported = run("import", str(GOLDEN / "basicsr_sr_tsa.pth"))
    assert imported.exit_code == 0 and f"as the published {entry.name}" in imported.output


def test_info_of_a_registry_model_and_of_an_imported_one():
    out = run("info", "EDVR_L_x4_SR_Vimeo90K").output
    assert "frames:    7" in out and "Vid4 Y PSNR/SSIM 27.35/0.8264" in out
    assert "sources:   Google Drive file 1aVR3lkX6ItCphNLcT7F5bbbC484h4Qqy\n" in out  # upstream only, no mirror
    assert "cached:    no" in out
    assert "none (import only)" in run("info", "EDVR_REDS_deblur_Stage2").output
    run("import", str(GOLDEN / "original_stage2_hrin.pth"), "--name", "s2")
    out = run("info", "s2").output
    assert "hr_in" in out and "source file:   original_stage2_hrin.pth" in out


def test_bad_input_is_one_clear_error():
    assert "did you mean" in one_line_error(run("info", "EDVR_L_x4_SR_RED"), ModelNotFoundError).lower()
    assert "edvr weights download" in one_line_error(run("path", "EDVR_M_x4_SR_REDS"), ModelNotFoundError)
    assert "--name" in one_line_error(run("import", str(GOLDEN / "basicsr_sr_tsa.pth")), ModelNotFoundError)
    one_line_error(run("remove", "nothing-here"), ModelNotFoundError)
    one_line_error(run("download", "EDVR_REDS_SR_Stage2"), ModelNotFoundError)
    one_line_error(run("import", str(GOLDEN / "cases.json"), "--name", "x"), EDVRError)
    usage = run("download")
    assert usage.exit_code == 2 and "--all" in usage.output


def test_download_all_offline_stops_at_once(monkeypatch):
    monkeypatch.setenv("EDVR_OFFLINE", "1")
    message = one_line_error(run("download", "--all"), OfflineError)
    assert "edvr weights import FILE" in message
    assert cache.list_models() == []


def test_download_several_reports_every_failure(monkeypatch):
    with FakeServer() as server:
        server.status("/gone.pth", 404)
        server.file("/m.pth", fixture_bytes())
        good = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}], name="Good")
        bad = tiny_entry([{"kind": "url", "url": server.url + "/gone.pth"}], name="Bad")
        monkeypatch.setattr(registry_mod, "_default", Registry([good, bad]))
        result = run("download", "--all", "-q")
    assert "1 of 2 downloads failed: Bad" in one_line_error(result, DownloadError)
    assert cache.get("Good") is not None and cache.get("Bad") is None
