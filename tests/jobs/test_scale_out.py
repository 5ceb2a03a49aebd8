"""Scale-out: segments as the unit of work, in one process, in local workers and on a local Ray cluster.

Every parallel run must equal the one-worker run frame for frame (same timestamps, same audio),
with the same number of CPU threads per worker (lossless FFV1 output, so encoding cannot differ).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from edvr_cli.cli import main
from edvr_cli.jobs.segplan import SegmentSpec, decode_range, plan_segments
from edvr_cli.jobs.workfolder import work_dir
from edvr_cli.video import probe
from edvr_cli.video.index import frame_index
from edvr_cli.video.timing import output_times

from clips import VFR_PTS_MS, make_clip, packets, pattern_rgb
from conftest import GOLDEN

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
COMMON = ["--model", SR, "--device", "cpu", "--precision", "fp32", "--tile", "0", "--batch", "2", "--threads", "1",
          "--codec", "ffv1", "-q", "--segment-frames", "8"]


# -- pure planning -----------------------------------------------------------------------------------------

def test_plan_segments_covers_the_clip_and_the_last_takes_a_short_tail():
    assert plan_segments(20, 8, 3) == [SegmentSpec(0, 0, 8), SegmentSpec(1, 8, 8), SegmentSpec(2, 16, 4)]
    assert plan_segments(18, 8, 3) == [SegmentSpec(0, 0, 8), SegmentSpec(1, 8, 10)]  # a tail of 2 joins
    assert plan_segments(16, 8, 3) == [SegmentSpec(0, 0, 8), SegmentSpec(1, 8, 8)]
    assert plan_segments(5, 8, 8) == [SegmentSpec(0, 0, 5)]
    assert plan_segments(0, 8, 8) == []
    for total in range(1, 60):
        specs = plan_segments(total, 7, 3)
        assert sum(s.count for s in specs) == total and all(a.stop == b.first for a, b in zip(specs, specs[1:]))


def test_context_and_decode_range():
    # one stage of 5 frames, batches of 8: from the grid point at or before its context, to its context
    # and a batch after
    assert decode_range(SegmentSpec(0, 0, 8), 40, [4], 8) == (0, 24)
    assert decode_range(SegmentSpec(1, 8, 8), 40, [4], 8) == (0, 32)
    assert decode_range(SegmentSpec(3, 24, 6), 30, [4], 8) == (16, 30)


def test_output_times_round_and_stay_increasing():
    ms = Fraction(1, 1000)
    assert output_times([0, 3600, 7200], Fraction(1, 90000), ms) == [0, 40, 80]
    assert output_times([0, 10, 20], Fraction(1, 90000), ms) == [0, 1, 2]  # collisions nudged up
    assert output_times([0, 10], Fraction(1, 90000), ms, floor=5) == [6, 7]


# -- the frame index ----------------------------------------------------------------------------------------

def _open_gop_hevc(path: Path, frames: int = 40) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx265", rate=25, options={
            "x265-params": "keyint=8:min-keyint=8:bframes=3:open-gop=1:log-level=error"})
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(pattern_rgb(i, 32, 24), format="rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def test_frame_index_of_open_gop_hevc_and_vfr(tmp_path):
    hevc = _open_gop_hevc(tmp_path / "og.mkv")
    index = frame_index(hevc, probe(hevc))
    assert index.frames == 40 and index.seekable and len(index.keyframes) >= 5
    assert index.keyframes[:2] == (index.pts[0], index.pts[8])  # keyint 8
    vfr = make_clip(tmp_path / "vfr.mkv", frames=len(VFR_PTS_MS), pts=VFR_PTS_MS, time_base=Fraction(1, 1000))
    index = frame_index(vfr, probe(vfr))
    assert list(index.pts) == list(VFR_PTS_MS) and index.seconds(3) == Fraction(200, 1000)


# -- runs ---------------------------------------------------------------------------------------------------

def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def assert_same_video(a: Path, b: Path) -> None:
    fa, fb = decoded(a), decoded(b)
    assert len(fa) == len(fb) and fa
    assert [p for p, _ in fa] == [p for p, _ in fb]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(fa, fb))
    assert packets(a, "audio") == packets(b, "audio")


@pytest.fixture(scope="module")
def clip_and_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    src = _open_gop_hevc(root / "in.mkv", frames=30)
    with_audio = make_clip(root / "av.mp4", width=32, height=24, frames=30, audio=True)
    refs = {}
    for name, source in (("hevc", src), ("audio", with_audio)):
        out = root / f"ref-{name}.mkv"
        assert main(["upscale", str(source), str(out), "--resume", *COMMON]) == 0
        refs[name] = (source, out)
    return refs


@pytest.mark.slow
@pytest.mark.parametrize("which", ["hevc", "audio"])
def test_two_workers_equal_one(clip_and_reference, tmp_path, which):
    src, ref = clip_and_reference[which]
    out = tmp_path / "two.mkv"
    assert main(["upscale", str(src), str(out), "--workers", "2", *COMMON]) == 0
    assert_same_video(out, ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.mkv"]


@pytest.mark.slow
def test_a_worker_killed_mid_segment_has_its_segment_made_again(clip_and_reference, tmp_path, monkeypatch, capfd):
    src, ref = clip_and_reference["hevc"]
    marker = tmp_path / "crashed"
    monkeypatch.setenv("EDVR_TEST_CRASH_ONCE", str(marker))
    out = tmp_path / "out" / "two.mkv"
    out.parent.mkdir()
    assert main(["upscale", str(src), str(out), "--workers", "2", *COMMON[:-3], "--segment-frames", "8"]) == 0
    assert marker.exists()  # a worker did die
    assert "worker process died" in capfd.readouterr().err
    assert_same_video(out, ref)


@pytest.mark.slow
def test_a_killed_driver_leaves_a_work_folder_the_same_command_finishes(clip_and_reference, tmp_path):
    src, ref = clip_and_reference["hevc"]
    out = tmp_path / "two.mkv"
    args = [sys.executable, "-m", "edvr_cli", "upscale", str(src), str(out), "--workers", "2", *COMMON]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, start_new_session=True)
    manifest = work_dir(out) / "manifest.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if manifest.exists() and json.loads(manifest.read_text() or "{}").get("segments"):
            break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, as a power cut would
    proc.wait(timeout=60)
    assert not out.exists() and work_dir(out).exists()
    assert main(args[3:]) == 0  # the same command
    assert_same_video(out, ref)
    assert not work_dir(out).exists()


@pytest.mark.slow
def test_a_batch_spreads_over_workers(clip_and_reference, tmp_path):
    src, ref = clip_and_reference["hevc"]
    batch = tmp_path / "in"
    batch.mkdir()
    for name in ("a.mkv", "b.mkv"):
        (batch / name).write_bytes(src.read_bytes())
    assert main(["upscale", str(batch), str(tmp_path / "out"), "--workers", "2", *COMMON]) == 0
    for name in ("a.mkv", "b.mkv"):
        assert_same_video(tmp_path / "out" / name, ref)


# -- Ray (a local cluster on 127.0.0.1) -----------------------------------------------------------------------

# Only these tests need Ray (an optional extra): without it they skip, the others above and below still run.
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="needs Ray (pip install 'edvr-cli[ray]')")


@needs_ray
@pytest.mark.slow
def test_cluster_local_equals_one_worker_with_a_worker_killed_and_the_input_shipped(
        clip_and_reference, tmp_path, monkeypatch, capfd):
    """One Ray run: actors receive the input through the object store, one dies mid-segment."""
    src, ref = clip_and_reference["audio"]
    marker = tmp_path / "crashed"
    monkeypatch.setenv("EDVR_TEST_CRASH_ONCE", str(marker))
    monkeypatch.setenv("EDVR_RAY_SHIP", "1")
    out = tmp_path / "ray.mkv"
    assert main(["upscale", str(src), str(out), "--cluster", "local", "--workers", "2", *COMMON]) == 0
    assert marker.exists() and "Ray worker died" in capfd.readouterr().err
    assert_same_video(out, ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crashed", "ray.mkv"]


@needs_ray
@pytest.mark.slow
def test_cluster_local_runs_a_batch(clip_and_reference, tmp_path):
    src, ref = clip_and_reference["hevc"]
    batch = tmp_path / "in"
    batch.mkdir()
    for name in ("a.mkv", "b.mkv"):
        (batch / name).write_bytes(src.read_bytes())
    assert main(["upscale", str(batch), str(tmp_path / "out"), "--cluster", "local", "--workers", "2", *COMMON]) == 0
    for name in ("a.mkv", "b.mkv"):
        assert_same_video(tmp_path / "out" / name, ref)


def test_cluster_address_is_checked_when_parsed(tmp_path, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    rc = main(["upscale", str(src), str(tmp_path / "o.mkv"), "--cluster", "http://x", *COMMON])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1 and "--cluster" in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_to_the_whole_group_mid_parallel_run_is_one_line(clip_and_reference, tmp_path, sig):
    src, ref = clip_and_reference["hevc"]
    out = tmp_path / "two.mkv"
    args = [sys.executable, "-m", "edvr_cli", "upscale", str(src), str(out), "--workers", "2", *COMMON]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)
    manifest = work_dir(out) / "manifest.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (manifest.exists() and '"index"' in manifest.read_text()):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    os.killpg(proc.pid, sig)  # a closed terminal or a service stop reaches every process of the group
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 128 + sig and len(lines) == 1 and lines[0].startswith("edvr: interrupted"), err
    assert main(args[3:]) == 0  # the same command finishes the run
    assert_same_video(out, ref)
