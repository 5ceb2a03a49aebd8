"""Streams and files as ``ffmpeg`` keeps them: pixel aspect ratio in Matroska, the encoder for uncompressed
inputs, timecode and chapters, subtitle cues and audio cut at ``--start`` / ``--end``, AAC priming into
Matroska, colour tags and an explicit square pixel aspect ratio.

Each input is made here with PyAV; the expected results are what ``ffmpeg`` (9.0) writes for the same file
(measured with ``ffmpeg -c copy`` / ``ffmpeg -c:v libx264``), except where a comment says why not.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import AUDIO_RATE, has_encoder, make_clip, pattern_rgb
from conftest import GOLDEN
from edvr_cli.video import FrameReader, open_writer, probe
from edvr_cli.video.colour import (
    PRI_BT709,
    RANGE_FULL,
    RANGE_LIMITED,
    SPC_BT709,
    SPC_SMPTE170M,
    TRC_BT709,
    ColorInfo,
    output_tags,
)
from edvr_cli.video.timecode import advance_timecode, frames_to_timecode, timecode_to_frames

SR = str(GOLDEN / "basicsr_sr_tsa.pth")


def transcode(src: Path, dst: Path, *, start=None, end=None, **options):
    """The writer's path of a run, at the source's size (the model is not what is tested here)."""
    info = probe(src, start=start, end=end)
    with FrameReader(src, info) as reader, open_writer(dst, info, info.width, info.height, **options) as writer:
        for frame in reader:
            writer.write(np.rint(frame.rgb * 255).astype(np.uint8), frame.pts, frame.time_base)
    return writer


def first_times(path: Path) -> dict[str, float]:
    """The first packet time (seconds) of each kind of stream."""
    out: dict[str, float] = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.size and p.pts is not None and p.stream.type not in out:
                out[p.stream.type] = float(p.pts * p.time_base)
    return out


def decoded_audio(path: Path) -> tuple[float, int]:
    """(time of the first decoded sample, samples decoded) of the first audio stream."""
    with av.open(str(path)) as c:
        frames = list(c.decode(c.streams.audio[0]))
    return float(frames[0].pts * frames[0].time_base), sum(f.samples for f in frames)


# -- item 2: the pixel aspect ratio in Matroska, whatever the codec ---------------------------------------


@pytest.mark.parametrize("codec", ["ffv1", "libx264"])
def test_matroska_keeps_the_pixel_aspect_ratio_of_any_codec(tmp_path, codec):
    """``ffmpeg -i in.mp4 -c:v ffv1 out.mkv`` writes SAR 4:3 as Matroska's display size (the stream's field)."""
    src = make_clip(tmp_path / "in.mp4", width=48, height=36, frames=3, sample_aspect_ratio=Fraction(4, 3))
    assert probe(src).sample_aspect_ratio == Fraction(4, 3)
    writer = transcode(src, tmp_path / "out.mkv", codec=codec)
    assert not [w for w in writer.warnings if "aspect" in w]
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(4, 3)
    assert probe(tmp_path / "out.mkv").sample_aspect_ratio == Fraction(4, 3)


def test_a_pyav_that_cannot_set_the_stream_field_says_so_before_any_work(tmp_path, monkeypatch):
    import edvr_cli.video.writer as writer_module

    src = make_clip(tmp_path / "in.mp4", width=48, height=36, frames=3, sample_aspect_ratio=Fraction(4, 3))
    monkeypatch.setattr(writer_module, "stream_sample_aspect_ratio_settable", lambda: False)
    notes = writer_module.output_notes(probe(src), "matroska", "ffv1", 48, 36)
    assert notes == ["pixel aspect ratio 4/3 is lost: matroska with ffv1 cannot carry it here"]
    assert writer_module.output_notes(probe(src), "matroska", "libx264", 48, 36) == []  # in its bitstream


# -- item 3: uncompressed inputs get the container's usual encoder ----------------------------------------


def test_uncompressed_sources_are_no_family_to_keep():
    from edvr_cli.video.encoder import MuxerCodecs, choose_encoder

    mkv = MuxerCodecs("matroska")
    for bits, chroma, pix_fmt in ((8, "420", "yuv420p"), (10, "444", "yuv444p10le"), (10, "420", "yuv420p10le")):
        chosen, said = choose_encoder(source_codec="rawvideo", bit_depth=bits, chroma=chroma, width=32, height=32,
                                      container_codecs=mkv, container_name="matroska")
        assert (chosen.codec, chosen.pix_fmt, said) == ("libx264", pix_fmt, [])
    y4m, _ = choose_encoder(source_codec="h264", bit_depth=8, chroma="420", width=32, height=32,
                            container_codecs=MuxerCodecs("yuv4mpegpipe"), container_name="yuv4mpegpipe")
    assert y4m.codec == "rawvideo"  # the container's own


@pytest.mark.slow
def test_10_bit_444_y4m_on_stdin_into_mkv_is_libx264_high_444_10_bit(tmp_path):
    """``ffmpeg -f yuv4mpegpipe -i - out.mkv`` encodes with libx264 (High 4:4:4 Predictive, 10-bit); before,
    the run failed after the model loaded ("matroska refuses rawvideo")."""
    y4m = tmp_path / "in.y4m"
    with av.open(str(y4m), "w", format="yuv4mpegpipe", options={"strict": "-1"}) as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv444p10le"
        for k in range(3):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(k, 32, 24), format="rgb24").reformat(format="yuv444p10le")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    dst = tmp_path / "out.mkv"
    cmd = [sys.executable, "-m", "edvr_cli", "upscale", "-", str(dst), "--model", SR, "--device", "cpu",
           "--precision", "fp32", "--tile", "0", "--quiet"]
    done = subprocess.run(cmd, stdin=y4m.open("rb"), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    with av.open(str(dst)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.profile, v.codec_context.pix_fmt) == (
            "h264", "High 4:4:4 Predictive", "yuv444p10le")
        assert sum(1 for _ in c.decode(v)) == 3


# -- item 4: timecode and chapters ----------------------------------------------------------------------


def timecoded(path: Path, frames: int = 12) -> Path:
    """A clip whose muxer makes a tmcd track (MOV) or a TIMECODE tag (MKV) at 01:00:00:10, with two chapters."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, width=32, height=32, options={"crf": "20"})
        video.metadata["timecode"] = "01:00:00:10"
        out.set_chapters([
            {"id": 1, "start": 0, "end": 200, "time_base": Fraction(1, 1000), "metadata": {"title": "One"}},
            {"id": 2, "start": 200, "end": 480, "time_base": Fraction(1, 1000), "metadata": {"title": "Two"}}])
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(k, 32, 32), format="rgb24").reformat(format="yuv420p")
            frame.pts = k
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def timecodes(path: Path) -> list[tuple[str, str | None]]:
    with av.open(str(path)) as c:
        return [(s.type, next((v for k, v in s.metadata.items() if k.lower() == "timecode"), None))
                for s in c.streams if s.type in ("video", "data")]


