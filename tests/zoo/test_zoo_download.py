"""Downloads from local stand-ins: plain HTTP (huggingface_hub's transport), Google Drive's confirmation
page (gdown, through a local TLS stand-in), a named Hugging Face Hub mirror."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from edvr_cli import load_model
from edvr_cli.errors import ChecksumError, DownloadError, OfflineError
from edvr_cli.zoo import Registry, cache, resolve_model
from fakeservers import local_only  # noqa: F401 (autouse: no test leaves this machine)
from fakeservers import (
    FakeServer,
    closed_port_url,
    drive_env,
    files_under,
    fixture_bytes,
    sha256_hex,
    tiny_entry,
)

DATA = fixture_bytes()
SHA = sha256_hex(DATA)


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


@pytest.fixture
def drive(monkeypatch):
    """A Google Drive stand-in that gdown reaches as https://drive.google.com (through a local proxy)."""
    with FakeServer(tls=True) as s:
        drive_env(monkeypatch, s)
        yield s


def home() -> Path:
    return Path(os.environ["EDVR_HOME"])


def fetch(*sources: dict, **kw):
    entry = tiny_entry(list(sources), **kw)
    return resolve_model(entry.name, registry=Registry([entry]), quiet=True)


def assert_good(resolved, source: str) -> None:
    assert resolved.origin == "download" and resolved.path == cache.model_file(resolved.name)
    model = load_model(resolved.path)
    assert model.config.num_feat == 16 and model.scale == 4
    record = cache.get(resolved.name)
    assert record.source == source and record.source_sha256 == SHA
    with safe_open(str(resolved.path), "pt") as f:
        assert f.metadata()["edvr_source_sha256"] == SHA
    kept = (".safetensors", ".json", ".lock")
    leftovers = [p.name for p in files_under(cache.models_dir()) if not p.name.endswith(kept)]
    assert leftovers == []


def test_plain_https_source(server):
    server.file("/m.pth", DATA)
    resolved = fetch({"kind": "url", "url": server.url + "/m.pth"})
    assert_good(resolved, server.url + "/m.pth")
    again = resolve_model(resolved.name, registry=Registry([resolved.entry]))
    assert again.origin == "cache" and len(server.gets("/m.pth")) == 1


def test_checksum_mismatch_deletes_the_file_and_names_the_source(server):
    server.file("/bad.pth", DATA[:-10] + b"0123456789")
    with pytest.raises(ChecksumError, match=r"/bad\.pth.*SHA-256.*deleted"):
        fetch({"kind": "url", "url": server.url + "/bad.pth"})
    assert files_under(home() / "models") == [] or all(p.suffix == ".lock" for p in files_under(home() / "models"))


def test_bad_file_then_the_next_source(server):
    server.file("/bad.pth", b"x" * 1000)
    server.file("/good.pth", DATA)
    resolved = fetch({"kind": "url", "url": server.url + "/bad.pth"}, {"kind": "url", "url": server.url + "/good.pth"})
    assert_good(resolved, server.url + "/good.pth")


def test_404_then_the_next_source(server):
    server.status("/gone.pth", 404)
    server.file("/good.pth", DATA)
    resolved = fetch({"kind": "url", "url": server.url + "/gone.pth"}, {"kind": "url", "url": server.url + "/good.pth"})
    assert_good(resolved, server.url + "/good.pth")


def test_every_source_failing_lists_them_all(server):
    server.status("/a.pth", 404)
    server.status("/b.pth", 403)
    with pytest.raises(DownloadError) as info:
        fetch({"kind": "url", "url": server.url + "/a.pth"}, {"kind": "url", "url": server.url + "/b.pth"})
    assert "HTTP 404" in str(info.value) and "HTTP 403" in str(info.value) and "\n" not in str(info.value)


def test_dropped_connections_resume_with_range(server):
    server.file("/m.pth", DATA, drops=[400_000, 300_000])
    resolved = fetch({"kind": "url", "url": server.url + "/m.pth"})
    assert_good(resolved, server.url + "/m.pth")
    assert [g.range for g in server.gets("/m.pth")] == [None, "bytes=400000-", "bytes=700000-"]


def test_a_rerun_continues_from_the_partial_file(server):
    server.file("/m.pth", DATA)
    entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
    partial = cache.models_dir() / f"{entry.file}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(DATA[:500_000])
    resolved = resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert_good(resolved, server.url + "/m.pth")
    assert [g.range for g in server.gets("/m.pth")] == ["bytes=500000-"]


