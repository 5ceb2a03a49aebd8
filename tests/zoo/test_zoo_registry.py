"""The registry: every published model, consistent with the official checkpoint layouts."""

from __future__ import annotations

import json
import re

import pytest
from conftest import FIXTURES

from edvr_cli.zoo import registry as registry_mod
from edvr_cli.zoo.registry import (
    ModelEntry,
    Registry,
    close_matches,
    default_padding,
    default_registry,
)

BASICSR = [
    "EDVR_L_x4_SR_REDS",
    "EDVR_M_x4_SR_REDS",
    "EDVR_M_woTSA_x4_SR_REDS",
    "EDVR_L_x4_SRblur_REDS",
    "EDVR_L_deblur_REDS",
    "EDVR_L_deblurcomp_REDS",
    "EDVR_L_x4_SR_Vimeo90K",
]
MMAGIC = ["MMagic_EDVR_M_x4_REDS", "MMagic_EDVR_M_woTSA_x4_REDS", "MMagic_EDVR_L_x4_REDS", "MMagic_EDVR_L_woTSA_x4_REDS"]
STAGE2 = ["EDVR_REDS_SR_Stage2", "EDVR_REDS_SRblur_Stage2", "EDVR_REDS_deblur_Stage2", "EDVR_REDS_deblurcomp_Stage2"]

# manifest constructor arguments -> our (BasicSR) config names
ORIGINAL_KEYS = {
    "nf": "num_feat",
    "nframes": "num_frame",
    "groups": "deformable_groups",
    "front_RBs": "num_extract_block",
    "back_RBs": "num_reconstruct_block",
    "predeblur": "with_predeblur",
    "HR_in": "hr_in",
    "w_TSA": "with_tsa",
}
MMAGIC_KEYS = {
    "mid_channels": "num_feat",
    "num_frames": "num_frame",
    "deform_groups": "deformable_groups",
    "num_blocks_extraction": "num_extract_block",
    "num_blocks_reconstruction": "num_reconstruct_block",
    "with_tsa": "with_tsa",
}
DEFAULTS = {"with_tsa": True, "with_predeblur": False, "hr_in": False}


@pytest.fixture(scope="module")
def reg() -> Registry:
    return default_registry()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((FIXTURES / "official_key_manifest.json").read_text())


def published(reg: Registry) -> list[ModelEntry]:
    """Entries of published checkpoints (bundled models such as edvr-tiny aside)."""
    return [e for e in reg if not e.bundled]


def test_every_published_model_is_listed(reg):
    assert [e.name for e in published(reg)] == BASICSR + MMAGIC + STAGE2


def test_bundled_entries_ship_their_file(reg):
    for e in reg:
        if e.bundled:
            assert e.bundled_path().is_file() and not e.sources, e.name


def test_entries_are_well_formed(reg):
    for e in reg:
        assert e.task in registry_mod.TASKS
    for e in published(reg):
        assert e.padding == default_padding(e.task), e.name
        assert e.scale == (4 if e.task in ("sr", "srblur") else 1), e.name
        assert e.frames == e.config["num_frame"]
        assert e.scale == (1 if e.config["hr_in"] else 4)
        assert e.file and e.naming
        if e.name in STAGE2:
            assert e.sources == () and e.sha256 is None and e.import_only
            assert reg.get(e.stage1) is not None and reg.stage2_for(e.stage1) is e
        else:
            # the file name's 8-hex suffix is the start of its SHA-256
            assert e.sha256 == re.search(r"-([0-9a-f]{8})\.pth$", e.file).group(1)
            # upstream sources only: no made-up mirror (a Hugging Face repo is used only when one is named)
            assert [s.kind for s in e.sources] == (["url"] if e.name in MMAGIC else ["gdrive"]), e.name
    for name in MMAGIC:
        url = reg.get(name).sources[-1].url
        assert url == "https://download.openmmlab.com/mmediting/restorers/edvr/" + reg.get(name).file
    for name in BASICSR:
        assert reg.get(name).sources[-1].kind == "gdrive"


# Google Drive ids from BasicSR's scripts/download_pretrained_models.py (shared/EDVR_NOTES.md)
DRIVE_IDS = {
    "EDVR_L_x4_SR_REDS": "127KXEjlCwfoPC1aXyDkluNwr9elwyHNb",
    "EDVR_M_x4_SR_REDS": "1dd6aFj-5w2v08VJTq5mS9OFsD-wALYD6",
    "EDVR_M_woTSA_x4_SR_REDS": "1C_WdN-NyNj-P7SOB5xIVuHl4EBOwd-Ny",
    "EDVR_L_x4_SRblur_REDS": "1GZz_87ybR8eAAY3X2HWwI3L6ny7-5Yvl",
    "EDVR_L_deblur_REDS": "1_ma2tgHscZtkIY2tEJkVdU-UP8bnqBRE",
    "EDVR_L_deblurcomp_REDS": "1fEoSeLFnHSBbIs95Au2W197p8e4ws4DW",
    "EDVR_L_x4_SR_Vimeo90K": "1aVR3lkX6ItCphNLcT7F5bbbC484h4Qqy",
}


