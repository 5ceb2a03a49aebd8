"""The stream features end to end through the command: spans, interlaced input, pipes, strict streams."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import av
import pytest

from clips import make_clip, make_interlaced_clip
from conftest import GOLDEN
from edvr_cli.cli import main

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
FAST = ["--model", SR, "--device", "cpu", "--precision", "fp32", "--tile", "0", "-q"]


def _times(path, kind: str) -> list[Fraction]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [p.pts * p.time_base for p in c.demux(stream) if p.size and p.pts is not None]


def test_a_span_restores_only_it_with_audio_trimmed_and_times_from_zero(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=20, audio=True)
    out = tmp_path / "part.mp4"
    assert main(["upscale", str(src), str(out), "--start", "0.2", "--end", "00:00:00.600", *FAST]) == 0
    video = sorted(_times(out, "video"))
    assert len(video) == 10 and video[0] == 0 and video[-1] == Fraction(36, 100)
    audio = _times(out, "audio")
    frame = Fraction(1024, 48000)
    # the span falls inside audio packets: re-encoded and cut to the sample, so the first packet holds the
    # encoder's priming (one AAC frame, at -21 ms, skipped by players as with ffmpeg) and the audio ends with
    # the span (the last packet's padding is trimmed by the edit list)
    assert audio[0] == -frame
    assert abs((audio[-1] + frame) - Fraction(4, 10)) <= frame


@pytest.mark.parametrize("bad", ["1:2:3:4", "-5", "abc"])
def test_a_bad_time_is_one_line(tmp_path, capfd, bad):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4)
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), "--start", bad, *FAST])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1 and "--start" in lines[0]


def test_interlaced_input_is_deinterlaced_and_flagged_progressive(tmp_path):
    src = make_interlaced_clip(tmp_path / "tv.mp4", frames=6)
    out = tmp_path / "d.mkv"
    # deblurring keeps the height: without deinterlacing the output would stay interlaced
    deblur = str(GOLDEN / "basicsr_deblur_hrin.pth")
    assert main(["deblur", str(src), str(out), "--model", deblur, "--device", "cpu", "--tile", "0", "-q"]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.field_order in ("progressive", 1, "unknown", None)
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_interlaced_input_left_alone_is_said(tmp_path, capfd):
    src = make_interlaced_clip(tmp_path / "tv.mp4", frames=4)
    assert main(["upscale", str(src), str(tmp_path / "o.mkv"), "--deinterlace", "off", *FAST]) == 0
    assert "--deinterlace" in capfd.readouterr().err


def test_field_mode_doubles_the_frames(tmp_path):
    src = make_interlaced_clip(tmp_path / "tv.mp4", frames=4)
    out = tmp_path / "o.mkv"
    assert main(["upscale", str(src), str(out), "--deinterlace", "field", *FAST]) == 0
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8


def test_pipes_in_and_out(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)
    y4m = tmp_path / "in.y4m"
    with av.open(str(src)) as inp, av.open(str(y4m), "w", format="yuv4mpegpipe") as out:
        s = out.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for f in inp.decode(video=0):
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    cmd = [sys.executable, "-m", "edvr_cli", "upscale", "-", "-", *FAST]
    done = subprocess.run(cmd, stdin=y4m.open("rb"), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"YUV4MPEG2 W128 H96 ")
    assert done.stdout.count(b"FRAME") == 5
    assert list(tmp_path.iterdir()) and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "in.y4m"]


def test_strict_streams_refuses_before_any_work(tmp_path, capfd):
    src = make_clip(tmp_path / "in.mkv", width=32, height=24, frames=4, audio=True, subtitles=[(0, 100, "hi")])
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), "--strict-streams", *FAST])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1 and "mov_text" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_a_resumable_matroska_output_records_the_frame_rate(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=10)
    out = tmp_path / "o.mkv"
    assert main(["upscale", str(src), str(out), "--resume", "--segment-frames", "4", *FAST]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 25  # not 1000 (the Matroska time base)
