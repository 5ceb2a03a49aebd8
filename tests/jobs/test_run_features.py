"""Run features: --size/--scale, --dry-run, honest progress."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from edvr_cli.cli import main
from edvr_cli.display import RateMeter
from edvr_cli.engine.resize import parse_size, plan_output_size, resample, size_alignment
from edvr_cli.jobs.run import restore_video
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.video import probe

from clips import make_clip
from conftest import GOLDEN

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
FAST = ["--model", SR, "--device", "cpu", "--precision", "fp32", "--tile", "0", "-q"]


# -- --size / --scale --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [("1920x1080", (1920, 1080)), ("1920x-1", (1920, -1)), ("-1:720", (-1, 720))])
def test_parse_size(text, want):
    assert parse_size(text) == want


@pytest.mark.parametrize("text", ["1920", "-1x-1", "0x10", "axb", "10x10x10"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_plan_output_size():
    assert plan_output_size(320, 180, 4) == (1280, 720)
    assert plan_output_size(320, 180, 4, size=(1920, -1), align=2) == (1920, 1080)
    assert plan_output_size(321, 181, 4, size=(-1, 1080), align=2) == (1916, 1080)  # 1915.0 rounded to even
    assert plan_output_size(320, 180, 4, scale=3) == (960, 540)
    assert plan_output_size(33, 21, 4, scale=1.5, align=2) == (50, 32)
    with pytest.raises(ValueError, match="outside"):
        plan_output_size(320, 180, 4, scale=4.5)
    with pytest.raises(ValueError, match="not both"):
        plan_output_size(320, 180, 4, size=(100, 100), scale=2)
    with pytest.raises(ValueError, match="multiple of 2"):
        plan_output_size(320, 180, 4, size=(1001, 500), align=2)
    assert size_alignment("420") == 2 and size_alignment("444") == 1 and size_alignment("420", "yuv444p") == 1


def test_resample_is_antialiased_when_shrinking():
    stripes = torch.zeros(1, 3, 60, 60)
    stripes[..., ::3] = 1.0  # a fine pattern of mean 1/3: must average out, not alias into bands
    small = resample(stripes, (12, 12))
    assert small.shape == (1, 3, 12, 12)
    assert (small - 1 / 3).abs().max() < 0.05
    aliased = torch.nn.functional.interpolate(stripes, size=(12, 12), mode="bicubic", align_corners=False)
    assert (aliased - 1 / 3).abs().max() > 0.2  # what a resize without antialiasing does


def test_size_option_resizes_the_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4)
    out = tmp_path / "o.mkv"
    assert main(["upscale", str(src), str(out), "--size", "100x-1", *FAST]) == 0
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (100, 76)
        assert sum(1 for _ in c.decode(s)) == 4


def test_scale_option_and_resampled_model_output_agree(tmp_path):
    """--scale 2 equals the x4 output resampled to half size (same filter), within one code value."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4, pix_fmt="yuv444p")
    full, half = tmp_path / "full", tmp_path / "half"
    assert main(["upscale", str(src), str(full), *FAST]) == 0
    assert main(["upscale", str(src), str(half), "--scale", "2", *FAST]) == 0
    from edvr_cli.video import read_frames

    a = [f.rgb for f in read_frames(half)]
    b = [f.rgb for f in read_frames(full)]
    assert a[0].shape == (48, 64, 3) and b[0].shape == (96, 128, 3)
    down = resample(torch.from_numpy(np.stack(b)).permute(0, 3, 1, 2), (48, 64)).clamp(0, 1)
    ref = (down * 255).round().permute(0, 2, 3, 1).numpy() / 255
    assert np.abs(np.stack(a) - ref).max() <= 2 / 255  # `full` was quantised once more before resampling


@pytest.mark.parametrize("args", [["--scale", "5"], ["--scale", "nan"], ["--scale", "0"], ["--size", "0x10"],
                                  ["--size", "33x-1", "--pix-fmt", "yuv420p"], ["--scale", "0.0001"],
                                  ["--size", "2x2"], ["--size", "8x-1"]])
def test_bad_size_or_scale_is_one_line(tmp_path, capfd, args):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), *args, *FAST])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1 and lines[0].startswith("edvr: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


# -- --dry-run -----------------------------------------------------------------------------------------

def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=6, audio=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), "--dry-run", "--size", "96x-1", *FAST])
    out = capfd.readouterr().out
    assert rc == 0
    assert "input: in.mp4: h264 32x24 yuv420p 8-bit, 25 fps, 6 frames, audio" in out
    assert "colour: smpte170m (assumed: untagged, under 720 lines), limited range" in out
    assert "model: basicsr_sr_tsa (x4, 5 frames, centre 2, padding reflection_circle, basicsr naming" in out
    assert "output: o.mp4: 96x72, encoder libx264 crf 17" in out
    assert "run: one pass" in out and out.rstrip().endswith("nothing was written (--dry-run)")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_dry_run_runs_the_real_checks(tmp_path, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    (tmp_path / "o.mp4").write_bytes(b"mine")
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), "--dry-run", *FAST])
    assert rc != 0 and "already exists" in capfd.readouterr().err
    assert (tmp_path / "o.mp4").read_bytes() == b"mine"


def test_dry_run_of_a_model_not_downloaded_downloads_nothing(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("EDVR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EDVR_OFFLINE", "1")
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    assert main(["upscale", str(src), str(tmp_path / "o.mp4"), "--dry-run", "--device", "cpu"]) == 0
    out = capfd.readouterr().out
    assert "model: EDVR_L_x4_SR_REDS" in out and "not downloaded yet" in out
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.safetensors"))


# -- progress ------------------------------------------------------------------------------------------

def test_rate_meter_waits_for_enough_history_and_ignores_resumed_frames():
    now = [0.0]
    meter = RateMeter(window=10, min_span=1, clock=lambda: now[0])
    meter.update(300)  # a resumed run starts at frame 300: not frames made now
    assert meter.rate is None and meter.eta(300, 1000) is None
    now[0] = 0.5
    meter.update(301)
    assert meter.rate is None  # half a second is not enough to measure
    for i in range(2, 21):
        now[0] = 0.5 * i
        meter.update(300 + i)
    assert meter.rate == pytest.approx(2.0)
    assert meter.eta(320, 1000) == pytest.approx(340.0)
    now[0] = 30.0
    meter.update(400)  # the window slides: the rate is the recent one
    assert meter.rate == pytest.approx((400 - 320) / (30.0 - 10.0), rel=0.2)


def test_progress_reports_the_total_before_the_first_frame(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)
    calls: list[tuple[int, int | None]] = []
    restore_video(src, tmp_path / "o.mp4", RestoreSettings(model=SR, device="cpu", tile=0, quiet=True),
                  on_progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)


def test_size_names_the_displayed_size_of_a_rotated_clip(tmp_path):
    """``--size 48x-1`` on a clip stored 32x24 and shown turned by 90 degrees (24x32 on screen) makes it
    48x64 on screen, stored 64x48 with the rotation kept, as ffmpeg's rotate-then-scale does."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2, rotation=90)
    out = tmp_path / "o.mp4"
    assert main(["upscale", str(src), str(out), "--size", "48x-1", *FAST]) == 0
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (64, 48)
    assert probe(out).rotation == 90
