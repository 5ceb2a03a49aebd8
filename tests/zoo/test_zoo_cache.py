"""The cache's promises: the full SHA-256 recorded and checked on use, one name per import (under the
lock), nothing partial under a final name, and one clear line when EDVR_HOME cannot be used."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

import pytest
from click.testing import CliRunner

from conftest import GOLDEN
from edvr_cli.cli.weights import weights
from edvr_cli.errors import (
    ChecksumError,
    DownloadError,
    EDVRError,
    ModelCacheError,
    ModelNameTakenError,
)
from edvr_cli.zoo import Registry, cache, import_model, resolve_model
from fakeservers import local_only  # noqa: F401 (autouse: no test leaves this machine)
from fakeservers import (
    FakeServer,
    files_under,
    fixture_bytes,
    run_in_two_processes,
    tiny_entry,
)

SR = GOLDEN / "basicsr_sr_tsa.pth"
NOTSA = GOLDEN / "basicsr_sr_notsa.pth"


def file_sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _damage(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different: only the hash can tell
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))


def test_a_download_records_the_full_sha256_and_info_shows_it():
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data)
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        resolved = resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    sidecar = json.loads(cache.sidecar_file(entry.name).read_text())
    assert sidecar["sha256"] == file_sha(resolved.path) and len(sidecar["sha256"]) == 64
    assert sidecar["source_sha256"] == hashlib.sha256(data).hexdigest()
    import_model(SR, name="mine")
    out = CliRunner().invoke(weights, ["info", "mine"]).output
    assert f"cached sha256: {file_sha(cache.model_file('mine'))}\n" in out
    assert f"source sha256: {hashlib.sha256(SR.read_bytes()).hexdigest()}\n" in out
    assert "file check:    ok\n" in out


def test_a_changed_cached_download_is_shown_then_replaced_by_a_verified_download():
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data)
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        reg = Registry([entry])
        path = resolve_model(entry.name, registry=reg, quiet=True).path
        _damage(path)  # same size and modification time: only the full SHA-256 tells
        assert "CHANGED" in CliRunner().invoke(weights, ["info", entry.name], catch_exceptions=False).output
        again = resolve_model(entry.name, registry=reg, quiet=True)
        assert again.origin == "download" and len(server.gets("/m.pth")) == 2  # never loaded as it was
    cached = cache.get(entry.name)
    assert cached is not None and cache.is_intact(cached)
    assert cached.source_sha256 == hashlib.sha256(data).hexdigest()
    assert cached.sha256 == hashlib.sha256(again.path.read_bytes()).hexdigest()


def test_a_changed_cached_download_offline_is_refused_in_one_line(monkeypatch):
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data)
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        reg = Registry([entry])
        path = resolve_model(entry.name, registry=reg, quiet=True).path
    _damage(path)
    monkeypatch.setenv("EDVR_OFFLINE", "1")
    with pytest.raises(DownloadError) as info:
        resolve_model(entry.name, registry=reg, quiet=True)
    assert "\n" not in str(info.value)


def test_a_changed_imported_model_is_refused():
    path = import_model(SR, name="mine").cached.path
    _damage(path)
    with pytest.raises(ChecksumError, match=r"cached model mine is damaged.*edvr weights import .*--force") as info:
        resolve_model("mine")
    assert "edvr weights remove mine" in str(info.value) and "\n" not in str(info.value)


def test_checking_on_use_costs_a_hash(tmp_path):
    """The cost of re-hashing on every load (the choice made in cache.py), on an EDVR-L-sized file."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(82_000_000))
    started = time.perf_counter()
    cache.sha256_file(big)
    elapsed = time.perf_counter() - started
    print(f"sha256 of 82 MB: {elapsed:.3f} s")
    assert elapsed < 5


