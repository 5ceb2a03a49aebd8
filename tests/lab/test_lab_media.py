"""The lab commands (eval, compare, train data) see frames exactly as `edvr upscale` does, and write
through the output guard.

* one media stack: eval decodes an untagged HD clip with the pipeline's colour rule (BT.709), not
  FFmpeg's default BT.601, and rounds like the pipeline;
* one window loop: ``eval --model`` restores exactly what ``edvr upscale`` writes;
* outputs: never onto a source, nothing left behind by Ctrl-C.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import pytest
import torch

from clips import make_clip, pattern_rgb
from edvr_cli.cli.main import main
from edvr_cli.lab.evaluate import evaluate_dirs
from edvr_cli.lab.metrics import calculate_psnr
from edvr_cli.video import FrameReader, open_writer, probe
from edvr_cli.video.colour import SPC_BT709
from edvr_cli.video.images import iter_clip, quantize8, read_image, write_frames

TINY: dict[str, Any] = {"num_feat": 8, "num_frame": 3, "deformable_groups": 2, "num_extract_block": 1,
                        "num_reconstruct_block": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pipeline_quantise(rgb: np.ndarray) -> np.ndarray:
    """What engine/restorer.py does to a network output: clamp, * 255, round (to even), uint8."""
    return (torch.from_numpy(rgb).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edvr: error:"), err
    return lines[0]


def _identity_deblur_model(path: Path) -> Path:
    """A x1 (deblur-form) network whose output is exactly its centre input frame."""
    from edvr_cli import save_model
    from edvr_cli.model.arch import EDVR, EDVRConfig

    torch.manual_seed(0)
    model = EDVR(EDVRConfig(**TINY, hr_in=True, with_predeblur=True))
    with torch.no_grad():
        for p in model.conv_last.parameters():  # weight and bias
            p.zero_()
    return save_model(model, path)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------------ one media stack


def test_eval_scores_an_untagged_hd_clip_as_the_pipeline_decodes_it(tmp_path):
    clip = make_clip(tmp_path / "hd.mp4", width=1280, height=720, frames=3)
    info = probe(clip)
    assert info.color.matrix == SPC_BT709 and not info.color.matrix_tagged  # untagged: BT.709 by the HD rule
    frames_dir = tmp_path / "decoded"
    with FrameReader(clip, info) as reader, open_writer(frames_dir, info, info.width, info.height) as writer:
        for frame in reader:
            writer.write(_pipeline_quantise(frame.rgb))
    assert len(list(frames_dir.iterdir())) == 3

    report = evaluate_dirs(clip, frames_dir)
    assert report["average"]["psnr"] == float("inf")
    assert report["clips"]["decoded"] == {"psnr": float("inf"), "ssim": pytest.approx(1.0), "frames": 3}

    # the test can fail: FFmpeg's default conversion (BT.601 for untagged video) is another picture
    with av.open(str(clip)) as container:
        bt601 = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert calculate_psnr(bt601, read_image(frames_dir / "00000000.png")) < 40


def test_lab_reader_rounds_like_the_pipeline(tmp_path):
    clip = make_clip(tmp_path / "sd.mp4", frames=2)
    with FrameReader(clip) as reader:
        expected = [_pipeline_quantise(f.rgb) for f in reader]
    got = list(iter_clip(clip))
    assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    halves = np.array([[[0.5 / 255, 1.5 / 255, 2.5 / 255]]], dtype=np.float32)  # ties go to even, as torch
    assert quantize8(halves).tolist() == _pipeline_quantise(halves).tolist()


def test_deblur_identity_output_scores_infinite_against_its_source(tmp_path, capsys):
    # 1280 wide: an untagged clip decoded as BT.709 (FFmpeg's default BT.601 scored 28.8 dB here)
    clip = make_clip(tmp_path / "wide.mp4", width=1280, height=96, frames=3)
    model = _identity_deblur_model(tmp_path / "identity.safetensors")
    out = tmp_path / "restored"
    assert main(["deblur", str(clip), str(out), "--model", str(model), "--tile", "0", "-q"]) == 0
    capsys.readouterr()
    assert main(["eval", "--pred", str(out), "--gt", str(clip), "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["average"]["psnr"] == float("inf") and report["clips"]["wide"]["frames"] == 3


# ---------------------------------------------------------------------------------------- one window loop


def test_eval_model_restores_exactly_what_upscale_writes(tmp_path, capsys):
    from edvr_cli import save_model
    from edvr_cli.model.arch import EDVR, EDVRConfig
    from reference import restore_frames_plain

    torch.manual_seed(1)
    model = save_model(EDVR(EDVRConfig(**TINY)), tmp_path / "m.safetensors")
    clip = make_clip(tmp_path / "in.mp4", width=40, height=28, frames=5)  # not a multiple of 4: padded
    up = tmp_path / "up"
    # (without provenance: eval's saved frames carry no record of a run, so the PNG bytes can be compared)
    assert main(["upscale", str(clip), str(up), "--model", str(model), "-q", "--no-provenance"]) == 0
    saved, report = tmp_path / "saved", tmp_path / "report.json"
    assert main(["eval", "--model", str(model), "--lq", str(clip), "--gt", str(up), "--save", str(saved),
                 "--json", str(report), "--quiet"]) == 0
    result = json.loads(report.read_text())
    assert result["average"]["psnr"] == float("inf") and result["clips"]["up"]["frames"] == 5
    written = sorted((saved / "up").iterdir())
    assert [p.name for p in written] == [f"{i:08d}.png" for i in range(5)]
    assert all(p.read_bytes() == (up / p.name).read_bytes() for p in written)

    # and both are the plain upstream loop (the published padding, reflection_circle for x4 SR)
    from edvr_cli import load_model

    net = load_model(model)
    with FrameReader(clip) as reader:
        lq = torch.stack([torch.from_numpy(f.rgb).permute(2, 0, 1) for f in reader])
    plain = restore_frames_plain(lq, net, "reflection_circle").numpy()
    ours = np.stack(list(iter_clip(saved / "up")))
    assert np.abs(plain.astype(int) - ours).max() <= 1 and (plain == ours).mean() > 0.999
    capsys.readouterr()


def test_model_runner_uses_the_published_padding(tmp_path):
    from edvr_cli import save_model
    from edvr_cli.lab.evaluate import model_runner
    from edvr_cli.model.arch import EDVR, EDVRConfig

    sharp = save_model(EDVR(EDVRConfig(**TINY)), tmp_path / "sharp.safetensors")
    blurry = save_model(EDVR(EDVRConfig(**TINY, with_predeblur=True)), tmp_path / "blur.safetensors")
    assert model_runner(str(sharp), device="cpu").padding == "reflection_circle"
    assert model_runner(str(blurry), device="cpu").padding == "replicate"
    assert model_runner(str(blurry), device="cpu", padding="circle").padding == "circle"


def test_eval_model_refuses_frames_too_small_for_the_model_as_deblur_does(tmp_path, capsys):
    """4x4 frames for a network that pads to multiples of 16: one line from both commands."""
    model = _identity_deblur_model(tmp_path / "identity.safetensors")
    lq = tmp_path / "tiny"
    write_frames(lq, [pattern_rgb(k, 16, 16)[:4, :4] for k in range(3)])
    assert main(["deblur", str(lq), str(tmp_path / "deblurred"), "--model", str(model), "-q"]) == 1
    deblur_line = _one_error_line(capsys)
    assert main(["eval", "--model", str(model), "--lq", str(lq), "--gt", str(lq), "--save", str(tmp_path / "s")]) == 1
    eval_line = _one_error_line(capsys)
    assert "too small for this model" in eval_line and eval_line == deblur_line
    assert not (tmp_path / "s").exists() or _temporaries(tmp_path / "s") == []


# ------------------------------------------------------------------------------------------------ outputs


@pytest.fixture
def two_clips(tmp_path) -> tuple[Path, Path]:
    return make_clip(tmp_path / "a.mp4", frames=6), make_clip(tmp_path / "b.mp4", frames=6, fps=30)


def test_compare_refuses_to_write_onto_a_source(two_clips, tmp_path, capsys):
    a, b = two_clips
    before = b.read_bytes()
    rc = main(["compare", str(a), str(b), "-o", str(b), "--video", "--overwrite"])
    assert rc != 0
    assert "is the input" in _one_error_line(capsys)
    assert b.read_bytes() == before
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("previous", [False, True], ids=["new", "replacing"])
def test_interrupted_compare_leaves_nothing(two_clips, tmp_path, monkeypatch, capsys, previous):
    import edvr_cli.lab.compare as compare_module

    a, b = two_clips
    out = tmp_path / "cmp.mp4"
    if previous:
        assert main(["compare", str(a), str(b), "-o", str(out), "--video"]) == 0
        old = out.read_bytes()
    real = compare_module.iter_clip

    def interrupted(path, max_frames=None):
        for i, frame in enumerate(real(path, max_frames)):
            if i == 3:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(compare_module, "iter_clip", interrupted)
    rc = main(["compare", str(a), str(b), "-o", str(out), "--video", "--overwrite"])
    assert rc == 130
    assert "interrupted" in capsys.readouterr().err
    if previous:
        assert out.read_bytes() == old
    else:
        assert not out.exists()
    assert _temporaries(tmp_path) == []


def test_compare_video_is_written_and_replaced_only_with_overwrite(two_clips, tmp_path, capsys):
    a, b = two_clips
    out = tmp_path / "cmp.mp4"
    assert main(["compare", str(a), str(b), "-o", str(out), "--video", "--fps", "12"]) == 0
    info = probe(out)
    assert (info.width, info.height, info.num_frames, info.fps) == (64, 48, 6, 12)
    capsys.readouterr()
    before = out.read_bytes()
    assert main(["compare", str(a), str(b), "-o", str(out), "--video"]) == 1
    assert "already exists" in _one_error_line(capsys)
    assert out.read_bytes() == before


def test_eval_json_and_saves_go_through_the_guard(tmp_path, capsys):
    gt = make_clip(tmp_path / "gt.mp4", frames=3)
    pred = tmp_path / "pred"
    write_frames(pred, iter_clip(gt))
    # onto an input: refused even with --overwrite, the input untouched
    before = gt.read_bytes()
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(gt), "--overwrite"]) == 1
    assert "is the input" in _one_error_line(capsys)
    assert gt.read_bytes() == before
    # an existing report: refused before the work, replaced with --overwrite
    report = tmp_path / "r.json"
    report.write_text("old")
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(report)]) == 1
    assert "already exists" in _one_error_line(capsys)
    assert report.read_text() == "old"
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(report), "--overwrite", "-q"]) == 0
    assert json.loads(report.read_text())["average"]["psnr"] == float("inf")
    # --save into a folder holding someone else's file: refused, the file kept
    save = tmp_path / "save"
    (save / "pred").mkdir(parents=True)
    (save / "pred" / "notes.txt").write_text("mine")
    rc = main(["eval", "--model", "bicubic", "--lq", str(pred), "--gt", str(pred), "--save", str(save),
               "--overwrite"])
    assert rc == 1 and "did not write" in _one_error_line(capsys)
    assert (save / "pred" / "notes.txt").read_text() == "mine"
    assert _temporaries(tmp_path) == [] and _temporaries(save) == []


# ---------------------------------------------------------------------------------- mixed image formats


def _write_still(path: Path, rgb: np.ndarray) -> None:
    codec, pix_fmt = {".png": ("png", "rgb24"), ".jpg": ("mjpeg", "yuvj444p"), ".bmp": ("bmp", "bgr24")}[path.suffix]
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))
    ctx.width, ctx.height, ctx.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    path.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))


def test_mixed_image_formats_decode_each_image_by_its_own_rules(tmp_path, capsys):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for k, ext in enumerate((".png", ".jpg", ".bmp")):
        _write_still(mixed / f"{k}{ext}", pattern_rgb(k, 32, 24))
    one_by_one = [read_image(p) for p in (mixed / "0.png", mixed / "1.jpg", mixed / "2.bmp")]
    assert all(np.array_equal(a, b) for a, b in zip(iter_clip(mixed), one_by_one, strict=True))
    singles = tmp_path / "singles"
    write_frames(singles, one_by_one)
    assert evaluate_dirs(mixed, singles)["average"]["psnr"] == float("inf")
    assert main(["compare", str(mixed), str(singles), "-o", str(tmp_path / "cmp.png"), "--frame", "1"]) == 0


def test_training_compression_round_trips_through_the_video_stack():
    """Degradations decode with the exact BT.601 formulas: a flat colour comes back within one level."""
    from edvr_cli.lab.degrade import jpeg_compress, video_compress

    flat = torch.tensor([200, 120, 40], dtype=torch.float32).view(1, 3, 1, 1).expand(2, 3, 32, 48) / 255
    for out in (video_compress(flat, crf=0), jpeg_compress(flat, qscale=2)):
        assert out.shape == flat.shape
        levels = out * 255
        assert torch.equal(levels, levels.round())  # 8-bit levels, like the pipeline's frames
        assert (levels - flat * 255).abs().max() <= 1
