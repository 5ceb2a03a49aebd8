"""Importing checkpoint files by hand, recognising published ones, resolving names and paths."""

from __future__ import annotations

import shutil

import pytest
from conftest import GOLDEN
from fakeservers import closed_port_url, sha256_hex, tiny_entry
from safetensors import safe_open

from edvr_cli import load_model, save_model
from edvr_cli.errors import (
    DownloadError,
    EDVRCheckpointError,
    EDVRError,
    ModelNotFoundError,
)
from edvr_cli.zoo import (
    Registry,
    cache,
    import_model,
    model_path,
    remove_model,
    resolve_model,
)
from edvr_cli.zoo import registry as registry_mod
from edvr_cli.zoo.models import download_model, inspect_file
from edvr_cli.zoo.registry import ModelEntry, default_registry

GOLDEN_FILES = sorted(p.name for p in GOLDEN.glob("*.pth"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Nothing here needs the network: make sure nothing tries."""
    monkeypatch.setenv("EDVR_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())


@pytest.mark.parametrize("file_name", GOLDEN_FILES)
def test_import_every_golden_checkpoint(file_name):
    src = GOLDEN / file_name
    result = import_model(src, name=f"my-{src.stem}")
    assert result.entry is None and not result.already
    cached = result.cached
    assert cached.path == cache.model_file(f"my-{src.stem}")
    assert cached.source_file == file_name and cached.source_sha256 == sha256_hex(src.read_bytes())
    reference, model = load_model(src), load_model(cached.path)
    assert model.config == reference.config
    canonical = model.state_dict()
    for key, tensor in reference.state_dict().items():
        assert (canonical[key] == tensor).all(), key
    with safe_open(str(cached.path), "pt") as f:
        meta = f.metadata()
    assert meta["edvr_source_file"] == file_name and meta["edvr_naming"] == cached.record["naming"]
    resolved = resolve_model(f"my-{src.stem}")
    assert resolved.origin == "cache" and resolved.path == cached.path and resolved.entry is None


def test_import_a_safetensors_file(tmp_path):
    exported = save_model(load_model(GOLDEN / "original_deblur_hrin.pth"), tmp_path / "mine.safetensors")
    result = import_model(exported, name="mine")
    assert load_model(result.cached.path).config.hr_in
    assert result.cached.source_sha256 == sha256_hex(exported.read_bytes())


def test_a_published_file_is_filed_under_its_registry_name(tmp_path):
    entry = tiny_entry([{"kind": "url", "url": closed_port_url() + "/never.pth"}])
    reg = Registry([entry])
    copy = tmp_path / "downloaded-somewhere.pth"
    shutil.copy(GOLDEN / "basicsr_sr_tsa.pth", copy)
    result = import_model(copy, registry=reg)
    assert result.entry is entry and result.cached.name == entry.name
    resolved = resolve_model(entry.name, registry=reg)  # no network needed any more
    assert resolved.origin == "cache" and resolved.entry is entry and resolved.padding == "reflection_circle"
    assert import_model(copy, registry=reg).already
    assert import_model(copy, name="ignored", registry=reg).cached.name == entry.name


def test_stage2_files_are_recognised_by_name_when_no_hash_is_published(tmp_path):
    entry = ModelEntry.from_dict(
        {
            "name": "Tiny_Stage2",
            "task": "stage2-sr",
            "scale": 1,
            "frames": 5,
            "config": {"num_feat": 16, "num_reconstruct_block": 2, "hr_in": True, "with_predeblur": False},
            "file": "Tiny_Stage2.pth",
            "naming": "original",
        }
    )
    copy = tmp_path / "Tiny_Stage2.pth"
    shutil.copy(GOLDEN / "original_stage2_hrin.pth", copy)
    result = import_model(copy, registry=Registry([entry]))
    assert result.entry is entry and result.cached.name == "Tiny_Stage2"
    assert resolve_model("Tiny_Stage2", registry=Registry([entry])).entry is entry
    # the real EDVR_REDS_SR_Stage2 has 128 features: a same-named small file is not it
    fake = tmp_path / "EDVR_REDS_SR_Stage2.pth"
    shutil.copy(GOLDEN / "original_stage2_hrin.pth", fake)
    with pytest.raises(ModelNotFoundError, match="--name"):
        import_model(fake)


def test_import_only_models_say_how_to_import():
    with pytest.raises(ModelNotFoundError, match="edvr weights import EDVR_REDS_SR_Stage2.pth"):
        resolve_model("EDVR_REDS_SR_Stage2")


def test_import_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a published checkpoint.*--name"):
        import_model(GOLDEN / "basicsr_sr_tsa.pth")
    with pytest.raises(EDVRError, match="published model EDVR_L_x4_SR_REDS"):
        import_model(GOLDEN / "basicsr_sr_tsa.pth", name="edvr_l_x4_sr_reds")
    with pytest.raises(EDVRError, match="bad model name"):
        import_model(GOLDEN / "basicsr_sr_tsa.pth", name="../evil")
    with pytest.raises(ModelNotFoundError, match="no such checkpoint file"):
        import_model(tmp_path / "missing.pth", name="x")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint" * 100)
    with pytest.raises(EDVRCheckpointError):
        import_model(junk, name="junk")
    assert cache.list_models() == []
    import_model(GOLDEN / "basicsr_sr_tsa.pth", name="mine")
    with pytest.raises(EDVRError, match="--force"):
        import_model(GOLDEN / "basicsr_sr_notsa.pth", name="mine")
    replaced = import_model(GOLDEN / "basicsr_sr_notsa.pth", name="mine", force=True)
    assert not load_model(replaced.cached.path).config.with_tsa


def test_resolve_paths_and_unknown_names(tmp_path):
    src = GOLDEN / "basicsr_sr_tsa.pth"
    resolved = resolve_model(str(src))
    assert resolved.path == src and resolved.origin == "file" and resolved.entry is None
    with pytest.raises(ModelNotFoundError, match="Did you mean EDVR_L_x4_SR_REDS"):
        resolve_model("EDVR_L_x4_SR_RED")
    with pytest.raises(ModelNotFoundError, match="no such checkpoint file"):
        resolve_model(str(tmp_path / "nothing.pth"))
    with pytest.raises(ModelNotFoundError, match="folder"):
        resolve_model(str(tmp_path) + "/")
    import_model(src, name="Mine")
    assert resolve_model("mine").name == "Mine"


def test_path_and_remove():
    with pytest.raises(ModelNotFoundError, match="edvr weights download EDVR_M_x4_SR_REDS"):
        model_path("EDVR_M_x4_SR_REDS")
    import_model(GOLDEN / "basicsr_sr_tsa.pth", name="mine")
    assert model_path("mine") == cache.model_file("mine")
    removed = remove_model("mine")
    assert sorted(p.name for p in removed) == ["mine.json", "mine.safetensors"]
    with pytest.raises(ModelNotFoundError):
        remove_model("mine")
    with pytest.raises(ModelNotFoundError, match="not in the cache"):
        remove_model("EDVR_M_x4_SR_REDS")


def test_inspect_file_recognises_nothing_published_in_fixtures():
    info = inspect_file(GOLDEN / "mmagic_sr_tsa.pth")
    assert info.naming == "mmagic" and info.entry is None and info.config["num_feat"] == 16
    assert info.sha256 == sha256_hex((GOLDEN / "mmagic_sr_tsa.pth").read_bytes())


def test_a_bundled_model_needs_no_download(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_mod, "weights_dir", lambda: tmp_path)
    save_model(load_model(GOLDEN / "basicsr_sr_tsa.pth"), tmp_path / "edvr-tiny.safetensors")
    entry = ModelEntry.from_dict(
        {"name": "edvr-tiny", "task": "sr", "scale": 4, "frames": 5, "bundled": "edvr-tiny.safetensors"}
    )
    reg = default_registry().replace(entry)
    resolved = resolve_model("edvr-tiny", registry=reg)
    assert resolved.origin == "bundled" and resolved.path == tmp_path / "edvr-tiny.safetensors"
    assert model_path("edvr-tiny", registry=reg) == resolved.path
    with pytest.raises(DownloadError, match="ships with edvr-cli"):
        download_model("edvr-tiny", registry=reg)
    with pytest.raises(EDVRError, match="cannot be removed"):
        remove_model("edvr-tiny", registry=reg)
    assert cache.list_models() == []


def test_an_imported_model_without_its_record_is_refused(tmp_path, capfd):
    """Deleting the sidecar (the recorded SHA-256) must not turn the check off: a changed file would then
    load silently. Without its record the cached file is refused in one line."""
    from edvr_cli.cli import main
    from edvr_cli.errors import CachedModelChangedError
    from edvr_cli.zoo import cache, resolve_model

    result = import_model(GOLDEN / "basicsr_sr_tsa.pth", name="mine")
    path = result.cached.path
    cache.sidecar_file("mine").unlink()
    with path.open("r+b") as f:  # and the weights are changed behind edvr's back
        f.seek(path.stat().st_size - 16)
        f.write(b"\x00" * 16)
    with pytest.raises(CachedModelChangedError, match="cannot be checked"):
        resolve_model("mine")
    src = tmp_path / "in.mp4"
    from clips import make_clip

    make_clip(src, width=32, height=24, frames=2)
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), "--model", "mine", "-q"])
    err = [line for line in capfd.readouterr().err.splitlines() if line]
    assert rc != 0 and len(err) == 1 and "cannot be checked" in err[0]
    assert not (tmp_path / "o.mp4").exists()


def test_a_file_size_limit_during_import_is_one_line(tmp_path, monkeypatch):
    """``ulimit -f`` (EFBIG, reported by safetensors as its own error) and a full disk read the same."""
    import os
    import resource
    import subprocess
    import sys

    monkeypatch.setenv("EDVR_HOME", str(tmp_path / "home"))

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, 100 * 1024))

    done = subprocess.run([sys.executable, "-m", "edvr_cli", "weights", "import", str(GOLDEN / "basicsr_sr_tsa.pth"),
                           "--name", "big"], capture_output=True, text=True, timeout=120, preexec_fn=small_files,
                          env=os.environ.copy())
    lines = [line for line in done.stderr.splitlines() if line]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("edvr: error:") and "no space left" in lines[0] and "File too large" in lines[0]
    assert not list((tmp_path / "home" / "models").glob("*.safetensors"))
