"""Input features: interlaced footage (bwdif), spans (--start/--end with seeking), stdin pipes, honest warnings."""

from __future__ import annotations

import io
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from clips import (
    VFR_PTS_MS,
    has_encoder,
    interlace_scene,
    make_clip,
    make_interlaced_clip,
    make_open_gop_clip,
    make_ts_with_reset,
    pattern_rgb,
    truncate,
    woven_rgb,
    write_image_folder,
    y4m_bytes,
)
from edvr_cli.errors import EDVRError, InputError, SpanError, UsageError
from edvr_cli.video import FrameReader, probe
from edvr_cli.video.filters import Deinterlacer
from edvr_cli.video.pipes import open_stdin
from edvr_cli.video.span import check_span, format_time, parse_time


def comb(rgb: np.ndarray) -> float:
    """Mean absolute difference between adjacent lines, in 8-bit levels (combing makes it large)."""
    y = rgb.astype(np.float64).mean(axis=-1)
    return float(np.abs(y[1:] - y[:-1]).mean() * (255 if rgb.dtype != np.uint8 else 1))


def bar_centre(rgb: np.ndarray) -> float:
    """Column of the centre of the bright bar of :func:`clips.interlace_scene`."""
    cols = np.where(rgb[:, :, 0].mean(axis=0) > 0.6)[0]
    return float(cols.min() + cols.max()) / 2


def read_all(path, **kwargs):
    seen: list[str] = []
    with FrameReader(path, on_warning=seen.append, **kwargs) as reader:
        frames = list(reader)
    assert seen == reader.warnings
    return frames, reader


# -- 1. interlaced footage ------------------------------------------------------------------------


@pytest.mark.parametrize("ext,tff", [("mp4", True), ("mkv", False), ("ts", True)])
def test_probe_detects_interlacing_and_field_order(tmp_path, ext, tff):
    info = probe(make_interlaced_clip(tmp_path / f"i.{ext}", tff=tff))
    assert (info.interlaced, info.field_order) == (True, "tff" if tff else "bff")
    plain = probe(make_clip(tmp_path / f"p.{ext}"))
    assert (plain.interlaced, plain.field_order) == (False, "progressive")


def test_the_test_clip_is_combed():
    woven = woven_rgb(3, 64, 48)
    assert np.array_equal(woven[0::2], interlace_scene(3, 64, 48)[0::2])
    assert np.array_equal(woven[1::2], interlace_scene(3.5, 64, 48)[1::2])
    # measured: 7.41 levels woven against 0.73 for a progressive picture of the same scene
    assert comb(woven) > 9 * comb(interlace_scene(3, 64, 48))


@pytest.mark.parametrize("tff", [True, False])
def test_bwdif_removes_the_combing_at_frame_rate(tmp_path, tff):
    src = make_interlaced_clip(tmp_path / "i.mkv", tff=tff)
    combed, off = read_all(src, deinterlace="off")
    clean, auto = read_all(src)  # 'auto' is the default
    assert len(clean) == len(combed) == 12
    assert [f.pts for f in clean] == [f.pts for f in combed] == [40 * k for k in range(12)]
    assert clean[0].time_base == Fraction(1, 1000)
    before = np.mean([comb(f.rgb) for f in combed])
    after = np.mean([comb(f.rgb) for f in clean])
    # measured: 9.26 (tff) / 9.27 (bff) levels before, 0.85 / 0.86 after (the scene itself: 0.73)
    assert before > 9 and after < 1 and before / after > 10
    # each frame shows the moment of its first field: the bar at 8 + 6 t (while it is fully in view)
    assert [bar_centre(f.rgb) for f in clean[:8]] == [8 + 6 * k for k in range(8)]
    assert auto.deinterlaced and auto.field_order == "progressive" and auto.warnings == []
    assert not off.deinterlaced and off.field_order == ("tff" if tff else "bff")


def test_field_mode_gives_one_frame_per_field_at_double_rate(tmp_path):
    src = make_interlaced_clip(tmp_path / "i.mp4")
    info = probe(src)
    frames, reader = read_all(src, deinterlace="field")
    assert info.time_base == Fraction(1, 12800) and reader.time_base == Fraction(1, 25600)
    assert (reader.fps, reader.num_frames, len(frames)) == (50, 24, 24)
    assert [f.pts for f in frames] == [512 * k for k in range(24)]  # fields exactly half a frame apart
    assert all(f.time_base == Fraction(1, 25600) for f in frames)
    assert [f.time for f in frames[:3]] == [0, Fraction(1, 50), Fraction(2, 50)]
    assert [bar_centre(f.rgb) for f in frames[:17]] == [8 + 3 * k for k in range(17)]  # moments t/2
    assert np.mean([comb(f.rgb) for f in frames]) < 1