def test_a_server_ignoring_range_restarts_cleanly(server):
    server.file("/m.pth", DATA, range_ok=False)
    entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
    partial = cache.models_dir() / f"{entry.file}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"garbage" * 1000)
    assert_good(resolve_model(entry.name, registry=Registry([entry]), quiet=True), server.url + "/m.pth")


def test_a_corrupt_partial_file_is_retried_from_scratch(server):
    server.file("/m.pth", DATA)
    entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
    partial = cache.models_dir() / f"{entry.file}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * 100_000)  # right length prefix, wrong bytes
    assert_good(resolve_model(entry.name, registry=Registry([entry]), quiet=True), server.url + "/m.pth")
    assert [g.range for g in server.gets("/m.pth")] == ["bytes=100000-", None]


def test_a_stalled_server_times_out_with_a_clear_error(server, monkeypatch):
    monkeypatch.setenv("EDVR_DOWNLOAD_TIMEOUT", "0.3")
    server.file("/slow.pth", DATA, stall_after=1000)
    server.stall_headers("/silent.pth")
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"timed out") as info:
        fetch({"kind": "url", "url": server.url + "/slow.pth"}, {"kind": "url", "url": server.url + "/silent.pth"})
    assert time.monotonic() - started < 8
    assert "/slow.pth: no data for 0.3 s" in str(info.value) and "/silent.pth" in str(info.value)


def test_an_html_answer_is_not_a_checkpoint(server):
    server.html("/login.pth", "<html>sign in</html>")
    with pytest.raises(DownloadError, match="HTML page"):
        fetch({"kind": "url", "url": server.url + "/login.pth"})


@pytest.mark.parametrize("flavour", ["form", "link", "direct"])
def test_google_drive(drive, flavour):
    drive.gdrive("FILEID_123", DATA, flavour=flavour)
    resolved = fetch({"kind": "gdrive", "id": "FILEID_123"})
    assert_good(resolved, "Google Drive file FILEID_123")
    if flavour == "form":  # the virus-scan page, then its form's target
        assert [g.path for g in drive.log] == ["/uc", "/download"]


def test_google_drive_resumes_after_the_confirmation(drive):
    drive.gdrive("FILEID_123", DATA, flavour="form", drops=[600_000])
    assert_good(fetch({"kind": "gdrive", "id": "FILEID_123"}), "Google Drive file FILEID_123")
    ranges = [g.range for g in drive.gets("/download")]
    assert ranges[0] is None and len(ranges) == 2  # gdown keeps whole 512 KiB blocks: resumes at or before the cut
    assert 0 < int(ranges[1].removeprefix("bytes=").rstrip("-")) <= 600_000


def test_google_drive_quota_page(drive):
    drive.gdrive("FILEID_123", DATA, flavour="quota")
    with pytest.raises(DownloadError, match="Google Drive file FILEID_123: Google Drive says: Too many users") as info:
        fetch({"kind": "gdrive", "id": "FILEID_123"})
    assert "\n" not in str(info.value)


def test_google_drive_serving_a_wrong_file(drive):
    drive.gdrive("FILEID_123", DATA[:-10] + b"0123456789", flavour="direct")
    with pytest.raises(ChecksumError, match="Google Drive file FILEID_123: served a file with SHA-256"):
        fetch({"kind": "gdrive", "id": "FILEID_123"})
    assert [p.name for p in files_under(home() / "models") if not p.name.endswith(".lock")] == []


def test_google_drive_then_the_next_source(drive, server):
    drive.gdrive("FILEID_123", DATA, flavour="quota")
    server.file("/good.pth", DATA)
    resolved = fetch({"kind": "gdrive", "id": "FILEID_123"}, {"kind": "url", "url": server.url + "/good.pth"})
    assert_good(resolved, server.url + "/good.pth")


