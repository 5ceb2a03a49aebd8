"""Training is safe: states load without running code, outputs are guarded, --init resolves every kind of name."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edvr_cli.errors import (
    EDVRCheckpointError,
    ModelNotFoundError,
    OfflineError,
    OutputError,
    OutputExistsError,
    UsageError,
)
from edvr_cli.lab.degrade import quantize
from edvr_cli.lab.metrics import psnr_tensor
from edvr_cli.lab.train import TrainOptions, train
from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.model.checkpoint import load_model, save_model
from edvr_cli.model.reader import TRAINING_STATE_FORMAT, read_training_state
from edvr_cli.video.images import write_image

TINY = {"num_feat": 8, "num_frame": 3, "deformable_groups": 2, "num_extract_block": 1, "num_reconstruct_block": 1}
TINY_FLAGS = ["--num-feat", "8", "--num-frame", "3", "--deformable-groups", "2", "--num-extract-block", "1",
              "--num-reconstruct-block", "1", "--batch-size", "1", "--patch", "8", "--quiet"]


def _photo(seed: int, h: int = 48, w: int = 56) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bicubic")
    return (img[0].clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i in range(2):
        write_image(root / f"p{i}.png", _photo(i))
    return root


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _opts(data: Path, out: Path, **kw) -> TrainOptions:
    base = {"data": str(data), "out_dir": str(out), "model": dict(TINY), "steps": 1, "batch_size": 1, "patch": 8,
            "lr": 1e-3, "warmup": 0, "val_fraction": 0.0, "val_samples": 0, "checkpoint_every": 1, "seed": 0,
            "device": "cpu", "log_every": 100, **kw}
    return TrainOptions(**base)


class _Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


# -- resume never runs code ---------------------------------------------------------------------------

def test_resume_from_a_pickle_payload_is_refused(photos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"options": _Evil()}, evil)
    with pytest.raises(EDVRCheckpointError) as exc:
        train(_opts(photos, tmp_path / "out"), resume=evil, quiet=True)
    assert _one_line(exc).startswith("evil.pt: refused, the file holds Python objects that would run code")
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "out" / "last.pt").exists()


def test_resume_auto_from_a_planted_last_pt_is_refused(photos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    torch.save({"step": 1, "model": {}, "optimizer": {}, "options": _Evil()}, out / "last.pt")
    with pytest.raises(EDVRCheckpointError, match=r"^last\.pt: refused"):
        train(_opts(photos, out), resume="auto", quiet=True)
    assert not (tmp_path / "PWNED").exists()


def test_cli_resume_attack_is_one_error_line(photos, tmp_path, monkeypatch):
    from edvr_cli.cli.lab import train_command

    monkeypatch.chdir(tmp_path)
    torch.save({"options": _Evil()}, tmp_path / "evil.pt")
    result = CliRunner().invoke(train_command, [str(photos), "-o", str(tmp_path / "out"), "--steps", "1",
                                                "--resume", str(tmp_path / "evil.pt"), *TINY_FLAGS])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: evil.pt: refused"), result.output
    assert not (tmp_path / "PWNED").exists()


def test_training_state_is_plain_data_and_resumes(photos, tmp_path):
    out = tmp_path / "run"
    first = train(_opts(photos, out, steps=2), quiet=True)
    payload = torch.load(out / "last.pt", weights_only=True)  # no pickle globals beyond tensors
    assert payload["format"] == TRAINING_STATE_FORMAT and payload["step"] == 2
    assert isinstance(payload["options"], str) and json.loads(payload["options"])["model"] == {
        **TINY, "with_tsa": True, "with_predeblur": False, "hr_in": False, "center_frame_idx": None}
    state = read_training_state(out / "checkpoints" / "step-0000002.pt")
    assert state.step == 2 and set(state.model) == set(first.model.state_dict())
    resumed = train(_opts(photos, out, steps=3), resume="auto", quiet=True)
    assert resumed.step == 3
    assert read_training_state(out / "last.pt").step == 3


def test_resume_with_unknown_options_is_a_checkpoint_error(photos, tmp_path):
    out = tmp_path / "run"
    train(_opts(photos, out), quiet=True)
    payload = torch.load(out / "last.pt", weights_only=True)
    payload["options"] = json.dumps({**json.loads(payload["options"]), "warp_drive": 9})
    torch.save(payload, out / "odd.pt")
    expected = r"^odd\.pt: its training options are not usable \(unknown training options warp_drive\)$"
    with pytest.raises(EDVRCheckpointError, match=expected):
        train(_opts(photos, out), resume=out / "odd.pt", quiet=True)


# -- outputs are guarded ------------------------------------------------------------------------------

def test_model_out_is_not_overwritten_without_overwrite(photos, tmp_path):
    precious = tmp_path / "precious.safetensors"
    precious.write_bytes(b"someone's work")
    steps: list[int] = []
    with pytest.raises(OutputExistsError) as exc:
        train(_opts(photos, tmp_path / "run"), model_out=precious, quiet=True, on_step=lambda s, _: steps.append(s))
    assert "precious.safetensors' already exists; pass --overwrite" in _one_line(exc)
    assert steps == []  # refused before the first step, not after the work
    assert precious.read_bytes() == b"someone's work"
    result = train(_opts(photos, tmp_path / "run"), model_out=precious, quiet=True, overwrite=True)
    assert result.model_path == precious and load_model(precious).config == EDVRConfig(**TINY)


def test_model_out_may_not_be_the_init_model(photos, tmp_path):
    init = save_model(EDVR(EDVRConfig(**TINY)), tmp_path / "start.safetensors")
    before = init.read_bytes()
    with pytest.raises(OutputError, match="is the input"):
        train(_opts(photos, tmp_path / "run", init=str(init)), model_out=init, quiet=True, overwrite=True)
    assert init.read_bytes() == before


def test_run_folder_files_are_replaced_by_a_new_run(photos, tmp_path):
    out = tmp_path / "run"
    train(_opts(photos, out), quiet=True)
    again = train(_opts(photos, out, seed=1), quiet=True)  # the run folder's own files are edvr's
    assert again.model_path == out / "model.safetensors" and read_training_state(out / "last.pt").step == 1
    assert not [p.name for p in out.iterdir() if p.name.startswith(".edvr-tmp-")]


# -- --init resolves names ----------------------------------------------------------------------------

def test_init_from_a_path_and_an_imported_name(photos, tmp_path):
    from edvr_cli.zoo.models import import_model

    torch.manual_seed(0)
    start = EDVR(EDVRConfig(**TINY))
    path = save_model(start, tmp_path / "start.safetensors")
    import_model(path, name="my-start")  # into this test's own EDVR_HOME
    for init in (str(path), "my-start"):
        result = train(_opts(photos, tmp_path / f"run-{init[-5:]}", init=init, model={"num_feat": 16}), quiet=True)
        assert result.model.config == EDVRConfig(**TINY)  # the init model's config wins


def test_init_with_a_published_name_offline_says_how_to_import(photos, tmp_path, monkeypatch):
    monkeypatch.setenv("EDVR_OFFLINE", "1")
    with pytest.raises(OfflineError) as exc:
        train(_opts(photos, tmp_path / "run", init="EDVR_M_x4_SR_REDS"), quiet=True)
    line = _one_line(exc)
    assert line.startswith("EDVR_M_x4_SR_REDS is not downloaded and the network is off (EDVR_OFFLINE=1)")
    assert "edvr weights import FILE" in line
    assert not (tmp_path / "run").exists()


def test_init_with_an_unknown_name(photos, tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"^unknown model 'EDVR_M_x4_SR_REDZ'.*Did you mean EDVR_M_x4_SR_REDS"):
        train(_opts(photos, tmp_path / "run", init="EDVR_M_x4_SR_REDZ"), quiet=True)


# -- shared helpers -----------------------------------------------------------------------------------

def test_device_comes_from_the_engine_resolver(photos, tmp_path):
    with pytest.raises(UsageError, match=r"^unknown --device 'quantum'"):
        train(_opts(photos, tmp_path / "run", device="quantum"), quiet=True)


def test_validation_psnr_is_the_lab_metric():
    """The loop's PSNR (lab.metrics.psnr_tensor, built on calculate_psnr) equals the formula it replaced."""
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        gt = torch.round(torch.rand(3, 16, 20, generator=g) * 255) / 255
        pred = (gt + 0.05 * torch.randn(3, 16, 20, generator=g)).clamp(-0.1, 1.1)
        mse = float(((quantize(pred) - gt) ** 2).mean())
        assert psnr_tensor(pred, gt) == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)


def test_cli_model_out_needs_overwrite(photos, tmp_path, capsys):
    from edvr_cli.cli import main

    precious = tmp_path / "precious.safetensors"
    precious.write_bytes(b"someone's work")
    args = ["train", str(photos), "-o", str(tmp_path / "run"), "--steps", "1", "--model-out", str(precious),
            "--device", "cpu", *TINY_FLAGS]
    rc = main(args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc != 0 and len(err) == 1 and err[0].startswith("edvr: error:") and "--overwrite" in err[0]
    assert precious.read_bytes() == b"someone's work"
    assert main([*args, "--overwrite"]) == 0
    assert load_model(precious).config == EDVRConfig(**TINY)