def test_off_warns_once_naming_the_option(tmp_path):
    src = make_interlaced_clip(tmp_path / "i.mkv")
    _, reader = read_all(src, deinterlace="off")
    assert reader.warnings == [
        "'i.mkv' is interlaced (top field first) and is read without deinterlacing, so its combing is "
        "restored as detail; use --deinterlace auto to remove it"
    ]


def test_progressive_input_is_untouched_by_auto_and_filtered_by_on(tmp_path):
    src = make_clip(tmp_path / "p.mp4")
    plain, off = read_all(src, deinterlace="off")
    auto_frames, auto = read_all(src)
    assert not auto.deinterlaced and off.warnings == auto.warnings == []
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(plain, auto_frames, strict=True))
    forced, on = read_all(src, deinterlace="on")
    assert on.deinterlaced and len(forced) == len(plain)
    assert [f.pts for f in forced] == [f.pts for f in plain]
    assert not all(np.array_equal(a.rgb, b.rgb) for a, b in zip(plain, forced, strict=True))


def test_deinterlacer_pts_and_flags_directly(tmp_path):
    src = make_interlaced_clip(tmp_path / "i.mkv", frames=4)
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
    assert all(f.interlaced_frame for f in decoded)
    d = Deinterlacer(Fraction(1, 1000), field=True, parity="tff")
    assert d.args == "mode=send_field:parity=tff:deint=all"
    out = [o for f in decoded for o in d.push(f)] + d.flush()
    assert [o.pts for o in out] == [0, 40, 80, 120, 160, 200, 240, 280]  # in 1/2000
    assert not any(o.interlaced_frame for o in out)


def test_bad_deinterlace_value_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="--deinterlace must be one of auto, on, off, field"):
        FrameReader(make_clip(tmp_path / "p.mkv", frames=2), deinterlace="yes")


# -- 2. spans -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,seconds", [
    ("90", Fraction(90)),
    ("90.5", Fraction(181, 2)),
    ("0.1", Fraction(1, 10)),
    (".25", Fraction(1, 4)),
    ("1500ms", Fraction(3, 2)),
    ("250000us", Fraction(1, 4)),
    ("2s", Fraction(2)),
    ("1:30", Fraction(90)),
    ("01:02.5", Fraction(125, 2)),
    ("00:01:02.500", Fraction(125, 2)),
    ("1:00:00", Fraction(3600)),
    ("100:00:00.001", Fraction(360_000_001, 1000)),
    (" 5 ", Fraction(5)),
])
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text,message", [
    ("", "the time is empty"),
    ("-5", "time '-5' is negative"),
    ("1:60", "minutes or seconds of 60 or more"),
    ("1:75:00", "minutes or seconds of 60 or more"),
    ("abc", "cannot read time 'abc'; give seconds (90.5, 1500ms) or a clock time (1:30, 00:01:30.5)"),
    ("1:2:3:4", "cannot read time"),
    ("5 min", "cannot read time"),
])
def test_parse_time_refuses_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_time(text)


def test_check_span():
    assert check_span(None, None) is None
    assert check_span("1:00", None) == (Fraction(60), None)
    assert check_span(None, 2.5) == (Fraction(0), Fraction(5, 2))
    assert check_span(0.1, Fraction(1, 2)) == (Fraction(1, 10), Fraction(1, 2))
    with pytest.raises(SpanError, match=r"--end 00:01\.000 is not after --start 00:02\.000"):
        check_span(2, 1)
    with pytest.raises(SpanError, match=r"--start 00:05\.000 is at or after the end of the video \(00:00\.480\)"):
        check_span(5, None, Fraction(12, 25))
    with pytest.raises(SpanError, match="--start: cannot read time 'x'"):
        check_span("x", None)
    with pytest.raises(SpanError, match="negative"):
        check_span(-1, None)
    assert issubclass(SpanError, EDVRError) and format_time(Fraction(3725, 1)) == "1:02:05.000"