def chapters(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as c:
        return [(round(float(ch["start"] * ch["time_base"]), 3), round(float(ch["end"] * ch["time_base"]), 3),
                 ch["metadata"].get("title", "")) for ch in c.chapters()]


def test_a_timecode_track_is_kept_as_ffmpeg_keeps_it(tmp_path):
    src = timecoded(tmp_path / "in.mov")
    assert ("data", "01:00:00:10") in timecodes(src)  # the tmcd track
    writer = transcode(src, tmp_path / "out.mov")
    lines = writer.stream_plan.lines()
    assert "data #2 tmcd [eng] timecode kept (01:00:00:10, as a new tmcd track)" in lines
    assert not [line for line in lines if "dropped" in line or "unknown" in line]
    assert "subtitle #1 mov_text [eng] chapter titles (carried as the chapters)" in lines  # not a subtitle
    assert timecodes(tmp_path / "out.mov") == [("video", "01:00:00:10"), ("data", "01:00:00:10")]
    transcode(src, tmp_path / "out.mkv")
    assert timecodes(tmp_path / "out.mkv") == [("video", "01:00:00:10")]  # a tag, as ffmpeg writes it
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert not c.streams.subtitles  # the chapter titles track is no subtitle
    assert chapters(tmp_path / "out.mkv") == [(0.0, 0.2, "One"), (0.2, 0.48, "Two")]
    transcode(tmp_path / "out.mkv", tmp_path / "back.mp4")  # a Matroska tag becomes a tmcd track again
    assert ("data", "01:00:00:10") in timecodes(tmp_path / "back.mp4")


def test_start_advances_the_timecode_and_cuts_the_chapters(tmp_path):
    """``ffmpeg -ss 0.2`` keeps 01:00:00:10 (the first output frame was 01:00:00:15 in the source: untrue) and
    keeps a chapter that ends before the start with no length; here the timecode still names the frame, and
    chapters outside the span are left out."""
    src = timecoded(tmp_path / "in.mkv")
    writer = transcode(src, tmp_path / "out.mkv", start="0.2")
    assert writer.stream_plan.lines() == ["timecode 01:00:00:15 at --start kept",
                                          "1 of 2 chapter(s) kept (the others lie outside --start/--end)"]
    assert timecodes(tmp_path / "out.mkv") == [("video", "01:00:00:15")]
    assert chapters(tmp_path / "out.mkv") == [(0.0, 0.28, "Two")]
    transcode(src, tmp_path / "out.avi")
    assert timecodes(tmp_path / "out.avi") == [("video", None)] and chapters(tmp_path / "out.avi") == []


def test_the_dry_run_names_the_timecode_and_chapters(tmp_path, capfd):
    from edvr_cli.cli import main

    src = timecoded(tmp_path / "in.mov")
    rc = main(["upscale", str(src), str(tmp_path / "o.mkv"), "--model", SR, "--dry-run", "--end", "0.3"])
    out = capfd.readouterr().out
    assert rc == 0
    assert "stream: data #2 tmcd [eng] timecode kept (01:00:00:10, as a tag)" in out
    assert "stream: 2 chapter(s) kept" in out


@pytest.mark.parametrize(("timecode", "fps", "frames", "expected"), [
    ("01:00:00:10", Fraction(25), 5, "01:00:00:15"),
    ("00:00:59:24", Fraction(25), 1, "00:01:00:00"),
    ("00:00:59;29", Fraction(30000, 1001), 1, "00:01:00;02"),  # drop frame: ;00 and ;01 are skipped
    ("00:09:59;29", Fraction(30000, 1001), 1, "00:10:00;00"),  # but not at every tenth minute
])  # fmt: skip
def test_timecode_arithmetic(timecode, fps, frames, expected):
    assert advance_timecode(timecode, frames, fps) == expected
    total = timecode_to_frames(expected, fps)
    assert total is not None and frames_to_timecode(total, fps, ";" in expected) == expected


# -- item 5: a subtitle cue on screen at --start or --end is kept, cut there -------------------------------


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_cues_on_screen_at_the_span_edges_are_cut_not_dropped(tmp_path, ext):
    src = make_clip(tmp_path / "in.mkv", width=32, height=32, frames=25,
                    subtitles=[(100, 400, "Hello"), (600, 500, "World"), (820, 100, "Late")])
    transcode(src, tmp_path / f"out.{ext}", start="0.3", end="0.8")
    with av.open(str(tmp_path / f"out.{ext}")) as c:
        stream = c.streams.subtitles[0]
        cues = []
        for packet in c.demux(stream):
            decoded = stream.decode2(packet) if packet.size else None
            if decoded is None or not len(decoded):
                continue
            text = b"".join(rect.ass for rect in decoded).decode().split(",", 8)[-1]
            if text:
                cues.append((round(float(packet.pts * packet.time_base), 3),
                             round(float(packet.duration * packet.time_base), 3), text))
    # Hello 0.1-0.5 starts at 0 and keeps its end (0.2 after the start); World 0.6-1.1 ends at --end (0.8)
    assert cues == [(0.0, 0.2, "Hello"), (0.3, 0.2, "World")]


# -- item 6: AAC in MP4 into Matroska ---------------------------------------------------------------------


def test_aac_priming_into_matroska_keeps_the_video_at_zero(tmp_path):
    """``ffmpeg -i in.mp4 -c copy out.mkv``: video at 0, the first AAC packet at -21 ms with the priming as
    CodecDelay (decoders skip it), the MP4's trimmed end as DiscardPadding; before, every stream was shifted by
    21 ms and the priming and padding were played (24576 samples for 23040)."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=32, frames=12, audio=True)
    with av.open(str(src)) as c:  # the source as FFmpeg reads it: priming before 0, marked to skip
        first = next(p for p in c.demux(c.streams.audio[0]) if p.size)
        assert first.pts == -1024 and first.has_sidedata("skip_samples")
    writer = transcode(src, tmp_path / "out.mkv")
    assert writer.stream_summary == [] and writer.warnings == []
    times = first_times(tmp_path / "out.mkv")
    assert times["video"] == 0 and times["audio"] == pytest.approx(-0.021, abs=0.001)
    start, samples = decoded_audio(tmp_path / "out.mkv")
    assert start == 0 and samples == round(Fraction(12, 25) * AUDIO_RATE)  # 23040: the source's length, as ffmpeg


# -- item 9: audio cut exactly at --start / --end -----------------------------------------------------------


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_span_audio_starts_within_a_millisecond_of_start(tmp_path, ext):
    """Before, audio was cut by whole packets: it started 13.3 ms late here (the first AAC packet after 0.2 s)."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=32, frames=12, audio=True)
    writer = transcode(src, tmp_path / f"out.{ext}", start="0.2", end="0.4")
    assert writer.stream_summary == [
        "audio #1 aac → aac (re-encoded to cut it exactly: --start and --end fall inside a packet)"]
    start, samples = decoded_audio(tmp_path / f"out.{ext}")
    assert abs(start) <= 0.001
    with av.open(str(tmp_path / f"out.{ext}")) as c:  # the end: the last packet's end as the container says
        last = [p for p in c.demux(c.streams.audio[0]) if p.size][-1]
        end = float((last.pts + last.duration) * last.time_base)
    assert abs(end - 0.2) <= 0.001 or abs(samples / AUDIO_RATE - 0.2) <= 0.001
    assert first_times(tmp_path / f"out.{ext}")["video"] == 0


def test_span_on_packet_edges_copies_the_audio(tmp_path):
    """A span on packet edges needs no re-encoding: packets are copied (AAC at 48 kHz: 1024 samples, 0.21333 s)."""
    src = make_clip(tmp_path / "in.mkv", width=32, height=32, frames=25, fps=25, audio=True)
    edge = "0.128"  # 6 packets of 21.333 ms: 128 ms, which Matroska stores exactly
    from edvr_cli.video.streams import plan_streams

    plan = plan_streams(probe(src, start=edge), "matroska")
    assert [line for line in plan.lines() if line.startswith("audio")] == ["audio #1 aac copied"]


# -- item 10: colour tags and an explicit square pixel aspect ratio ------------------------------------------


def stream_tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc


def test_untagged_input_gives_untagged_output_and_tagged_stays_tagged(tmp_path):
    untagged = make_clip(tmp_path / "plain.mp4", width=32, height=32, frames=3)
    assert stream_tags(untagged) == (2, 0, 2, 2)
    transcode(untagged, tmp_path / "plain_out.mp4")
    assert stream_tags(tmp_path / "plain_out.mp4") == (2, 0, 2, 2)  # as ffmpeg -i plain.mp4 -c:v libx264
    tagged = make_clip(tmp_path / "tagged.mp4", width=32, height=32, frames=3, colorspace=SPC_BT709,
                       color_range=RANGE_LIMITED, color_primaries=PRI_BT709, color_trc=TRC_BT709)
    transcode(tagged, tmp_path / "tagged_out.mkv")
    assert stream_tags(tmp_path / "tagged_out.mkv") == (SPC_BT709, RANGE_LIMITED, PRI_BT709, TRC_BT709)


def test_untagged_colour_is_tagged_only_where_a_reader_would_assume_otherwise():
    sd = ColorInfo(SPC_SMPTE170M, RANGE_LIMITED, 6, 6, False, False, False, False)  # untagged 480 lines: assumed
    assert output_tags(sd, codec_name="libx264", pix_fmt="yuv420p", width=720, height=480) == (2, 0, 2, 2)
    # made 1920 lines high, a reader would take it for BT.709: the matrix used, and what goes with it, is tagged
    assert output_tags(sd, codec_name="libx264", pix_fmt="yuv420p", width=2880, height=1920) == (6, 0, 6, 6)
    jpeg = ColorInfo(SPC_SMPTE170M, RANGE_FULL, 6, 6, False, False, False, False)  # untagged MJPEG: full range
    assert output_tags(jpeg, codec_name="mjpeg", pix_fmt="yuv420p", width=64, height=48) == (2, 0, 2, 2)
    assert output_tags(jpeg, codec_name="libx264", pix_fmt="yuv420p", width=64, height=48) == (2, RANGE_FULL, 2, 2)


def test_an_explicit_square_pixel_aspect_ratio_is_written(tmp_path):
    square = make_clip(tmp_path / "square.mp4", width=32, height=32, frames=3, sample_aspect_ratio=Fraction(1))
    unknown = make_clip(tmp_path / "unknown.mp4", width=32, height=32, frames=3)
    assert probe(square).square_pixels_tagged and not probe(unknown).square_pixels_tagged
    for src in (square, unknown):
        for ext, codec in (("mp4", None), ("mkv", "ffv1")):
            out = tmp_path / f"{src.stem}_out.{ext}"
            transcode(src, out, codec=codec)
            with av.open(str(out)) as c:
                assert c.streams.video[0].sample_aspect_ratio == (Fraction(1) if src is square else None), out


# -- review of the stream copying: audio ends, chapter tracks, one plan, timecode, damaged packets ------------


def tone_clip(path: Path, codec: str, rate: int = AUDIO_RATE, frames: int = 12) -> Path:
    """A clip with a mono tone in ``codec`` at ``rate`` as long as its video, muxed as the extension says."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, width=32, height=32, options={"crf": "20"})
        audio = out.add_stream(codec, rate=rate, layout="mono")
        out.start_encoding()
        size = audio.codec_context.frame_size or 1024
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(k, 32, 32), format="rgb24").reformat(format="yuv420p")
            frame.pts = k
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = frames * rate // 25
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)[None, :]
        resampler = av.AudioResampler(format=audio.codec_context.format.name, layout="mono", rate=rate,
                                      frame_size=size)
        source = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        source.sample_rate, source.pts, source.time_base = rate, 0, Fraction(1, rate)
        for chunk in [*resampler.resample(source), *resampler.resample(None)]:
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
    return path


def decoded_samples(path: Path) -> int:
    return decoded_audio(path)[1]


@pytest.mark.parametrize(("codec", "rate"), [("aac", 48000), ("libmp3lame", 44100)])
def test_audio_copied_from_matroska_into_matroska_keeps_every_sample(tmp_path, codec, rate):
    """Matroska times packets in milliseconds: a 1024-sample AAC packet at 48 kHz is 21 ms, 1008 samples by its
    duration; before, every packet was taken for a short last one and lost 16 samples (47376 of 48128 decoded
    over a second; MP3 at 44.1 kHz: 1147 of 1152)."""
    if not has_encoder(codec):
        pytest.skip(f"no {codec} encoder")
    src = tone_clip(tmp_path / "in.mkv", codec, rate)
    writer = transcode(src, tmp_path / "out.mkv")
    assert writer.stream_summary == [] and writer.warnings == []
    assert decoded_samples(tmp_path / "out.mkv") == decoded_samples(src)


def subtitled_with_chapters(path: Path) -> Path:
    """An MP4 with 4 chapters and a 2-cue mov_text subtitle (4 samples: the muxer ends each cue with an empty
    one), as many samples as chapters."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, width=32, height=32, options={"crf": "20"})
        out.set_chapters([{"id": k + 1, "start": 120 * k, "end": 120 * (k + 1), "time_base": Fraction(1, 1000),
                           "metadata": {"title": title}} for k, title in enumerate(("One", "Two", "Three", "Four"))])
        subs = out.add_mux_stream("mov_text")
        subs.time_base = Fraction(1, 1000)
        subs.metadata["language"] = "eng"
        for k in range(12):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(k, 32, 32), format="rgb24").reformat(format="yuv420p")
            frame.pts = k
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start, text in ((0, "Hello"), (240, "World")):
            packet = av.Packet(len(text).to_bytes(2, "big") + text.encode())
            packet.stream = subs
            packet.pts = packet.dts = start
            packet.duration = 100
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
    return path


