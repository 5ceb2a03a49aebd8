"""Checkpoint recognition, configuration inference, naming conversion, saving, and rejection."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from edvr_cli import EDVRCheckpointError, EDVRConfig, load_model, save_model
from edvr_cli.model.arch import EDVR
from edvr_cli.model.checkpoint import (
    check_state_dict, describe_state_dict, from_canonical, read_metadata, read_state_dict, unwrap_container,
)
from edvr_cli.model.keymap import NAMINGS, detect_naming

from conftest import FIXTURES, GOLDEN

MANIFEST = json.loads((FIXTURES / "official_key_manifest.json").read_text())
LAYOUTS = [(section, name) for section in MANIFEST for name in MANIFEST[section]]

# upstream constructor arguments -> our configuration
_ARG_MAP = {
    "basicsr": {"num_feat": "num_feat", "num_frame": "num_frame", "deformable_groups": "deformable_groups",
                "num_extract_block": "num_extract_block", "num_reconstruct_block": "num_reconstruct_block",
                "with_tsa": "with_tsa", "with_predeblur": "with_predeblur", "hr_in": "hr_in"},
    "original": {"nf": "num_feat", "nframes": "num_frame", "groups": "deformable_groups",
                 "front_RBs": "num_extract_block", "back_RBs": "num_reconstruct_block",
                 "predeblur": "with_predeblur", "HR_in": "hr_in"},
    "mmagic": {"mid_channels": "num_feat", "num_frames": "num_frame", "deform_groups": "deformable_groups",
               "num_blocks_extraction": "num_extract_block", "num_blocks_reconstruction": "num_reconstruct_block",
               "with_tsa": "with_tsa"},
}


def expected_config(section: str, kwargs: dict) -> EDVRConfig:
    mapped = {_ARG_MAP[section][k]: v for k, v in kwargs.items() if k in _ARG_MAP[section]}
    defaults = {"num_feat": 64, "num_frame": 5, "deformable_groups": 8, "num_extract_block": 5,
                "num_reconstruct_block": 10, "with_tsa": True, "with_predeblur": False, "hr_in": False}
    return EDVRConfig(**{**defaults, **mapped})


def meta_state(section: str, name: str) -> dict:
    tensors = {k: torch.empty(shape, device="meta") for k, shape in MANIFEST[section][name]["keys"].items()}
    if section == "mmagic":
        return {"meta": {"mmagic_version": "1.0"}, "state_dict": tensors}
    if section == "basicsr":
        return {"params": tensors}
    return tensors


@pytest.mark.parametrize("section,name", LAYOUTS, ids=[n for _, n in LAYOUTS])
def test_official_layout_recognised(section, name):
    raw = unwrap_container(meta_state(section, name), name)
    canonical, config, naming = describe_state_dict(raw, name)
    assert naming == section
    assert config == expected_config(section, MANIFEST[section][name]["constructor_kwargs"])
    with torch.device("meta"):
        model = EDVR(config)
    check_state_dict(model, canonical, name)
    assert sum(t.numel() for t in canonical.values()) == MANIFEST[section][name]["n_params"]
    # lossless both ways
    back = from_canonical(canonical, naming)
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in raw.items()}


def test_all_21_layouts_present():
    assert len(LAYOUTS) == 21
    assert sum(1 for s, n in LAYOUTS if n.endswith("Stage2.pth")) == 4


@pytest.mark.parametrize("naming", NAMINGS)
def test_conversion_round_trip_from_canonical(naming):
    """canonical -> naming -> canonical is the identity for every published layout's keys."""
    for section, name in LAYOUTS:
        canonical, _, _ = describe_state_dict(unwrap_container(meta_state(section, name)), name)
        there = from_canonical(canonical, naming)
        assert detect_naming(there) == naming
        back, _, _ = describe_state_dict(there, name)
        assert list(back) == list(canonical)


def test_real_tensors_convert_between_namings(tmp_path):
    """A golden model re-saved in each upstream naming loads to the same outputs."""
    model = load_model(GOLDEN / "original_deblur_hrin.pth")
    io = torch.load(GOLDEN / "original_deblur_hrin.io.pt", weights_only=True)
    for naming in ("basicsr", "original"):
        state = from_canonical(model.state_dict(), naming)
        path = tmp_path / f"{naming}.pth"
        torch.save({"params": state} if naming == "basicsr" else state, path)
        again = load_model(path)
        assert again.naming == naming
        with torch.no_grad():
            assert (again(io["input"]) - io["output"]).abs().max().item() < 1e-4