def _times(frames):
    return [(f.pts - frames[0].pts) * f.time_base for f in frames]


def _check_spans(src, starts, *, context=(2, 1), length=4, deinterlace="auto"):
    """Every span [frame i, frame i + length) read by seeking equals the same frames of a full decode."""
    full, _ = read_all(src, deinterlace=deinterlace)
    times = _times(full)
    info = probe(src)
    seeked = 0
    for i in starts:
        j = min(len(full), i + length)
        end = times[j] if j < len(full) else None
        frames, reader = read_all(src, info=info, start=times[i], end=end, deinterlace=deinterlace,
                                  context_before=context[0], context_after=context[1])
        seeked += reader.seeked
        lo, hi = max(0, i - context[0]), min(len(full), j + context[1])
        expected = full[lo:hi]
        assert len(frames) == len(expected), (src.name, i)
        for got, want in zip(frames, expected, strict=True):
            assert np.array_equal(got.rgb, want.rgb), (src.name, i, want.index)  # bit-exact
        assert [f.index for f in frames] == list(range(lo - i, hi - i))
        assert [f.context for f in frames] == [not i <= k < j for k in range(lo, hi)]
        assert [f.pts for f in frames] == [w.pts - full[i].pts for w in expected]  # 0 at the span's first frame
        assert reader.shift == info.origin + times[i] and reader.warnings == []
    return seeked


@pytest.mark.skipif(not has_encoder("libx265"), reason="no libx265 in this FFmpeg build")
@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_spans_of_an_open_gop_hevc_clip_are_bit_exact(tmp_path, ext):
    src = make_open_gop_clip(tmp_path / f"og.{ext}", frames=48)
    with av.open(str(src)) as container:  # the clip really has leading pictures after its keyframes
        packets = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]
    keys = [k for k, (_, key) in enumerate(packets) if key]
    assert len(keys) == 4 and any(packets[k + 1][0] < packets[k][0] for k in keys[1:])
    seeked = _check_spans(src, [0, 1, 11, 12, 13, 20, 23, 24, 25, 30, 36, 40, 44, 47])
    assert seeked >= 9  # spans far enough from the start were reached by seeking


def test_spans_of_an_open_gop_h264_clip_are_bit_exact(tmp_path):
    src = make_open_gop_clip(tmp_path / "og.mp4", codec="libx264", frames=48)
    assert _check_spans(src, [5, 12, 13, 24, 25, 35, 45], context=(3, 2)) >= 4


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_spans_of_a_vfr_clip_are_bit_exact(tmp_path, ext):
    pts = [p + 1000 * k for k in range(3) for p in VFR_PTS_MS]  # 36 irregular frames over 2.8 s
    src = make_clip(tmp_path / f"vfr.{ext}", pts=pts, frames=len(pts), options={"x264-params": "keyint=6:bframes=2"})
    assert _check_spans(src, range(0, 36, 3), context=(2, 2), length=5) >= 6


def test_spans_of_interlaced_footage_keep_bwdif_exact(tmp_path):
    src = make_interlaced_clip(tmp_path / "i.mkv", frames=60)
    assert _check_spans(src, [20, 33, 45], context=(1, 1)) == 3
    assert _check_spans(src, [61, 90], context=(1, 1), deinterlace="field") == 2


def test_span_seeks_instead_of_decoding_from_the_start(tmp_path):
    src = make_clip(tmp_path / "long.mkv", frames=120, options={"x264-params": "keyint=12"})
    info = probe(src, start="00:03.2", end=4)
    assert info.span == (Fraction(16, 5), Fraction(4)) and info.expected_frames == 20
    assert info.source_span == (Fraction(16, 5), Fraction(4))
    frames, reader = read_all(src, info=info)
    assert reader.seeked and reader.frames_decoded <= 20 + 12 + 12  # not the 100 frames before the span
    assert len(frames) == 20 and [f.pts for f in frames] == [40 * k for k in range(20)]
    assert reader.num_frames == 20 and reader.shift == Fraction(16, 5)