def test_import_claims_the_name_under_the_lock(monkeypatch):
    """Two imports of different files under one name at once: one wins, the other fails with one line."""
    real_install = cache.install
    inside = threading.Event()

    def slow_install(*args, **kwargs):
        inside.set()
        time.sleep(0.5)  # the second import arrives while the first is writing
        return real_install(*args, **kwargs)

    monkeypatch.setattr(cache, "install", slow_install)
    outcome: dict[str, object] = {}

    def first() -> None:
        outcome["first"] = import_model(SR, name="X")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(30)
    with pytest.raises(ModelNameTakenError, match="already in the cache.*--force") as info:
        import_model(NOTSA, name="X")
    thread.join(60)
    assert "\n" not in str(info.value)
    assert cache.get("X").source_sha256 == file_sha(SR)  # the first import's file, not replaced
    replaced = import_model(NOTSA, name="X", force=True)
    assert replaced.cached.source_sha256 == file_sha(NOTSA)


def test_two_processes_import_different_files_under_one_name():
    import fakeservers

    outcomes = run_in_two_processes(fakeservers.concurrent_import, ([str(SR), str(NOTSA)], "X"), timeout=120)
    assert sorted(o[0] for o in outcomes) == ["error", "ok"], outcomes
    (winner,) = [o for o in outcomes if o[0] == "ok"]
    (loser,) = [o for o in outcomes if o[0] == "error"]
    assert loser[2].startswith("ModelNameTakenError: a model named X is already in the cache")
    assert "--force" in loser[2] and "\n" not in loser[2]
    assert cache.get("X").source_sha256 == file_sha(winner[1]) == winner[2]  # the winner's file, intact
    assert file_sha(cache.model_file("X")) == cache.get("X").sha256
    names = sorted(p.name for p in files_under(cache.models_dir()))
    assert names == ["X.json", "X.safetensors", "X.safetensors.lock"]


def test_edvr_home_that_is_a_file(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("EDVR_HOME", str(home))
    with pytest.raises(ModelCacheError) as info:
        import_model(SR, name="mine")
    message = str(info.value)
    assert "\n" not in message and f"'{home}' is a file" in message and "set EDVR_HOME" in message
    with FakeServer() as server:
        server.file("/m.pth", fixture_bytes())
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        with pytest.raises(ModelCacheError, match=f"'{home}' is a file.*set EDVR_HOME"):
            resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert home.read_text() == "not a folder"


def _as_non_root(monkeypatch) -> None:
    """Root writes anywhere; emulate an ordinary user's permission check from the mode bits."""
    import pathlib
    import stat

    def access(path, mode, **kw):
        if mode & os.W_OK and not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            return False
        return True

    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.parent.exists() and not access(self.parent, os.W_OK):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)


def test_read_only_edvr_home(tmp_path, monkeypatch):
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o555)
    monkeypatch.setenv("EDVR_HOME", str(home))
    if os.geteuid() == 0:
        _as_non_root(monkeypatch)
    try:
        result = CliRunner().invoke(weights, ["import", str(SR), "--name", "mine"])
        assert isinstance(result.exception, ModelCacheError), result.exception
        message = str(result.exception)
        assert "\n" not in message and f"'{home}' is not writable" in message
        assert "set EDVR_HOME to a folder you can write" in message
        with FakeServer() as server:
            server.file("/m.pth", fixture_bytes())
            entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
            with pytest.raises(ModelCacheError, match=f"'{home}' is not writable.*set EDVR_HOME"):
                resolve_model(entry.name, registry=Registry([entry]), quiet=True)
        assert list(home.iterdir()) == []
    finally:
        home.chmod(0o755)


def test_nothing_partial_is_left_by_an_interrupted_install(monkeypatch):
    """A signal (KeyboardInterrupt) while the weights are written leaves no file under a final name."""
    from edvr_cli.model import checkpoint

    real_save = checkpoint.save_model

    def interrupted(model, path, **kw):
        real_save(model, path, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_model(SR, name="mine")
    assert [p.name for p in files_under(cache.models_dir())] == ["mine.safetensors.lock"]
    assert cache.get("mine") is None


def test_errors_are_edvr_errors():
    assert issubclass(ModelCacheError, EDVRError) and issubclass(ModelNameTakenError, EDVRError)
