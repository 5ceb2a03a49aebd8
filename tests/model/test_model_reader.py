"""The one checkpoint reader: no code runs, nothing oversized is inflated, only finite float weights load."""

from __future__ import annotations

import collections
import io
import json
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import GOLDEN
from edvr_cli.errors import EDVRCheckpointError
from edvr_cli.model import reader
from edvr_cli.model.checkpoint import load_model
from edvr_cli.model.reader import (
    read_file,
    read_metadata,
    read_state_dict,
    read_training_state,
)

SMALL = GOLDEN / "basicsr_sr_tsa.pth"
ROOT = Path(__file__).resolve().parents[2]


def _one_line(exc: pytest.ExceptionInfo[EDVRCheckpointError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def _forbid_torch_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was reached: the file should have been refused before it")

    monkeypatch.setattr(reader.torch, "load", refuse)


def write_bomb(path: Path, inflated: int) -> Path:
    """A .pth zip that torch.load really loads: one float storage of ``inflated`` zero bytes, deflated."""
    numel = inflated // 4

    class Storage:
        pass

    storage = Storage()

    class Rebuild:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, (storage, 0, (numel,), (1,), False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is storage else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"params": {"conv_first.weight": Rebuild()}})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/.format_version", "1")
        z.writestr("archive/version", "3\n")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            chunk = bytes(1 << 22)
            left = inflated
            while left:
                n = min(left, len(chunk))
                f.write(chunk[:n])
                left -= n
    return path


# -- declared sizes -----------------------------------------------------------------------------------

def test_zip_with_lying_central_directory_is_refused_before_reading(tmp_path, monkeypatch):
    """A real checkpoint whose directory claims 3 GiB for one record: refused without torch.load."""
    data = bytearray(SMALL.read_bytes())
    name = b"data/0"
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        length = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + length]).endswith(name):
            break
        pos += 4
    struct.pack_into("<I", data, pos + 24, 3 << 30)  # uncompressed size
    path = tmp_path / "lying.pth"
    path.write_bytes(bytes(data))
    _forbid_torch_load(monkeypatch)
    with pytest.raises(EDVRCheckpointError) as exc:
        read_state_dict(path)
    assert _one_line(exc).startswith("lying.pth: refused, it declares 3.0 GiB of data")


def test_deflate_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    path = write_bomb(tmp_path / "bomb.pth", 64 << 20)  # 64 KiB on disk
    assert path.stat().st_size < 100_000
    # the attack is real: torch.load alone inflates it
    assert torch.load(path, weights_only=True)["params"]["conv_first.weight"].numel() == 16 << 20
    _forbid_torch_load(monkeypatch)
    with pytest.raises(EDVRCheckpointError) as exc:
        load_model(path)
    assert "bomb.pth: refused, it declares 64.0 MiB compressed into" in _one_line(exc)
    assert "never compresses like that" in str(exc.value)
    monkeypatch.setattr(reader, "MAX_DECLARED_BYTES", 32 << 20)
    with pytest.raises(EDVRCheckpointError, match=r"^bomb\.pth: refused, it declares 64\.0 MiB of data"):
        read_state_dict(path)


