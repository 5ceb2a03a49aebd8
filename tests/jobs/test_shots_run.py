"""Shot-aware windows, span edges and --strength in real runs: each shot restored as if it were the
whole video, a span's edge frames as a whole run makes them, strength 0 and 1 exactly their ends."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clips import make_clip
from clips import scene_rgb as scene
from edvr_cli.cli import main

TINY = ["--model", "edvr-tiny", "--device", "cpu", "--precision", "fp32", "--tile", "0", "--batch", "1",
        "--threads", "1", "-q"]


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for k, rgb in enumerate(frames):
        codec = av.CodecContext.create("png", "w")
        codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        (folder / f"{k:04d}.png").write_bytes(b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)]))
    return folder


def read_frames(folder: Path) -> list[np.ndarray]:
    out = []
    for f in sorted(folder.iterdir()):
        with av.open(str(f)) as c:
            out.append(next(c.decode(video=0)).to_ndarray(format="rgb24"))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scenes")
    a = [scene(0, k, 32, 24) for k in range(7)]
    b = [scene(1, k, 32, 24) for k in range(6)]
    long = [scene(1, k, 32, 24) for k in range(14)]
    return {"joined": write_frames(root / "joined", a + b), "a": write_frames(root / "a", a),
            "b": write_frames(root / "b", b), "long": write_frames(root / "long", a + long)}


def upscale(src: Path, dst: Path, *extra: str) -> list[np.ndarray]:
    assert main(["upscale", str(src), str(dst), *TINY, *extra]) == 0
    return read_frames(dst)


@pytest.mark.slow
def test_each_shot_is_restored_as_if_it_were_the_whole_video(scenes, tmp_path):
    alone = upscale(scenes["a"], tmp_path / "a") + upscale(scenes["b"], tmp_path / "b")
    auto = upscale(scenes["joined"], tmp_path / "auto")
    off = upscale(scenes["joined"], tmp_path / "off", "--shots", "off")
    assert len(auto) == len(off) == len(alone) == 13
    assert all(np.array_equal(x, y) for x, y in zip(auto, alone, strict=True))
    near = range(5, 9)  # the 2 frames either side of the cut
    assert min(psnr(off[k], alone[k]) for k in near) < 60  # crossing the cut costs something
    assert all(np.array_equal(off[k], alone[k]) for k in range(13) if k not in range(3, 11))
    # a cut file naming the same cut (frame 7 at 0.28 s: image sequences run at 25 fps) is the same
    (tmp_path / "cuts.txt").write_text("# my edit\n00:00:00.280\n")
    listed = upscale(scenes["joined"], tmp_path / "file", "--shots", str(tmp_path / "cuts.txt"))
    assert all(np.array_equal(x, y) for x, y in zip(listed, alone, strict=True))


@pytest.mark.slow
def test_segments_agree_with_one_pass_and_end_at_known_cuts(scenes, tmp_path, capfd):
    whole = upscale(scenes["joined"], tmp_path / "whole", "--no-resume")
    seg = upscale(scenes["joined"], tmp_path / "seg", "--resume", "--segment-frames", "4")
    assert all(np.array_equal(x, y) for x, y in zip(seg, whole, strict=True))
    (tmp_path / "cuts.txt").write_text("0.28\n")
    cuts = ["--shots", str(tmp_path / "cuts.txt")]
    capfd.readouterr()
    assert main(["upscale", str(scenes["long"]), str(tmp_path / "plan"), *TINY, *cuts, "--resume",
                 "--segment-frames", "4", "--dry-run"]) == 0
    out = capfd.readouterr().out
    assert "shots: 1 cut from 'cuts.txt'" in out
    assert "4 segment(s) (1 ending at a scene cut) of 4 frames" in out  # 4 + 3 (to the cut) + 4 + 10
    whole = upscale(scenes["long"], tmp_path / "long", "--no-resume")
    listed = upscale(scenes["long"], tmp_path / "listed", *cuts, "--resume", "--segment-frames", "4")
    assert all(np.array_equal(x, y) for x, y in zip(listed, whole, strict=True))


def test_shots_only_lists_the_cuts_as_a_file_reads_them(scenes, tmp_path, capfd):
    assert main(["upscale", str(scenes["joined"]), str(tmp_path / "never"), "--shots-only", *TINY]) == 0
    out = capfd.readouterr().out.splitlines()
    assert out[0].startswith("# 1 cut in 'joined' (2 shots)")
    assert out[1] == "00:00.280  # frame 7"
    assert not (tmp_path / "never").exists()
    (tmp_path / "cuts.txt").write_text("\n".join(out) + "\n")
    assert main(["upscale", str(scenes["joined"]), str(tmp_path / "x"), "--shots", str(tmp_path / "cuts.txt"),
                 "--dry-run", *TINY]) == 0
    assert "shots: 1 cut from 'cuts.txt'" in capfd.readouterr().out


@pytest.mark.parametrize("content, message", [
    (None, "--shots: cannot read"),
    ("0.5\nabc\n", "line 2: cannot read time 'abc'"),
    (b"\xff\xfe\x00bad", "is not a text file of cut times"),
])
def test_a_bad_cut_file_is_one_line(scenes, tmp_path, capfd, content, message):
    cuts = tmp_path / "cuts.txt"
    if isinstance(content, bytes):
        cuts.write_bytes(content)
    elif content is not None:
        cuts.write_text(content)
    assert main(["upscale", str(scenes["joined"]), str(tmp_path / "out"), "--shots", str(cuts), *TINY]) != 0
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edvr: error:") and message in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_span_uses_the_frames_around_it_as_a_whole_run_does(tmp_path):
    """Item 8 of issue 19: the first and last frames of --start/--end use their real neighbours."""
    src = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="yuv444p", width=32, height=24, frames=20)
    whole = upscale(src, tmp_path / "whole")
    span = upscale(src, tmp_path / "span", "--start", "0.2", "--end", "0.6")
    assert len(span) == 10
    assert all(np.array_equal(x, y) for x, y in zip(span, whole[5:15], strict=True))
    resumed = upscale(src, tmp_path / "resumed", "--start", "0.2", "--end", "0.6", "--resume",
                      "--segment-frames", "4")
    assert all(np.array_equal(x, y) for x, y in zip(resumed, whole[5:15], strict=True))
    edge = upscale(src, tmp_path / "edge", "--start", "0.04")  # one frame before the span: fewer neighbours
    assert all(np.array_equal(x, y) for x, y in zip(edge, whole[1:], strict=True))


def test_strength_zero_is_the_bicubic_upscale_and_one_the_model(scenes, tmp_path):
    src = scenes["a"]
    full = upscale(src, tmp_path / "full")
    one = upscale(src, tmp_path / "one", "--strength", "1")
    zero = upscale(src, tmp_path / "zero", "--strength", "0")
    half = upscale(src, tmp_path / "half", "--strength", "0.5")
    assert all(np.array_equal(x, y) for x, y in zip(one, full, strict=True))
    for k, rgb in enumerate(read_frames(src)):
        t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        bic = F.interpolate(t, scale_factor=4, mode="bicubic", align_corners=False)
        expect = (bic.clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        assert np.array_equal(zero[k], expect)
        h = half[k].astype(np.int32)
        assert 0 < np.abs(h - full[k]).mean() < np.abs(zero[k].astype(np.int32) - full[k]).mean()
        assert 0 < np.abs(h - zero[k]).mean()


def test_the_dry_run_names_the_report_and_refuses_what_the_run_refuses(scenes, tmp_path, capfd):
    assert main(["upscale", str(scenes["a"]), str(tmp_path / "out"), "--report", str(tmp_path / "r"),
                 "--dry-run", *TINY]) == 0
    assert "report: r.json and r.html, written after the run" in capfd.readouterr().out
    assert main(["upscale", str(scenes["a"]), "-", "--report", str(tmp_path / "r"), "--dry-run", *TINY]) != 0
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--report reads the input and the output again" in err[0]
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "out").exists()