def test_span_on_the_container_timeline_of_a_stream_starting_late(tmp_path):
    src = make_clip(tmp_path / "late.ts", frames=50)  # MPEG-TS video starts at 0.08 s (7200 / 90 kHz)
    info = probe(src, start=1)
    assert info.start_time == 7200 and info.source_span == (Fraction(27, 25), None)
    frames, reader = read_all(src, info=info)
    assert len(frames) == 25 and frames[0].pts == 0 and reader.shift == Fraction(27, 25)
    assert reader.span == (1, None) and reader.source_span == (Fraction(27, 25), None)


def test_span_past_the_end_is_refused(tmp_path):
    src = make_clip(tmp_path / "c.mkv", frames=12)
    with pytest.raises(SpanError, match="at or after the end of the video"):
        probe(src, start=2)
    with pytest.raises(SpanError, match="not after"):
        FrameReader(src, start=0.3, end=0.2)


def test_span_of_an_image_folder(tmp_path):
    folder = write_image_folder(tmp_path / "seq", [f"{k}.png" for k in range(10)])
    frames, _ = read_all(folder, start=Fraction(4, 25), end=Fraction(7, 25), context_before=1)
    assert [(f.index, f.pts, f.context) for f in frames] == [
        (-1, -1, True), (0, 0, False), (1, 1, False), (2, 2, False)]
    assert [round(float(f.rgb[0, 0, 2]) * 255) for f in frames] == [(17 * k) % 256 for k in (3, 4, 5, 6)]


# -- 3. pipes -------------------------------------------------------------------------------------


class _Pipe(io.RawIOBase):
    """A forward-only byte stream (no seeking), handing out at most 1000 bytes a read like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def stdin_y4m():
    """Put a YUV4MPEG2 stream on (this process's view of) standard input."""
    def feed(data: bytes) -> None:
        open_stdin(_Pipe(data))

    return feed


def test_stdin_probe_keeps_the_first_frame_for_the_reader(tmp_path, stdin_y4m):
    data = y4m_bytes([pattern_rgb(k, 64, 48) for k in range(6)])
    file = tmp_path / "same.y4m"
    file.write_bytes(data)
    from_file, _ = read_all(file)
    stdin_y4m(data)
    info = probe("-")
    assert (info.is_pipe, info.width, info.height, info.fps, info.num_frames, info.label) == (
        True, 64, 48, 25, None, "standard input")
    frames, reader = read_all("-", info=info)
    assert len(frames) == 6 and [f.pts for f in frames] == list(range(6))
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(frames, from_file, strict=True))
    with pytest.raises(InputError, match="standard input was already read; a pipe can be read only once"):
        list(reader)


@pytest.mark.parametrize("interlacing,tags,interlaced,order,full", [
    ("p", "C420jpeg", False, "progressive", False),  # C420jpeg is chroma siting, not range
    ("t", "C420jpeg XCOLORRANGE=FULL", True, "tff", True),
    ("b", "C420mpeg2 XCOLORRANGE=LIMITED", True, "bff", False),
])
def test_stdin_honours_y4m_range_and_interlacing(stdin_y4m, interlacing, tags, interlaced, order, full):
    stdin_y4m(y4m_bytes([pattern_rgb(k, 64, 48) for k in range(4)], interlacing=interlacing, tags=tags))
    info = probe("-")
    assert (info.interlaced, info.field_order, info.color.full_range) == (interlaced, order, full)
    frames, reader = read_all("-", info=info)
    assert len(frames) == 4 and reader.deinterlaced == interlaced


def test_stdin_span_decodes_and_drops(stdin_y4m):
    stdin_y4m(y4m_bytes([pattern_rgb(k, 64, 48) for k in range(10)]))
    frames, reader = read_all("-", start=Fraction(4, 25), end=Fraction(6, 25), context_before=1, context_after=1)
    assert [(f.index, f.pts, f.context) for f in frames] == [(-1, -1, True), (0, 0, False), (1, 1, False),
                                                            (2, 2, True)]
    assert not reader.seeked and reader.shift == Fraction(4, 25)


def test_stdin_that_is_not_y4m_is_an_input_error():
    with pytest.raises(InputError, match="standard input is not a YUV4MPEG2 stream"):
        open_stdin(_Pipe(b"this is not a video\n" * 20))


def test_stdin_through_a_real_pipe(tmp_path):
    data = y4m_bytes([pattern_rgb(k, 64, 48) for k in range(5)])
    code = ("from edvr_cli.video import probe, FrameReader\n"
            "info = probe('-')\n"
            "with FrameReader('-', info) as r:\n"
            "    print(info.width, info.height, [f.pts for f in r], r.warnings)\n")
    done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout.decode().strip() == "64 48 [0, 1, 2, 3, 4] []"


