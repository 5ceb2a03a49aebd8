"""Output formats: every listed video extension writable (or refused up front), GIF, YUV4MPEG2 and stdout."""

from __future__ import annotations

import io
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import VFR_PTS_MS, make_clip, pattern_rgb
from edvr_cli.errors import EDVRError
from edvr_cli.video import FrameReader, open_writer, probe
from edvr_cli.video.colour import RANGE_FULL
from edvr_cli.video.paths import VIDEO_EXTENSIONS
from edvr_cli.video.writer import check_writable, open_stdout_writer

#: PSNR floor of GIF frames against the RGB written, on :func:`scene_rgb` (smooth sky + moving disk).
#: Measured: 47.6-47.8 dB (64x48 and 160x120); FFmpeg's fixed 3-3-2 palette (rgb8) gives 19.7 dB.
GIF_PSNR_DB = 40.0


def scene_rgb(i: int, w: int, h: int) -> np.ndarray:
    """A smooth sky gradient with a moving, slowly recoloured disk (footage-like colour statistics)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sky = np.stack([60 + 80 * y / h, 120 + 60 * y / h, 200 + 40 * x / w], -1)
    disk = ((x - (8 + 3 * i) % w) ** 2 + (y - h / 2) ** 2) < (h / 5) ** 2
    sky[disk] = [220, 140 + 4 * i, 40]
    return np.clip(sky, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def transcode(src: Path, dst, **options):
    info = probe(src)
    with FrameReader(src, info) as reader, open_writer(dst, info, info.width, info.height, **options) as writer:
        for frame in reader:
            writer.write(np.rint(frame.rgb * 255).astype(np.uint8), frame.pts, frame.time_base)
    return writer


def y4m_header(data: bytes) -> list[str]:
    return data.split(b"\n", 1)[0].decode().split(" ")


@pytest.mark.parametrize("ext", sorted(VIDEO_EXTENSIONS))
def test_every_listed_video_extension_is_writable_and_reads_back(tmp_path, ext):
    check_writable(tmp_path / f"out{ext}")  # before any work: no exception, no file
    assert not (tmp_path / f"out{ext}").exists()
    src = make_clip(tmp_path / "in.mp4", frames=6, audio=True)
    writer = transcode(src, tmp_path / f"out{ext}")
    assert writer.frames_written == 6
    with av.open(str(tmp_path / f"out{ext}")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (64, 48)


def test_unwritable_outputs_are_refused_up_front_in_one_line(tmp_path):
    for bad, why in [("out.webm", "cannot hold"), ("out.gif", "cannot hold")]:
        with pytest.raises(EDVRError, match=why) as caught:
            check_writable(tmp_path / bad, codec="h264")
        assert "\n" not in str(caught.value)
    with pytest.raises(EDVRError, match="no encoder"):
        check_writable(tmp_path / "out.mkv", codec="nosuchcodec")
    check_writable("-")
    check_writable(tmp_path / "frames")  # a PNG frame folder


# -- GIF -----------------------------------------------------------------------------------------


def write_gif(path: Path, frames: int, pts_ms, size=(64, 48), scene=scene_rgb):
    src = make_clip(path.with_suffix(".src.mkv"), frames=frames, width=size[0], height=size[1], pts=pts_ms)
    info = probe(src)
    written = [scene(i, *size) for i in range(frames)]
    with open_writer(path, info, *size) as writer:
        for i, rgb in enumerate(written):
            writer.write(rgb, pts_ms[i], Fraction(1, 1000))
    return writer, written


def test_gif_has_a_good_palette_and_keeps_frame_delays(tmp_path):
    writer, written = write_gif(tmp_path / "out.gif", len(VFR_PTS_MS), VFR_PTS_MS)
    assert writer.encoder_description == "encoder: gif palette per clip, pal8"
    with av.open(str(tmp_path / "out.gif")) as container:
        stream = container.streams.video[0]
        decoded = [(f.pts * f.time_base, f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    assert len(decoded) == len(written)
    scores = [psnr(rgb, ref) for (_, rgb), ref in zip(decoded, written, strict=True)]
    assert min(scores) > GIF_PSNR_DB, scores
    # GIF stores delays in 1/100 s: every frame starts at its source time rounded to 10 ms
    assert [t for t, _ in decoded] == [Fraction(round(ms / 10), 100) for ms in VFR_PTS_MS]


def test_gif_palette_beats_a_fixed_palette_on_hard_content(tmp_path):
    """Every RGB channel varying on its own (36,864 colours): measured 22.8 dB against 21.2 dB for rgb8."""
    pts = [40 * i for i in range(12)]
    _, written = write_gif(tmp_path / "hard.gif", 12, pts, scene=pattern_rgb)
    with av.open(str(tmp_path / "hard.gif")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    fixed = [av.VideoFrame.from_ndarray(r, format="rgb24").reformat(format="rgb8").to_ndarray(format="rgb24")
             for r in written]
    ours = min(psnr(a, b) for a, b in zip(decoded, written, strict=True))
    assert ours > max(psnr(a, b) for a, b in zip(fixed, written, strict=True)) + 1


def test_gif_palette_sample_is_bounded(tmp_path, monkeypatch):
    import edvr_cli.video.gif as gif

    monkeypatch.setattr(gif, "PALETTE_SAMPLE_FRAMES", 3)
    pts = [40 * i for i in range(10)]
    writer, written = write_gif(tmp_path / "out.gif", 10, pts)
    with av.open(str(tmp_path / "out.gif")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 10
    assert min(psnr(a, b) for a, b in zip(decoded, written, strict=True)) > GIF_PSNR_DB - 10  # palette of the sample
    small = gif.GifPalettizer(7680, 4320, Fraction(1, 25))
    assert small.sample_frames == 2  # 8K frames: 2 held (256 MiB), never the clip


# -- YUV4MPEG2 and stdout ------------------------------------------------------------------------


def test_y4m_file_is_yuv4mpeg2_with_range_and_interlacing_tags(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=4, color_range=RANGE_FULL, pix_fmt="yuv422p",
                    options={"crf": "12", "flags": "+ildct", "top": "1"})
    writer = transcode(src, tmp_path / "out.y4m")
    assert writer.encoder_description == "encoder: rawvideo lossless, yuv422p"
    data = (tmp_path / "out.y4m").read_bytes()
    header = y4m_header(data)
    assert header[:4] == ["YUV4MPEG2", "W64", "H48", "F25:1"]
    assert "C422" in header and "XCOLORRANGE=FULL" in header
    assert "It" in header  # top field first, as the source
    assert data.count(b"FRAME") == 4 and writer.stream_summary == []


def test_y4m_keeps_10_bit(tmp_path):
    src = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="yuv420p10le", frames=3)
    info = probe(src)
    with FrameReader(src, info) as reader, open_writer(tmp_path / "o.y4m", info, 64, 48) as writer:
        for frame in reader:
            writer.write(np.rint(frame.rgb * 65535).astype(np.uint16), frame.pts, frame.time_base)
    header = y4m_header((tmp_path / "o.y4m").read_bytes())
    # the source has no range tag: neither has the output (as ffmpeg writes it; readers assume limited, as we did)
    assert "C420p10" in header and not any(tag.startswith("XCOLORRANGE") for tag in header)


def test_stdout_writer_writes_only_yuv4mpeg2_to_a_file_object(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=5, audio=True)
    info = probe(src)
    sink = io.BytesIO()
    warnings: list[str] = []
    with FrameReader(src, info) as reader, open_stdout_writer(info, 64, 48, stdout=sink,
                                                              on_warning=warnings.append) as writer:
        for frame in reader:
            writer.write(np.rint(frame.rgb * 255).astype(np.uint8), frame.pts, frame.time_base)
    data = sink.getvalue()
    assert data.startswith(b"YUV4MPEG2 W64 H48 F25:1 ") and data.count(b"FRAME") == 5
    assert len(data) == len(data.split(b"\n", 1)[0]) + 1 + 5 * (6 + 64 * 48 * 3 // 2)
    assert writer.label == "standard output"
    with av.open(io.BytesIO(data), format="yuv4mpegpipe") as container:
        assert len(list(container.decode(video=0))) == 5


def test_open_writer_dash_writes_to_fd_1_and_nothing_else(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=4)
    script = f"""
