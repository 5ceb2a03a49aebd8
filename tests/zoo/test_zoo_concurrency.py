"""Two processes downloading the same model at once end up with one good file."""

from __future__ import annotations

import os

from fakeservers import (
    FakeServer,
    concurrent_download,
    files_under,
    fixture_bytes,
    run_in_two_processes,
    sha256_hex,
    tiny_entry,
)

from edvr_cli import load_model
from edvr_cli.zoo import Registry, cache


def test_two_processes_one_model(monkeypatch):
    monkeypatch.setenv("EDVR_DOWNLOAD_TIMEOUT", "10")
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data, throttle=0.03)  # ~0.6 s per transfer: the two attempts overlap
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        outcomes = run_in_two_processes(concurrent_download, (Registry([entry]).to_json(), entry.name), timeout=90)
    # normally both connect before either finishes; the lock makes one download, the other waits
    assert 1 <= len(server.gets("/m.pth")) <= 2
    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    assert outcomes[0][1] == outcomes[1][1] == str(cache.model_file(entry.name))
    record = cache.get(entry.name)
    assert record.source_sha256 == sha256_hex(data)
    assert load_model(record.path).config.num_feat == 16
    names = sorted(p.name for p in files_under(cache.models_dir()))
    assert names == [f"{entry.name}.json", f"{entry.name}.safetensors", f"{entry.name}.safetensors.lock"]
    assert os.environ["EDVR_HOME"] in str(record.path)