# -- 4. honest warnings and counts ----------------------------------------------------------------


@pytest.mark.parametrize("ext", ["mkv", "webm", "ts", "mp4"])
def test_valid_vfr_input_gives_no_truncation_warning(tmp_path, ext):
    codec = "libvpx-vp9" if ext == "webm" else "libx264"
    src = make_clip(tmp_path / f"vfr.{ext}", codec=codec, pts=VFR_PTS_MS)
    frames, reader = read_all(src)
    assert len(frames) == 12 and reader.warnings == []


@pytest.mark.parametrize("ext,options", [("mkv", None), ("webm", None), ("mp4", {"movflags": "faststart"})])
def test_truncated_input_still_warns(tmp_path, ext, options):
    codec = "libvpx-vp9" if ext == "webm" else "libx264"
    src = truncate(make_clip(tmp_path / f"t.{ext}", codec=codec, frames=20, container_options=options), 0.5)
    frames, reader = read_all(src)
    assert 0 < len(frames) < 20
    assert sum("the file may be truncated" in w for w in reader.warnings) == 1


def test_truncation_warning_figures(tmp_path):
    src = truncate(make_clip(tmp_path / "t.mkv", frames=20), 0.5)
    frames, reader = read_all(src)
    late = [w for w in reader.warnings if "truncated" in w]
    assert late == [f"'t.mkv': decoding ended at {format_time(Fraction(len(frames), 25))} of a stream announced "
                    f"to last 00:00.800 (about 20 frames, {len(frames)} decoded); the file may be truncated"]


def test_ts_timestamp_reset_continues_the_timeline(tmp_path):
    src = make_ts_with_reset(tmp_path / "reset.ts", frames=(10, 8))
    with av.open(str(src)) as container:
        raw = [f.pts for f in container.decode(video=0)]
    assert raw[10] == raw[0] == 7200  # the jump back is really in the file
    frames, reader = read_all(src)
    assert len(frames) == 18
    assert [f.pts for f in frames] == [7200 + 3600 * k for k in range(18)]  # one frame step at the seam
    assert reader.warnings == [
        "'reset.ts': timestamps jump back at frame 10 (a stream discontinuity); continuing the timeline"
    ]


def test_duplicate_timestamps_get_one_clear_warning(tmp_path):
    src = make_clip(tmp_path / "d0.mkv", frames=8, options={"x264-params": "bframes=0"})
    dup = tmp_path / "dup.mkv"
    with av.open(str(src)) as inp, av.open(str(dup), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        previous = None
        for k, packet in enumerate(p for p in inp.demux(video=0) if p.size):
            if k in (4, 6):
                packet.pts = packet.dts = previous
            previous = packet.pts
            packet.stream = stream
            out.mux(packet)
    frames, reader = read_all(dup)
    assert [f.pts for f in frames] == [0, 40, 80, 120, 121, 200, 201, 280]
    assert reader.warnings == ["'dup.mkv': timestamps do not increase at frame 4; nudged forward one tick"]


@pytest.mark.parametrize("ext,count,exact", [
    ("mp4", 30, True), ("mov", 30, True), ("avi", 30, True),
    ("mkv", 30, False), ("webm", 30, False), ("ts", 30, False), ("nut", 31, False), ("y4m", 30, False),
    ("h264", None, False),
])
def test_frame_count_known_at_probe(tmp_path, ext, count, exact):
    codec = {"webm": "libvpx-vp9", "y4m": "rawvideo"}.get(ext, "libx264")
    info = probe(make_clip(tmp_path / f"c.{ext}", codec=codec, frames=30))
    assert (info.num_frames, info.num_frames_exact) == (count, exact)


def test_vfr_ts_gives_no_absurd_estimate(tmp_path):
    info = probe(make_clip(tmp_path / "vfr.ts", pts=VFR_PTS_MS))
    assert info.fps == 2000 and info.num_frames is None  # a timestamp resolution, not a frame rate


def test_pipe_has_no_frame_count(stdin_y4m):
    stdin_y4m(y4m_bytes([pattern_rgb(k, 64, 48) for k in range(3)]))
    assert probe("-").num_frames is None
