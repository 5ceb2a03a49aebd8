"""`edvr upscale` / `edvr deblur` end to end on clips PyAV writes in the test, with the golden checkpoints."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from edvr_cli import load_model
from edvr_cli.cli import main
from edvr_cli.errors import EDVRError, ModelKindError, OutputExistsError
from edvr_cli.jobs.run import restore_video
from edvr_cli.jobs.settings import RestoreSettings
from reference import restore_frames_plain
from edvr_cli.video import FrameReader

from clips import VFR_PTS_MS, has_encoder, make_clip, packets, truncate, write_image_folder, write_not_video
from conftest import GOLDEN

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
DEBLUR = str(GOLDEN / "basicsr_deblur_hrin.pth")
STAGE2 = str(GOLDEN / "original_stage2_hrin.pth")


def settings(**kw) -> RestoreSettings:
    base = dict(model=SR, device="cpu", precision="fp32", tile=0, quiet=True, batch=1)  # failure injection counts forwards
    base.update(kw)
    return RestoreSettings(**base)


def read_rgb8(path: Path) -> np.ndarray:
    with FrameReader(path) as reader:
        return np.stack([np.rint(f.rgb * 255).astype(np.uint8) for f in reader])


def decoded_input(path: Path) -> torch.Tensor:
    with FrameReader(path) as reader:
        return torch.stack([torch.from_numpy(f.rgb).permute(2, 0, 1) for f in reader])


def plain_loop(model, frames: torch.Tensor, padding: str) -> np.ndarray:
    return restore_frames_plain(frames, model, padding).numpy()


def cli(*args: str) -> int:
    return main(list(args))


# -- exactness ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(32, 24), (30, 22)])  # (w, h); the second is not a multiple of 4
def test_output_equals_plain_sliding_window(tmp_path, size):
    src = make_clip(tmp_path / "in.mp4", width=size[0], height=size[1], frames=7)
    out = tmp_path / "frames"
    result = restore_video(src, out, settings())
    assert result.frames == 7
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:08d}.png" for i in range(7)]
    got = read_rgb8(out)
    assert got.shape == (7, size[1] * 4, size[0] * 4, 3)
    ref = plain_loop(load_model(SR), decoded_input(src), "reflection_circle")
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def test_clip_shorter_than_window(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    out = tmp_path / "frames"
    restore_video(src, out, settings())
    ref = plain_loop(load_model(SR), decoded_input(src), "reflection_circle")
    assert np.abs(read_rgb8(out).astype(int) - ref.astype(int)).max() <= 1


def test_deblur_hr_in_pads_to_16(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=40, height=24, frames=3)
    out = tmp_path / "frames"
    restore_video(src, out, settings(task="deblur", model=DEBLUR))
    got = read_rgb8(out)
    assert got.shape == (3, 24, 40, 3)
    ref = plain_loop(load_model(DEBLUR), decoded_input(src), "replicate")
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def test_two_stage_matches_manual_composition(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)
    out = tmp_path / "frames"
    restore_video(src, out, settings(stage2=STAGE2, padding="replicate"))
    stage1 = plain_loop(load_model(SR), decoded_input(src), "replicate")  # quantised to 8 bits
    stage1_f = torch.from_numpy(stage1).permute(0, 3, 1, 2).float() / 255
    ref = plain_loop(load_model(STAGE2), stage1_f, "replicate")
    got = read_rgb8(out)
    assert got.shape == (5, 96, 128, 3)
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


# -- timing and streams ---------------------------------------------------------------------------------

def _stream_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        return {
            "pts": [f.pts * f.time_base for f in frames],
            "size": (v.codec_context.width, v.codec_context.height),
            "pix_fmt": v.codec_context.pix_fmt,
            "types": sorted(s.type for s in c.streams),
            "colorspace": v.codec_context.colorspace,
            "color_range": v.codec_context.color_range,
            "color_primaries": v.codec_context.color_primaries,
            "color_trc": v.codec_context.color_trc,
        }


def test_vfr_audio_subtitles_survive_in_mkv(tmp_path):
    src = make_clip(tmp_path / "in.mkv", width=32, height=24, frames=len(VFR_PTS_MS), pts=VFR_PTS_MS,
                    audio=True, subtitles=[(0, 300, "hello"), (400, 300, "world")])
    out = tmp_path / "out.mkv"
    restore_video(src, out, settings())
    a, b = _stream_facts(src), _stream_facts(out)
    assert b["pts"] == a["pts"] and len(b["pts"]) == len(VFR_PTS_MS)
    assert b["size"] == (128, 96)
    assert b["types"] == a["types"] == ["audio", "subtitle", "video"]
    assert [p for _, p in packets(out, "audio")] == [p for _, p in packets(src, "audio")]
    assert packets(out, "subtitle") == packets(src, "subtitle")


def test_stream_the_container_cannot_hold_is_converted_and_reported(tmp_path):
    src = make_clip(tmp_path / "in.mkv", width=32, height=24, frames=4, audio=True, subtitles=[(0, 100, "hi")])
    out = tmp_path / "out.mp4"
    result = restore_video(src, out, settings())
    assert result.streams == ["subtitle #2 subrip [eng] → mov_text (mp4 cannot hold subrip)"]
    assert _stream_facts(out)["types"] == ["audio", "subtitle", "video"]


def test_bt709_tags_carried(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=3, colorspace=1, color_range=1,
                    color_primaries=1, color_trc=1)
    out = tmp_path / "out.mp4"
    restore_video(src, out, settings())
    b = _stream_facts(out)
    assert (b["colorspace"], b["color_range"], b["color_primaries"], b["color_trc"]) == (1, 1, 1, 1)


@pytest.mark.skipif(not has_encoder("libx265"), reason="no libx265 encoder in this FFmpeg build")
def test_ten_bit_stays_ten_bit(tmp_path):
    src = make_clip(tmp_path / "in.mkv", codec="libx265", pix_fmt="yuv420p10le", width=32, height=24, frames=3)
    out = tmp_path / "out.mkv"
    restore_video(src, out, settings())
    assert _stream_facts(out)["pix_fmt"] == "yuv420p10le"


def test_image_sequence_natural_order(tmp_path):
    folder = write_image_folder(tmp_path / "seq", ["1.png", "2.png", "10.png"], width=32, height=24)
    out = tmp_path / "out"
    restore_video(folder, out, settings())
    assert sorted(p.name for p in out.iterdir()) == ["00000000.png", "00000001.png", "00000002.png"]


def test_truncated_video_restored_up_to_last_frame(tmp_path):
    src = make_clip(tmp_path / "in.mkv", width=32, height=24, frames=20)
    truncate(src, 0.6)
    out = tmp_path / "out.mkv"
    warnings: list[str] = []
    result = restore_video(src, out, settings(), on_warning=warnings.append)
    assert 0 < result.frames < 20
    assert warnings and out.exists()


# -- safety ---------------------------------------------------------------------------------------------

def test_existing_output_never_replaced_without_overwrite(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        restore_video(src, out, settings())
    assert out.read_bytes() == b"precious"
    restore_video(src, out, settings(overwrite=True))
    assert out.read_bytes() != b"precious"


def test_failure_mid_run_leaves_nothing(tmp_path, monkeypatch):
    from edvr_cli.engine import restorer

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=8)
    out = tmp_path / "out.mp4"
    real = restorer.StreamRestorer._quantize
    calls = {"n": 0}

    def failing(self, x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, x)

    monkeypatch.setattr(restorer.StreamRestorer, "_quantize", failing)
    with pytest.raises(KeyboardInterrupt):
        restore_video(src, out, settings())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_wrong_model_kind(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=32, frames=2)
    with pytest.raises(ModelKindError, match="x1 model"):
        restore_video(src, tmp_path / "a.mp4", settings(task="upscale", model=DEBLUR))
    with pytest.raises(ModelKindError, match="x4 model"):
        restore_video(src, tmp_path / "b.mp4", settings(task="deblur", model=SR))
    with pytest.raises(ModelKindError, match="stage-2"):
        restore_video(src, tmp_path / "c.mp4", settings(stage2=SR))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("case", ["missing", "not_video", "unknown_model", "bad_model", "bad_option", "exists"])
def test_bad_input_one_line_nonzero_no_traceback(tmp_path, case, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    out = tmp_path / "out.mp4"
    args = ["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "-q"]
    if case == "missing":
        args[1] = str(tmp_path / "nope.mp4")
    elif case == "not_video":
        args[1] = str(write_not_video(tmp_path / "fake.mp4"))
    elif case == "unknown_model":
        args[4] = "EDVR_XXL_x4_SR_MARS"
    elif case == "bad_model":
        bad = tmp_path / "bad.pth"
        bad.write_bytes(b"\x00" * 100)
        args[4] = str(bad)
    elif case == "bad_option":
        args += ["--padding", "mirror"]
    elif case == "exists":
        out.write_bytes(b"x")
    rc = cli(*args)
    captured = capfd.readouterr()
    assert rc != 0
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edvr: error:"), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    if case != "exists":
        assert not out.exists()


@pytest.mark.slow
def test_console_script_in_a_pipe(tmp_path):
    """The installed `edvr` command: stdout stays clean when not a terminal; exit code 0."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=3)
    exe = Path(sys.executable).with_name("edvr")
    proc = subprocess.run([str(exe), "upscale", str(src), str(tmp_path / "out.mp4"), "--model", SR,
                           "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "wrote" in proc.stderr and "\x1b[" not in proc.stderr  # no live bar drawn into a pipe
    bad = subprocess.run([str(exe), "upscale", str(tmp_path / "none.mp4"), "x.mp4"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# -- batch ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_batch_skips_reports_and_continues(tmp_path, capfd):
    videos = tmp_path / "in"
    videos.mkdir()
    make_clip(videos / "a.mp4", width=32, height=24, frames=2)
    make_clip(videos / "b.mkv", width=32, height=24, frames=2)
    write_not_video(videos / "broken.mp4")
    (videos / "sub").mkdir()
    make_clip(videos / "sub" / "c.mp4", width=32, height=24, frames=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.mkv").write_bytes(b"already here")
    rc = cli("upscale", str(videos), str(out), "--model", SR, "--device", "cpu", "--recursive")
    err = capfd.readouterr().err
    assert rc == 1
    assert (out / "a.mp4").exists() and (out / "sub" / "c.mp4").exists()
    assert (out / "b.mkv").read_bytes() == b"already here"
    assert not (out / "broken.mp4").exists()
    assert "broken.mp4" in err and "skipped" in err and "failed" in err
    assert not [p for p in out.rglob("*") if ".edvr-tmp-" in p.name]


@pytest.mark.parametrize("resume", [False, True])
def test_non_finite_outputs_are_counted_in_one_warning(tmp_path, monkeypatch, resume):
    """fp16 overflow turns pixels into NaN (written as black): the run says how many, once."""
    from edvr_cli.model.arch import EDVR

    real = EDVR.fuse_and_reconstruct

    def overflowing(self, feats, centre):
        out = real(self, feats, centre)
        out[:, :, :2, :3] = float("nan")
        return out

    monkeypatch.setattr(EDVR, "fuse_and_reconstruct", overflowing)
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=6)
    warnings: list[str] = []
    settings = RestoreSettings(model=str(GOLDEN / "basicsr_sr_tsa.pth"), device="cpu", quiet=True, resume=resume,
                               segment_frames=4, batch=1)
    restore_video(src, tmp_path / "o.mkv", settings, on_warning=warnings.append)
    said = [w for w in warnings if "not finite" in w]
    assert said == ["108 output values were not finite and were written as black (the model gives NaN or "
                    "infinity: is its checkpoint damaged?)"]