import numpy as np
from edvr_cli.video import FrameReader, open_writer, probe
info = probe({str(src)!r})
with FrameReader(info.path, info) as reader, open_writer("-", info, 64, 48, copy_streams=False) as writer:
    for frame in reader:
        writer.write(np.rint(frame.rgb * 255).astype(np.uint8), frame.pts, frame.time_base)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, check=True)
    assert done.stdout.startswith(b"YUV4MPEG2 W64 H48 F25:1 ") and done.stdout.count(b"FRAME") == 4
    with av.open(io.BytesIO(done.stdout), format="yuv4mpegpipe") as container:
        assert [f.pts for f in container.decode(video=0)] == [0, 1, 2, 3]


def test_stdout_reader_that_exits_early_is_one_clear_error(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=4, width=640, height=480)
    script = f"""
import sys, numpy as np
from edvr_cli.errors import EDVRError
from edvr_cli.video import probe, open_writer
info = probe({str(src)!r})
try:
    with open_writer("-", info, 640, 480, copy_streams=False) as writer:
        for i in range(200):
            writer.write(np.zeros((480, 640, 3), np.uint8))
except EDVRError as e:
    print("ERROR:", e, file=sys.stderr)
    sys.exit(3)
"""
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.read(1000)
    writer.stdout.close()  # the reading program goes away
    err = writer.stderr.read().decode()
    assert writer.wait(timeout=120) == 3, err
    assert "ERROR: cannot write to standard output: the reading program closed the pipe" in err