def test_no_mirror_unless_one_is_named(server, monkeypatch):
    """No made-up Hugging Face source: the Hub is asked only when a repository is named."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
    server.hub_file("edvr-cli/EDVR", entry.file, DATA)
    server.file("/m.pth", DATA)
    assert_good(resolve_model(entry.name, registry=Registry([entry]), quiet=True), server.url + "/m.pth")
    assert {e.path for e in server.log} == {"/m.pth"}


def test_hugging_face_hub_mirror(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("EDVR_HF_REPO", "someone/EDVR")
    entry = tiny_entry([{"kind": "url", "url": closed_port_url() + "/x.pth"}])
    server.hub_file("someone/EDVR", entry.file, DATA)
    resolved = resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert_good(resolved, f"Hugging Face Hub someone/EDVR/{entry.file}")
    assert {(e.method, e.path) for e in server.log} == {("HEAD", f"/someone/EDVR/resolve/main/{entry.file}"),
                                                         ("GET", f"/someone/EDVR/resolve/main/{entry.file}")}
    hub = Path(os.environ["HF_HOME"]) / "hub" / "models--someone--EDVR"
    assert (hub / "blobs" / SHA).is_file()  # the Hub's own cache layout, reused offline


def test_hub_repo_is_configurable(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    entry = tiny_entry([{"kind": "url", "url": closed_port_url() + "/x.pth"}])
    server.hub_file("someone/mirror", entry.file, DATA)
    resolved = resolve_model(entry.name, registry=Registry([entry]), hf_repo="someone/mirror", quiet=True)
    assert_good(resolved, f"Hugging Face Hub someone/mirror/{entry.file}")
    cache.remove(entry.name)
    server.hub_file("env/mirror", entry.file, DATA)
    monkeypatch.setenv("EDVR_HF_REPO", "env/mirror")
    resolved = resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert_good(resolved, f"Hugging Face Hub env/mirror/{entry.file}")


def test_hub_missing_file_then_next_source(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("EDVR_HF_REPO", "someone/EDVR")
    server.file("/good.pth", DATA)
    resolved = fetch({"kind": "url", "url": server.url + "/good.pth"})
    assert_good(resolved, server.url + "/good.pth")


def test_hub_serving_a_wrong_file(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    entry = tiny_entry([{"kind": "hf", "repo": "someone/EDVR"}])
    server.hub_file("someone/EDVR", entry.file, b"not the model" * 100)
    with pytest.raises(ChecksumError, match="Hugging Face Hub someone/EDVR"):
        resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert not [p for p in files_under(os.environ["HF_HOME"]) if "blobs" in p.parts]


@pytest.mark.parametrize("switch", ["EDVR_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_fails_fast_and_leaves_nothing(server, monkeypatch, switch):
    monkeypatch.setenv(switch, "1")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("EDVR_GDRIVE_URL", server.url + "/uc")
    monkeypatch.setenv("EDVR_HF_REPO", "someone/EDVR")
    server.file("/m.pth", DATA)
    started = time.monotonic()
    with pytest.raises(OfflineError, match=f"{switch}=1.*edvr weights import FILE") as info:
        fetch({"kind": "gdrive", "id": "ID"}, {"kind": "url", "url": server.url + "/m.pth"})
    assert time.monotonic() - started < 3
    assert server.log == []
    assert files_under(home()) == []
    assert "drive.google.com/uc?export=download&id=ID" in str(info.value)


def test_no_network_fails_fast_and_leaves_nothing(monkeypatch):
    monkeypatch.setenv("EDVR_HF_REPO", "someone/EDVR")
    started = time.monotonic()
    with pytest.raises(OfflineError, match="cannot reach any source.*edvr weights import FILE") as info:
        fetch({"kind": "url", "url": closed_port_url() + "/m.pth"}, {"kind": "gdrive", "id": "ID"})
    assert time.monotonic() - started < 5
    assert "Hugging Face Hub someone/EDVR" in str(info.value) and "Google Drive file ID" in str(info.value)
    # gdown connects and downloads in one call, under the lock: its lock file may stay; no data does
    assert [p.name for p in files_under(home())] in ([], ["Tiny_x4_SR.safetensors.lock"])


def test_offline_uses_the_hub_cache(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    entry = tiny_entry([{"kind": "hf", "repo": "someone/EDVR"}])
    server.hub_file("someone/EDVR", entry.file, DATA)
    resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    cache.remove(entry.name)
    served = len(server.log)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert resolved.origin == "download" and len(server.log) == served


def test_progress_bar_only_on_a_terminal(server, monkeypatch, capsys):
    server.file("/m.pth", DATA)
    entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
    resolve_model(entry.name, registry=Registry([entry]))  # not quiet, but not a TTY
    assert capsys.readouterr().err == ""
    cache.remove(entry.name)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    resolve_model(entry.name, registry=Registry([entry]))
    err = capsys.readouterr().err
    assert entry.file in err and "MB" in err
    cache.remove(entry.name)
    resolve_model(entry.name, registry=Registry([entry]), quiet=True)
    assert capsys.readouterr().err == ""
