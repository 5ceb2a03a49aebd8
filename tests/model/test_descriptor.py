"""The model descriptor: the network plus what the pipeline needs, read from the file alone."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import torch

from conftest import GOLDEN
from edvr_cli.errors import EDVRCheckpointError, UsageError
from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.model.checkpoint import PADDING_KEY, load_model, save_model
from edvr_cli.model.descriptor import ModelDescriptor, load_descriptor

TINY = EDVRConfig(num_feat=8, num_frame=3, deformable_groups=2, num_extract_block=1, num_reconstruct_block=1)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "case,scale,frames,center,multiple,hr_in,padding,naming",
    [
        ("basicsr_sr_7frames", 4, 7, 3, 4, False, "reflection_circle", "basicsr"),
        ("basicsr_srblur_predeblur", 4, 5, 2, 4, False, "replicate", "basicsr"),
        ("original_deblur_hrin", 1, 5, 2, 16, True, "replicate", "original"),
        ("original_stage2_hrin", 1, 5, 2, 16, True, "reflection_circle", "original"),
        ("mmagic_sr_tsa", 4, 5, 2, 4, False, "reflection_circle", "mmagic"),
    ],
)
def test_descriptor_of_reference_checkpoints(case, scale, frames, center, multiple, hr_in, padding, naming):
    path = GOLDEN / f"{case}.pth"
    d = load_descriptor(path)
    assert isinstance(d, ModelDescriptor) and isinstance(d.model, EDVR)
    got = (d.scale, d.num_frame, d.center_frame_idx, d.multiple_of, d.hr_in)
    assert got == (scale, frames, center, multiple, hr_in)
    assert (d.padding, d.naming, d.name, d.path) == (padding, naming, case, path)
    assert d.sha256 == _sha(path)
    assert d.config == d.model.config == load_model(path).config
    assert d.supports_half is True and d.supports_tiling is True
    assert not d.model.training and d.device == torch.device("cpu")
    io = torch.load(GOLDEN / f"{case}.io.pt", weights_only=True)
    with torch.no_grad():
        assert (d.model(io["input"]) - io["output"]).abs().max().item() < 1e-4


def test_padded_size():
    d = load_descriptor(GOLDEN / "original_deblur_hrin.pth")
    assert d.padded_size(180, 320) == (192, 320)
    assert load_descriptor(GOLDEN / "basicsr_sr_tsa.pth").padded_size(181, 320) == (184, 320)


def test_files_edvr_wrote_keep_centre_padding_and_naming(tmp_path):
    model = EDVR(EDVRConfig(**{**TINY.to_dict(), "center_frame_idx": 0}))
    path = save_model(model, tmp_path / "mine.safetensors", metadata={PADDING_KEY: "replicate"})
    d = load_descriptor(path)
    assert (d.naming, d.center_frame_idx, d.padding, d.name) == ("edvr-cli", 0, "replicate", "mine")
    assert d.model.center_frame_idx == 0 and d.metadata[PADDING_KEY] == "replicate"
    plain = load_descriptor(save_model(EDVR(TINY), tmp_path / "plain.safetensors"))
    assert (plain.center_frame_idx, plain.padding) == (1, "reflection_circle")


def test_caller_overrides():
    path = GOLDEN / "basicsr_sr_tsa.pth"
    d = load_descriptor(path, center_frame_idx=0, padding="replicate", name="mine")
    assert (d.center_frame_idx, d.config.center_frame_idx, d.model.center_frame_idx) == (0, 0, 0)
    assert (d.padding, d.name) == ("replicate", "mine")
    with torch.no_grad():  # the centre frame changes what the network computes
        x = torch.rand(1, 5, 3, 8, 8)
        assert not torch.allclose(d.model(x), load_descriptor(path).model(x))


def test_bad_overrides_are_usage_errors():
    path = GOLDEN / "basicsr_sr_tsa.pth"
    with pytest.raises(UsageError, match=r"^center_frame_idx 5 is outside the 5-frame window$"):
        load_descriptor(path, center_frame_idx=5)
    with pytest.raises(UsageError, match=r"^unknown temporal padding 'mirror'; choose one of reflection_circle"):
        load_descriptor(path, padding="mirror")


def test_bad_metadata_is_a_checkpoint_error(tmp_path):
    path = save_model(EDVR(TINY), tmp_path / "odd.safetensors", metadata={PADDING_KEY: "sideways"})
    with pytest.raises(EDVRCheckpointError, match=r"^odd\.safetensors: its edvr_padding metadata 'sideways'"):
        load_descriptor(path)
    assert load_descriptor(path, padding="circle").padding == "circle"


def test_descriptor_refuses_what_the_reader_refuses(tmp_path):
    raw = dict(torch.load(GOLDEN / "basicsr_sr_tsa.pth", weights_only=True)["params"])
    raw["conv_last.weight"] = raw["conv_last.weight"].clone().fill_(float("nan"))
    torch.save(raw, tmp_path / "nan.pth")
    with pytest.raises(EDVRCheckpointError, match=r"^nan\.pth: tensor conv_last\.weight holds NaN values"):
        load_descriptor(tmp_path / "nan.pth")


def test_importing_the_package_and_model_package_stays_torch_free():
    code = (
        "import sys, edvr_cli, edvr_cli.model; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'load_descriptor' in dir(edvr_cli) and 'ModelDescriptor' in dir(edvr_cli); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.strip() == "ok", out.stderr


def test_public_api_exports():
    import edvr_cli
    from edvr_cli.model import descriptor

    assert edvr_cli.load_descriptor is descriptor.load_descriptor
    assert edvr_cli.ModelDescriptor is descriptor.ModelDescriptor