def cue_texts(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        stream = c.streams.subtitles[0]
        texts = []
        for packet in c.demux(stream):
            decoded = stream.decode2(packet) if packet.size else None
            for rect in decoded or ():
                text = rect.ass.decode().split(",", 8)[-1]
                if text:
                    texts.append(text)
        return texts


def test_a_subtitle_with_as_many_samples_as_chapters_is_kept(tmp_path):
    """Before, a mov_text track with as many samples as the file has chapters was taken for the chapter titles
    and dropped; now only one whose samples are the titles at the chapters' starts is."""
    src = subtitled_with_chapters(tmp_path / "in.mp4")
    with av.open(str(src)) as c:
        subtitle = c.streams.subtitles[0]
        assert subtitle.frames == len(c.chapters()) == 4
    writer = transcode(src, tmp_path / "out.mkv")
    lines = writer.stream_plan.lines()
    assert "subtitle #1 mov_text [eng] → subrip (matroska cannot hold mov_text)" in lines
    assert "4 chapter(s) kept" in lines
    assert cue_texts(tmp_path / "out.mkv") == ["Hello", "World"]
    assert [title for _a, _b, title in chapters(tmp_path / "out.mkv")] == ["One", "Two", "Three", "Four"]


def test_a_resumable_run_with_a_span_uses_the_dry_runs_stream_plan(tmp_path, monkeypatch):
    """The join's copier follows the run's plan: before, it planned the streams again and opened the input once
    more per copied audio stream to look at the span's edges (4 opens here, 1 more than a one-pass run)."""
    import os

    import edvr_cli.video.streams as streams_module
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.settings import RestoreSettings

    src = make_clip(tmp_path / "av.mkv", width=32, height=24, frames=12, audio=True, subtitles=[(0, 200, "hi")])
    opened: list[str] = []
    planned: list[str] = []
    real_open, real_plan = av.open, streams_module._plan

    def counting_open(target, *args, **kw):
        if isinstance(target, (str, os.PathLike)) and os.fspath(target) == str(src):
            opened.append(os.fspath(target))
        return real_open(target, *args, **kw)

    def counting_plan(*args, **kw):
        planned.append("plan")
        return real_plan(*args, **kw)

    monkeypatch.setattr(av, "open", counting_open)
    monkeypatch.setattr(streams_module, "_plan", counting_plan)
    settings = RestoreSettings(model=SR, device="cpu", precision="fp32", tile=0, quiet=True, resume=True,
                               segment_frames=4, start="0.04")
    result = restore_video(src, tmp_path / "o.mkv", settings)
    assert result.frames == 11
    assert result.streams == ["audio #1 aac → aac (re-encoded to cut it exactly: --start falls inside a packet)"]
    assert len(planned) == 1  # the plan the dry run prints
    assert len(opened) == 3  # as a one-pass run: inspected, read, and its other streams copied once (the join)
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert [s.type for s in c.streams] == ["video", "audio", "subtitle"]


def test_only_mov_and_mp4_get_a_new_tmcd_track(tmp_path):
    """The ipod (.m4v), 3gp ... muxers write no tmcd track from the tag (read back with FFmpeg 8): before, the
    plan said "timecode kept (01:00:00:10, as a new tmcd track)" for .m4v and the output had none."""
    from edvr_cli.video.streams import plan_streams

    src = timecoded(tmp_path / "in.mov")
    for ext, fmt in (("m4v", "ipod"), ("3gp", "3gp")):
        lines = plan_streams(probe(src), tmp_path / f"out.{ext}").lines()
        assert f"data #2 tmcd [eng] dropped ({fmt} holds no timecode)" in lines
    writer = transcode(src, tmp_path / "out.m4v")
    assert "data #2 tmcd [eng] dropped (ipod holds no timecode)" in writer.stream_summary
    assert [tc for _kind, tc in timecodes(tmp_path / "out.m4v")] == [None, None]  # the video, the chapter titles
    mkv = timecoded(tmp_path / "in.mkv")  # a tag, no track
    assert "timecode 01:00:00:10 dropped (ipod holds no timecode)" in plan_streams(probe(mkv), "ipod").summary()
    assert "timecode 01:00:00:10 kept" in plan_streams(probe(mkv), "mp4").lines()


def test_lost_timecode_and_chapters_are_in_the_summary_and_strict_streams_refuses(tmp_path, capfd):
    """Before, a timecode or chapters the output cannot hold were named only by the dry run's stream lines: a run
    said nothing of them and --strict-streams let them go."""
    from edvr_cli.cli import main
    from edvr_cli.errors import StreamError

    src = timecoded(tmp_path / "in.mkv")
    lost = ["timecode 01:00:00:10 dropped (avi holds no timecode)", "2 chapter(s) dropped (avi holds no chapters)"]
    out = tmp_path / "out.avi"
    rc = main(["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "--strict-streams", "--quiet"])
    err = capfd.readouterr().err
    assert rc != 0 and "--strict-streams" in err and all(line in err for line in lost), err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "in.mkv"]
    with pytest.raises(StreamError):
        transcode(src, tmp_path / "strict.avi", strict_streams=True)
    assert not (tmp_path / "strict.avi").exists()
    writer = transcode(src, out)
    assert writer.stream_summary == lost and writer.warnings[-2:] == lost


class _DamagedInput:
    """An open input whose demuxer fails at its first packet (as at a damaged one)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def demux(self, *streams):
        yield from ()
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")


def test_a_damaged_packet_in_the_priming_read_ahead_is_reported(tmp_path, monkeypatch):
    """The copier reads ahead for AAC's priming (MP4 into Matroska); before, a damaged packet there ended the
    copying without the warning a damaged packet later gets."""
    import io
    import os

    from edvr_cli.video.streams import StreamCopier, plan_streams

    src = make_clip(tmp_path / "in.mp4", width=32, height=32, frames=12, audio=True)
    info = probe(src)
    plan = plan_streams(info, "matroska")
    real_open = av.open

    def damaged(target, *args, **kw):
        opened = real_open(target, *args, **kw)
        is_src = isinstance(target, (str, os.PathLike)) and os.fspath(target) == str(src)
        return _DamagedInput(opened) if is_src else opened

    monkeypatch.setattr(av, "open", damaged)
    warnings: list[str] = []
    with real_open(io.BytesIO(), "w", format="matroska") as out:
        out.add_stream("ffv1", rate=25, width=32, height=32)
        copier = StreamCopier(info, out, warnings.append, plan=plan)
        out.start_encoding()
        copier.mux_until(None)
        copier.close()
    assert warnings == ["stopped copying audio/subtitles at a damaged packet: "
                        "[Errno 1094995529] Invalid data found when processing input"]


@pytest.fixture
def unknown_build(monkeypatch):
    """PyAV / FFmpeg versions whose struct layouts video.avfields does not know."""
    from edvr_cli.video import avfields

    monkeypatch.setattr(avfields, "_known_build", lambda: False)
    avfields._layout_supported.cache_clear()
    yield
    avfields._layout_supported.cache_clear()


def test_an_unknown_build_reads_no_memory_and_the_plan_says_the_aspect_is_lost(tmp_path, unknown_build):
    import edvr_cli.video.writer as writer_module
    from edvr_cli.video import avfields

    with av.open(str(tmp_path / "probe.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=25, width=16, height=16)
        assert avfields._checked_pointer(stream) is None
        assert not avfields.set_stream_sample_aspect_ratio(stream, Fraction(4, 3))
        assert not avfields.set_initial_padding(out.add_stream("pcm_s16le", rate=44100), 1024)
        assert not avfields.stream_sample_aspect_ratio_settable()
    src = make_clip(tmp_path / "in.mp4", width=48, height=36, frames=3, sample_aspect_ratio=Fraction(4, 3))
    lost = "pixel aspect ratio 4/3 is lost: matroska with ffv1 cannot carry it here"
    assert writer_module.output_notes(probe(src), "matroska", "ffv1", 48, 36) == [lost]
    writer = transcode(src, tmp_path / "out.mkv", codec="ffv1")
    assert writer.warnings == [lost]
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[0].sample_aspect_ratio in (None, Fraction(1))  # the field was left alone
    square = make_clip(tmp_path / "square.mp4", width=32, height=32, frames=3, sample_aspect_ratio=Fraction(1))
    assert writer_module.output_notes(probe(square), "matroska", "ffv1", 32, 32) == []  # nothing a player misses


def test_a_stream_whose_field_cannot_be_set_says_the_aspect_is_lost(tmp_path, monkeypatch):
    """Where the layout is known but one stream's field cannot be set, the writer and the join say so (before,
    the result of setting it was ignored)."""
    import edvr_cli.video.avfields as avfields
    import edvr_cli.video.writer as writer_module
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.settings import RestoreSettings

    monkeypatch.setattr(writer_module, "set_stream_sample_aspect_ratio", lambda stream, sar: False)
    monkeypatch.setattr(avfields, "set_stream_sample_aspect_ratio", lambda stream, sar: False)
    src = make_clip(tmp_path / "in.mp4", width=48, height=36, frames=3, sample_aspect_ratio=Fraction(4, 3))
    lost = "pixel aspect ratio 4/3 is lost: matroska with ffv1 cannot carry it here"
    assert transcode(src, tmp_path / "out.mkv", codec="ffv1").warnings == [lost]
    assert transcode(src, tmp_path / "h264.mkv").warnings == []  # in the H.264 bitstream
    settings = RestoreSettings(model=SR, device="cpu", precision="fp32", tile=0, quiet=True, codec="ffv1",
                               resume=True, segment_frames=2)
    result = restore_video(src, tmp_path / "joined.mkv", settings)
    assert lost in result.warnings


@pytest.mark.parametrize(("timecode", "fps", "frames", "expected"), [
    ("00:00:59;24", Fraction(25), 1, "00:01:00:00"),  # ';' at 25 fps counts every frame (none is skipped)
    ("00:00:59;23", Fraction(24), 1, "00:01:00:00"),
    ("01:00:00;10", Fraction(25), 0, "01:00:00:10"),  # written as it counts
    ("00:00:59;59", Fraction(60000, 1001), 1, "00:01:00;04"),  # 59.94: ;00 to ;03 are skipped
    ("00:00:59;29", Fraction(2997, 100), 1, "00:01:00;02"),  # a measured 29.97 is 30000/1001
    ("00:00:59.29", Fraction(30000, 1001), 0, "00:00:59.29"),  # unchanged when not moved
])  # fmt: skip
def test_drop_frame_only_at_its_rates(timecode, fps, frames, expected):
    assert advance_timecode(timecode, frames, fps) == expected


def test_drop_frame_counting_only_at_its_rates():
    assert timecode_to_frames("00:01:00;00", Fraction(25)) == 1500
    assert timecode_to_frames("00:01:00;02", Fraction(30000, 1001)) == 1800
    assert frames_to_timecode(1800, Fraction(25), drop=True) == "00:01:12:00"
    assert frames_to_timecode(1800, Fraction(30000, 1001), drop=True) == "00:01:00;02"


def test_a_frames_field_at_or_past_the_rate_names_no_frame(tmp_path):
    from edvr_cli.video.timecode import timecode_problem

    assert timecode_problem("01:00:00:25", Fraction(25)) == "its frames field 25 is not below the frame rate 25"
    assert timecode_problem("01:00:00:24", Fraction(25)) is None
    assert timecode_problem("01:00:00:29", Fraction(30000, 1001)) is None
    assert timecode_problem("01:00:00:25", None) is None  # the rate unknown: kept as it is
    assert timecode_to_frames("01:00:00:25", Fraction(25)) is None
    assert advance_timecode("01:00:00:25", 5, Fraction(25)) == "01:00:00:25"
    src = tmp_path / "in.mkv"
    with av.open(str(src), "w") as out:  # Matroska keeps any text as the tag
        video = out.add_stream("libx264", rate=25, width=32, height=32)
        video.metadata["timecode"] = "01:00:00:30"
        for k in range(3):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(k, 32, 32), format="rgb24").reformat(format="yuv420p")
            frame.pts = k
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    writer = transcode(src, tmp_path / "out.mkv")
    said = "timecode 01:00:00:30 dropped (its frames field 30 is not below the frame rate 25)"
    assert writer.stream_plan.timecode is None and writer.stream_summary == [said] and said in writer.warnings
    assert timecodes(tmp_path / "out.mkv") == [("video", None)]
