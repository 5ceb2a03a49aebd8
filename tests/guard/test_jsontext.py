"""Hostile JSON (deep nesting) and hostile shapes (millions of dimensions): one clear line, at once."""

from __future__ import annotations

import json
import struct
import time

import pytest

from edvr_cli.cli import main
from edvr_cli.guard import jsontext


def test_shallow_json_parses_and_deep_json_is_refused_without_recursing():
    assert jsontext.loads('{"a": [1, {"b": "[[[[ not nesting ]]]]"}]}') == {"a": [1, {"b": "[[[[ not nesting ]]]]"}]}
    assert jsontext.loads(b'"\\\\\\"{["') == '\\"{['  # an escaped quote does not end the string
    with pytest.raises(ValueError, match="nested more than 64"):
        jsontext.loads("[" * 100_000 + "]" * 100_000)


def _safetensors(path, header: bytes, data: bytes = b"") -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def _one_error_line(capfd, args) -> str:
    rc = main(args)
    err = [line for line in capfd.readouterr().err.splitlines() if line]
    assert rc != 0 and len(err) == 1 and err[0].startswith("edvr: error:"), err
    return err[0]


def test_a_shape_of_millions_of_dimensions_is_refused_at_once(tmp_path, capfd):
    path = tmp_path / "dims.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [2] * 3_000_000, "data_offsets": [0, 4]}}).encode()
    _safetensors(path, header, b"\0" * 4)
    t = time.perf_counter()
    line = _one_error_line(capfd, ["weights", "info", str(path)])
    assert time.perf_counter() - t < 5 and "malformed entry" in line


def test_a_deeply_nested_header_is_one_line(tmp_path, capfd):
    path = tmp_path / "deep.safetensors"
    _safetensors(path, b'{"__metadata__": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    line = _one_error_line(capfd, ["weights", "info", str(path)])
    assert "nested more than" in line and "RecursionError" not in line


def test_a_deeply_nested_cache_record_does_not_break_the_list(tmp_path, capfd, monkeypatch):
    from conftest import GOLDEN

    from edvr_cli.zoo import cache, import_model

    import_model(GOLDEN / "basicsr_sr_tsa.pth", name="mine")
    cache.sidecar_file("mine").write_text("[" * 200_000 + "]" * 200_000)
    assert main(["weights", "list"]) == 0
    assert "mine" in capfd.readouterr().out


def test_a_deeply_nested_manifest_is_one_line(tmp_path, capfd):
    from clips import make_clip

    from edvr_cli.jobs.workfolder import MANIFEST, work_dir

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    out = tmp_path / "o.mkv"
    work_dir(out).mkdir()
    (work_dir(out) / MANIFEST).write_text('{"format": ' + "[" * 200_000 + "]" * 200_000 + "}")
    line = _one_error_line(capfd, ["upscale", str(src), str(out), "--model", "edvr-tiny", "--resume", "-q"])
    assert "RecursionError" not in line


def test_a_short_tensor_section_says_how_short_in_bytes(tmp_path, capfd):
    """Offsets a few bytes past the end: the message must not read "declares 2.8 MiB, the file holds 2.8 MiB"."""
    n = 3 * (1 << 20)
    header = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
    path = tmp_path / "short.safetensors"
    _safetensors(path, header, b"\0" * (n - 16))
    line = _one_error_line(capfd, ["weights", "info", str(path)])
    assert f"declares {n:,} bytes" in line and f"holds {n - 16:,} bytes" in line