def test_refusing_a_bomb_takes_no_memory(tmp_path):
    """Peak RSS of a fresh process refusing a 2 MB-on-disk, 1 GiB-inflated .pth: unchanged by the refusal."""
    path = write_bomb(tmp_path / "bomb.pth", 1 << 30)
    script = textwrap.dedent(f"""
        import resource
        from edvr_cli.errors import EDVRCheckpointError
        from edvr_cli.model.reader import read_state_dict
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_state_dict({str(path)!r})
        except EDVRCheckpointError as exc:
            print("refused", exc)
        print("grew_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["refused"].startswith("bomb.pth: refused")
    assert int(lines["grew_kib"]) < 16 * 1024, out.stdout  # under 16 MiB (the payload is 1 GiB)


def test_oversized_object_pickle_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big_pickle.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"]" * (reader.MAX_PICKLE_BYTES + 1))  # a pickle of empty lists
        z.writestr("archive/version", "3\n")
    _forbid_torch_load(monkeypatch)
    with pytest.raises(EDVRCheckpointError, match=r"^big_pickle\.pth: refused, its object pickle archive/data\.pkl"):
        read_state_dict(path)


def _legacy_with_count(tmp_path: Path, declared: int) -> Path:
    """A legacy-format (torch < 1.6) file whose 70,000-float storage is re-declared as ``declared`` floats."""
    path = tmp_path / "legacy.pth"
    torch.save({"conv_first.weight": torch.ones(70_000)}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    old = b"J" + struct.pack("<i", 70_000)  # BININT: the storage's element count (and the tensor's size)
    assert old in data
    path.write_bytes(data.replace(old, b"J" + struct.pack("<i", declared)))
    return path


def test_legacy_format_loads_like_zip(tmp_path):
    raw = read_state_dict(GOLDEN / "original_sr_tsa.pth")
    path = tmp_path / "legacy.pth"
    torch.save(raw, path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    again = read_state_dict(path)
    assert list(again) == list(raw) and all(torch.equal(again[k], raw[k]) for k in raw)
    assert load_model(path).naming == "original"


def test_legacy_format_declaring_huge_storage_is_refused(tmp_path, monkeypatch):
    path = _legacy_with_count(tmp_path, 2**31 - 1)
    _forbid_torch_load(monkeypatch)
    with pytest.raises(EDVRCheckpointError) as exc:
        read_state_dict(path)
    assert _one_line(exc).startswith("legacy.pth: refused, it declares 8.0 GiB of data")


def test_legacy_format_declaring_more_than_the_file_holds_is_refused(tmp_path, monkeypatch):
    path = _legacy_with_count(tmp_path, 80_000)
    _forbid_torch_load(monkeypatch)
    with pytest.raises(EDVRCheckpointError) as exc:
        read_state_dict(path)
    assert "legacy.pth: not a readable PyTorch checkpoint (truncated or corrupt?" in _one_line(exc)


def _safetensors_bytes(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def test_safetensors_header_length_claiming_huge_is_refused(tmp_path):
    path = tmp_path / "huge_header.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    claim = r"^huge_header\.safetensors: refused, its safetensors header claims 1024\.0 GiB"
    with pytest.raises(EDVRCheckpointError, match=claim):
        read_state_dict(path)
    with pytest.raises(EDVRCheckpointError, match="refused"):
        read_metadata(path)


def test_safetensors_tensor_claiming_huge_is_refused(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(_safetensors_bytes({"w": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 4 << 30]}}))
    with pytest.raises(EDVRCheckpointError) as exc:
        read_state_dict(path)
    assert _one_line(exc).startswith("huge.safetensors: refused, it declares 4.0 GiB of data")


def test_safetensors_claiming_more_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / "short.safetensors"
    header = {"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}
    path.write_bytes(_safetensors_bytes(header, b"\0" * 40))
    with pytest.raises(EDVRCheckpointError, match=r"^short\.safetensors: not a readable safetensors file \(truncated"):
        read_state_dict(path)


def test_file_larger_than_any_checkpoint_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_DECLARED_BYTES", 1 << 20)
    _forbid_torch_load(monkeypatch)
    with pytest.raises(EDVRCheckpointError, match=r"^basicsr_sr_tsa\.pth: refused, it declares 1\.2 MiB of data"):
        read_state_dict(SMALL)


def test_the_bound_has_headroom_over_every_published_model():
    from conftest import FIXTURES

    manifest = json.loads((FIXTURES / "official_key_manifest.json").read_text())
    largest = max(m["n_params"] for section in manifest.values() for m in section.values())
    assert largest == reader.LARGEST_PUBLISHED_PARAMS
    training_state = 3 * 4 * largest  # float32 weights + Adam's two moments
    assert reader.MAX_DECLARED_BYTES >= 4 * training_state


# -- values -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.int8, torch.bool, torch.uint8, torch.int64])
@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_non_floating_weights_are_refused_in_one_line(tmp_path, dtype, fmt):
    raw = dict(read_state_dict(SMALL))
    bad = list(raw)[5]
    raw[bad] = raw[bad].to(dtype)
    path = tmp_path / f"quantised.{fmt}"
    if fmt == "pth":
        torch.save(raw, path)
    else:
        save_file(raw, str(path))
    with pytest.raises(EDVRCheckpointError) as exc:
        load_model(path)
    name = str(dtype).removeprefix("torch.")
    assert _one_line(exc).startswith(f"quantised.{fmt}: tensor {bad} has dtype {name}; EDVR weights are floating point")


def test_all_int8_checkpoint_names_its_first_tensor(tmp_path):
    raw = read_state_dict(SMALL)
    path = tmp_path / "int8.pth"
    torch.save({k: v.to(torch.int8) for k, v in raw.items()}, path)
    with pytest.raises(EDVRCheckpointError) as exc:
        load_model(path)
    assert _one_line(exc).startswith(f"int8.pth: tensor {next(iter(raw))} has dtype int8")


@pytest.mark.parametrize("value,word", [(float("nan"), "NaN"), (float("inf"), "infinite"), (float("-inf"), "infinite")])
@pytest.mark.parametrize("fmt", ["pth", "safetensors", "memory"])
def test_non_finite_weights_are_refused_in_one_line(tmp_path, value, word, fmt):
    raw = {k: v.clone() for k, v in read_state_dict(SMALL).items()}
    bad = "pcd_align.dcn_pack.l1.conv_offset.weight"
    raw[bad].view(-1)[7] = value
    if fmt == "memory":
        source: object = raw
        label = "state dict"
    else:
        source = tmp_path / f"broken.{fmt}"
        label = f"broken.{fmt}"
        torch.save(raw, source) if fmt == "pth" else save_file(raw, str(source))
    with pytest.raises(EDVRCheckpointError) as exc:
        load_model(source)  # type: ignore[arg-type]
    assert _one_line(exc).startswith(f"{label}: tensor {bad} holds {word} values (1 of ")


def test_half_precision_checkpoints_load(tmp_path):
    raw = read_state_dict(SMALL)
    for dtype in (torch.float16, torch.bfloat16):
        path = tmp_path / f"{dtype}.pth"
        torch.save({k: v.to(dtype) for k, v in raw.items()}, path)
        assert load_model(path).config == load_model(SMALL).config


# -- code never runs ----------------------------------------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_payload_never_runs(tmp_path, monkeypatch, legacy):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"options": _Evil(), "model": {"w": torch.zeros(1)}}, path, _use_new_zipfile_serialization=not legacy)
    for read in (read_file, read_state_dict, read_training_state):
        with pytest.raises(EDVRCheckpointError) as exc:
            read(path)
        assert _one_line(exc).startswith("evil.pt: ")
        assert not (tmp_path / "PWNED").exists()
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(EDVRCheckpointError):
        read_state_dict(raw)
    assert not (tmp_path / "PWNED").exists()


def test_training_state_reader_rejects_network_checkpoints():
    with pytest.raises(EDVRCheckpointError) as exc:
        read_training_state(SMALL)
    assert _one_line(exc).startswith("basicsr_sr_tsa.pth: not an edvr training state")


def test_checkpoint_module_keeps_reexporting_the_reader():
    from edvr_cli.model import checkpoint

    assert checkpoint.read_state_dict is reader.read_state_dict
    assert checkpoint.read_metadata is reader.read_metadata
    assert checkpoint.unwrap_container is reader.unwrap_container
    import edvr_cli

    assert edvr_cli.read_state_dict is reader.read_state_dict


def test_large_finite_weights_whose_sum_overflows_still_load(tmp_path):
    raw = {k: v.clone() for k, v in read_state_dict(SMALL).items()}
    raw["conv_last.weight"].fill_(3e38)  # finite, but their float32 sum is inf
    raw["conv_hr.weight"] = raw["conv_hr.weight"].half().fill_(60000).float()
    path = tmp_path / "large.pth"
    torch.save(raw, path)
    assert torch.equal(read_state_dict(path)["conv_last.weight"], raw["conv_last.weight"])


def test_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "model.pth"
    os.mkfifo(fifo)
    with pytest.raises(EDVRCheckpointError, match="is not a regular file"):
        read_state_dict(fifo)