def test_save_load_round_trip(tmp_path):
    model = load_model(GOLDEN / "basicsr_sr_7frames.pth")
    path = save_model(model, tmp_path / "m.safetensors", metadata={"source_sha256": "abc"})
    meta = read_metadata(path)
    assert json.loads(meta["edvr_config"]) == model.config.to_dict()
    assert meta["source_sha256"] == "abc"
    again = load_model(path)
    assert again.config == model.config
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])
    io = torch.load(GOLDEN / "basicsr_sr_7frames.io.pt", weights_only=True)
    with torch.no_grad():
        assert (again(io["input"]) - io["output"]).abs().max().item() < 1e-4


def test_center_frame_survives_save(tmp_path):
    model = EDVR(EDVRConfig(num_feat=8, num_frame=3, deformable_groups=2, num_extract_block=1,
                            num_reconstruct_block=1, center_frame_idx=0))
    again = load_model(save_model(model, tmp_path / "c.safetensors"))
    assert again.center_frame_idx == 0


def test_containers(tmp_path):
    raw = read_state_dict(GOLDEN / "basicsr_sr_tsa.pth")
    for container in ({"params_ema": raw}, {"params": raw, "params_ema": raw},
                      {f"module.{k}": v for k, v in raw.items()}, {"state_dict": {f"generator.{k}": v for k, v in raw.items()}}):
        path = tmp_path / "c.pth"
        torch.save(container, path)
        assert load_model(path).config == load_model(GOLDEN / "basicsr_sr_tsa.pth").config
    assert load_model(raw).naming == "basicsr"  # a state dict in memory


def test_properties():
    sr = load_model(GOLDEN / "basicsr_sr_7frames.pth")
    assert (sr.scale, sr.num_frame, sr.multiple_of, sr.center_frame_idx) == (4, 7, 4, 3)
    hr = load_model(GOLDEN / "original_stage2_hrin.pth")
    assert (hr.scale, hr.multiple_of, hr.config.stage2_form) == (1, 16, True)


# -- rejection ----------------------------------------------------------------------------------------

def test_rejects_image_classifier(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(EDVRCheckpointError, match="not an EDVR checkpoint"):
        load_model(path)


def test_rejects_truncated_file(tmp_path):
    data = (GOLDEN / "basicsr_sr_tsa.pth").read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EDVRCheckpointError, match="truncated or corrupt"):
        load_model(path)


class _Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_rejects_code_executing_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"params": {"x": torch.zeros(1)}, "evil": _Evil()}, path)
    with pytest.raises(EDVRCheckpointError, match="would run code"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()
    raw_pickle = tmp_path / "evil.pkl"
    raw_pickle.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(EDVRCheckpointError):
        load_model(raw_pickle)
    assert not (tmp_path / "PWNED").exists()


def test_rejects_missing_and_extra_tensors():
    raw = dict(read_state_dict(GOLDEN / "basicsr_sr_tsa.pth"))
    missing = {k: v for k, v in raw.items() if k != "fusion.spatial_attn3.weight"}
    with pytest.raises(EDVRCheckpointError, match=r"missing tensor.*fusion\.spatial_attn3\.weight"):
        load_model(missing)
    extra = {**raw, "pcd_align.bogus.weight": torch.zeros(1)}
    with pytest.raises(EDVRCheckpointError, match=r"unexpected tensor.*pcd_align\.bogus\.weight"):
        load_model(extra)


def test_rejects_wrong_shape():
    raw = dict(read_state_dict(GOLDEN / "basicsr_sr_tsa.pth"))
    raw["conv_hr.weight"] = torch.zeros(64, 64, 5, 5)
    with pytest.raises(EDVRCheckpointError, match=r"conv_hr\.weight has shape \(64, 64, 5, 5\)"):
        load_model(raw)


def test_rejects_non_checkpoints(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(EDVRCheckpointError):
        load_model(path)
    with pytest.raises(EDVRCheckpointError, match="not found"):
        load_model(tmp_path / "missing.pth")
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(EDVRCheckpointError, match="no tensors"):
        load_model(tmp_path / "empty.pth")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(EDVRCheckpointError, match="safetensors"):
        load_model(bad_st)
