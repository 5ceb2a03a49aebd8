"""One door for model names: a name that maps to a cache path is checked before any file is touched.

``edvr weights remove /any/dir/report`` once deleted ``report.safetensors`` and ``report.json`` in
``/any/dir`` (and ``../x`` escaped the cache): every command and API entry taking a model name now
refuses a path, ``..``, a leading dot or another character in one line, with nothing deleted, created
or read outside the cache. A checkpoint FILE path (``info ./model.pth``, ``--model ./x.pth``) still works.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import GOLDEN
from edvr_cli.cli import main
from edvr_cli.errors import EDVRError, ModelCacheError, ModelNameError, ModelNotFoundError
from edvr_cli.zoo import cache, download_model, import_model, model_path, remove_model, resolve_model
from edvr_cli.zoo.names import check_model_name
from edvr_cli.zoo.registry import Registry
from fakeservers import local_only  # noqa: F401 (autouse: no test leaves this machine)
from fakeservers import closed_port_url, tiny_entry

SR = GOLDEN / "basicsr_sr_tsa.pth"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edvr: error: "), err
    assert "Traceback" not in err and "Error:" not in lines[0], err  # ours, not a bug's class name
    return lines[0]


def bait(folder: Path, stem: str) -> Path:
    """A model-looking pair ``<stem>.safetensors`` / ``<stem>.json`` in ``folder`` (outside the cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.safetensors").write_bytes(SR.read_bytes())
    (folder / f"{stem}.json").write_text('{"source": "not edvr\'s"}\n')
    return folder / stem


def home() -> Path:
    return cache.models_dir().parent


@pytest.fixture
def baits(tmp_path) -> dict[str, tuple[str, Path]]:
    """Model names that point outside the cache, each with the files it would reach, and what to watch."""
    cache.ensure_models_dir()
    elsewhere = bait(tmp_path / "any" / "dir", "report")
    bait(home(), "x")  # $EDVR_HOME/x.*: one level above the cache
    bait(cache.models_dir() / "sub", "x")  # in a folder of the cache, not a cache entry
    return {
        "absolute": (str(elsewhere), tmp_path),
        "dotdot": ("../x", home()),
        "slash": ("sub/x", home()),
    }


# -- the one function ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["EDVR_L_x4_SR_REDS", "mine", "a.b", "v1+2", "x-y_z", "A" * 100, "m.pth"])
def test_good_names_pass(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "../x", "..", "a/b", "/abs/x", "a\\b", ".hidden", "-x", "a..b", "a b", "a\nb", "mine\n", "~x",
     "A" * 101, "é", None],
)
def test_bad_names_are_one_line(name):
    with pytest.raises(ModelNameError) as info:
        check_model_name(name)
    message = str(info.value)
    assert "\n" not in message and "model name" in message
    assert isinstance(info.value, ModelNotFoundError) and isinstance(info.value, EDVRError)


def test_every_cache_path_made_from_a_name_is_checked():
    for make in (cache.model_file, cache.sidecar_file, cache.lock_file):
        with pytest.raises(ModelNameError):
            make("../x")
    assert cache.model_file("ok").parent == cache.models_dir()


# -- the CLI: remove, info, path, download, import ----------------------------------------------------


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "slash"])
@pytest.mark.parametrize("command", ["remove", "info", "path", "download"])
def test_a_path_as_a_model_name_is_refused_and_nothing_is_touched(baits, command, kind, capfd):
    name, watched = baits[kind]
    before = snapshot(watched)
    rc = main(["weights", command, name])
    line = one_error_line(capfd.readouterr().err)
    # info also takes a checkpoint file: a path-looking name that is no file says so
    said = ("model name", "no such checkpoint file") if command == "info" else ("model name",)
    assert rc != 0 and any(s in line for s in said), line
    assert snapshot(watched) == before  # nothing deleted, and no lock file made anywhere


@pytest.mark.parametrize("name", ["../x", "/abs/x", "sub/x", ".hidden", "a..b"])
def test_import_under_a_bad_name_is_refused(baits, name, capfd):
    before = snapshot(home())
    rc = main(["weights", "import", str(SR), "--name", name])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "model name" in line and snapshot(home()) == before


def test_remove_of_a_good_name_still_removes_it(capfd):
    import_model(SR, name="mine")
    assert main(["weights", "remove", "mine"]) == 0
    assert "removed mine: mine.safetensors, mine.json" in capfd.readouterr().out
    assert cache.get("mine") is None


def test_info_and_model_still_take_a_checkpoint_file(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    shutil.copy(SR, tmp_path / "model.pth")
    assert main(["weights", "info", "./model.pth"]) == 0
    assert "naming:" in capfd.readouterr().out
    assert resolve_model("./model.pth").origin == "file"
    with pytest.raises(ModelNotFoundError, match="no such checkpoint file"):
        resolve_model("./missing.pth")
    rc = main(["weights", "info", "./missing.pth"])
    assert rc != 0 and "no such checkpoint file" in one_error_line(capfd.readouterr().err)


# -- the Python API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "slash"])
def test_the_api_refuses_a_path_as_a_name(baits, kind):
    name, watched = baits[kind]
    before = snapshot(watched)
    for call in (remove_model, model_path, download_model, cache.remove, cache.get):
        with pytest.raises(ModelNameError):
            call(name)
    with pytest.raises(ModelNameError):
        import_model(SR, name=name)
    with pytest.raises(ModelNameError), cache.locked(name):
        pass
    with pytest.raises(ModelNotFoundError):  # not a file, and no cache name either
        resolve_model(name)
    assert snapshot(watched) == before


def test_a_registry_file_name_outside_the_cache_is_never_deleted(tmp_path):
    """A registry (the API takes one) whose file name leaves the cache: its "partial download" stays."""
    entry = tiny_entry([{"kind": "url", "url": closed_port_url() + "/m.pth"}], file="../escape.pth")
    cache.ensure_models_dir()
    victim = home() / "escape.pth"
    victim.write_bytes(b"someone's file")
    with pytest.raises(ModelCacheError, match="outside the model cache"):
        remove_model(entry.name, registry=Registry([entry]))
    with pytest.raises(ModelCacheError, match="outside the model cache"):
        download_model(entry.name, registry=Registry([entry]), quiet=True)
    assert victim.read_bytes() == b"someone's file"


def test_the_cache_gate_refuses_paths_outside_the_cache(tmp_path):
    outside = tmp_path / "f.safetensors"
    outside.write_text("keep")
    with pytest.raises(ModelCacheError):
        cache.delete(outside)
    with pytest.raises(ModelCacheError):
        cache.delete(cache.models_dir() / ".." / "f.safetensors")
    with pytest.raises(ModelCacheError):
        cache.delete(cache.models_dir())  # the root itself is not inside it
    assert outside.read_text() == "keep"
    cache.ensure_models_dir()
    inside = cache.models_dir() / "leftover.pth.incomplete"
    inside.write_text("x")
    assert cache.delete(inside) is True and not inside.exists()
    assert cache.delete(inside) is False