def test_sources_are_the_upstream_ones(reg):
    assert {name: reg.get(name).sources[0].id for name in BASICSR} == DRIVE_IDS
    assert not any(s.kind == "hf" for e in reg for s in e.sources)
    with pytest.raises(ValueError, match="repo"):
        ModelEntry.from_dict({**reg.get("EDVR_M_x4_SR_REDS").to_dict(), "sources": [{"kind": "hf"}]})


def test_padding_follows_the_published_test_settings(reg):
    assert reg.get("EDVR_L_x4_SR_REDS").padding == "reflection_circle"
    assert reg.get("EDVR_L_x4_SR_Vimeo90K").padding == "reflection_circle"
    assert reg.get("EDVR_REDS_SR_Stage2").padding == "reflection_circle"
    for name in ("EDVR_L_x4_SRblur_REDS", "EDVR_L_deblur_REDS", "EDVR_L_deblurcomp_REDS", "EDVR_REDS_deblur_Stage2"):
        assert reg.get(name).padding == "replicate"


def test_published_scores(reg):
    assert reg.get("EDVR_L_x4_SR_REDS").scores[0].short() == "REDS4 31.09"
    vimeo = reg.get("EDVR_L_x4_SR_Vimeo90K").scores
    assert [(s.dataset, s.channel, s.psnr) for s in vimeo] == [("Vid4", "Y", 27.35), ("Vid4", "RGB", 25.83)]
    assert reg.get("MMagic_EDVR_L_x4_REDS").scores[0].psnr == pytest.approx(31.0467)


def _manifest_config(section: str, kwargs: dict) -> dict:
    table = {"basicsr": None, "original": ORIGINAL_KEYS, "mmagic": MMAGIC_KEYS}[section]
    config = dict(DEFAULTS)
    for k, v in kwargs.items():
        key = table.get(k) if table else k
        if key:
            config[key] = v
    return config


def test_registry_agrees_with_the_official_key_manifest(reg, manifest):
    checked = 0
    for section, files in manifest.items():
        for file_name, layout in files.items():
            entry = reg.by_file_name(file_name)
            if entry is None:
                continue  # the original repository's stage-1 files: same weights as BasicSR's
            expected = _manifest_config(section, layout["constructor_kwargs"])
            assert entry.config == expected, file_name
            assert entry.frames == expected["num_frame"]
            assert entry.scale == (1 if expected["hr_in"] else 4)
            assert entry.params == layout["n_params"]
            assert entry.naming == section
            checked += 1
    assert checked == len(published(reg))


def test_lookups(reg):
    assert reg.get("edvr_l_x4_sr_reds").name == "EDVR_L_x4_SR_REDS"
    assert "EDVR_M_x4_SR_REDS" in reg
    assert reg.by_sha256("9f5f5039" + "0" * 56).name == "EDVR_L_x4_SR_REDS"
    assert reg.by_sha256("0" * 64) is None
    assert close_matches("EDVR_L_x4_SR_RED", reg.names())[0] == "EDVR_L_x4_SR_REDS"
    assert "EDVR_L_x4_SR_Vimeo90K" in close_matches("vimeo", reg.names())


def test_round_trip_and_validation(reg):
    again = Registry.from_json(reg.to_json())
    assert [e.to_dict() for e in again] == [e.to_dict() for e in reg]
    good = reg.get("EDVR_M_x4_SR_REDS").to_dict()
    for bad in (
        {**good, "task": "denoise"},
        {**good, "sha256": "xyz"},
        {**good, "sources": [{"kind": "ftp"}]},
        {**good, "sha256": None},  # downloadable but unverifiable
        {**good, "bundled": "../escape.safetensors"},
        {**good, "name": "a b"},
    ):
        with pytest.raises(ValueError):
            ModelEntry.from_dict(bad)
    with pytest.raises(ValueError, match="duplicate"):
        Registry([reg.get("EDVR_M_x4_SR_REDS"), ModelEntry.from_dict({**good, "name": "edvr_m_x4_sr_reds"})])


def test_a_bundled_entry_needs_no_source():
    entry = ModelEntry.from_dict(
        {"name": "edvr-tiny", "task": "sr", "scale": 4, "frames": 5, "bundled": "edvr-tiny.safetensors"}
    )
    assert entry.bundled_path() == registry_mod.weights_dir() / "edvr-tiny.safetensors"
    assert not entry.import_only and not entry.downloadable and entry.padding == "reflection_circle"
