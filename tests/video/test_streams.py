"""Other streams in the output: the plan (copy / convert / drop), conversions with timing kept, strict mode, tags."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import AUDIO_FRAME, AUDIO_RATE, has_encoder, make_clip
from edvr_cli.errors import EDVRError, StreamError
from edvr_cli.video import FrameReader, open_writer, probe
from edvr_cli.video.streams import StreamPlan, plan_streams
from edvr_cli.video.writer import source_video

CUES = [(100, 200, "Hello"), (500, 150, "World")]
needs_x265 = pytest.mark.skipif(not has_encoder("libx265"), reason="libx265 encoder not in this PyAV build")


def transcode(src: Path, dst: Path, **options):
    info = probe(src)
    with FrameReader(src, info) as reader, open_writer(dst, info, info.width, info.height, **options) as writer:
        for frame in reader:
            writer.write(np.rint(frame.rgb * 255).astype(np.uint8), frame.pts, frame.time_base)
    return writer


def audio_span(path: Path) -> tuple[float, float, int, str]:
    """(first decoded audio time, end time, samples, codec) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        first = end = None
        samples = 0
        for frame in container.decode(stream):
            t = frame.pts * frame.time_base
            first = t if first is None else first
            end = t + Fraction(frame.samples, frame.sample_rate)
            samples += frame.samples
        assert first is not None and end is not None
        return float(first), float(end), samples, stream.codec_context.name


def cues(path: Path) -> list[tuple[int, int, str]]:
    """(start ms, duration ms, plain text) of every non-empty decoded subtitle, via PyAV's decoder."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            decoded = stream.decode2(packet)
            if decoded is None or not len(decoded):
                continue
            text = b"".join(rect.ass for rect in decoded).decode().split(",", 8)[-1]
            out.append((round(packet.pts * packet.time_base * 1000), round(packet.duration * packet.time_base * 1000),
                        text))
    return out


def add_streams(path: Path, specs: list[tuple[str, str, int]], frames: int = 6) -> Path:
    """A Matroska clip with extra mux-only streams: ``(codec, language, disposition)`` each, one packet at 0.1 s."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, width=64, height=48, options={"crf": "20"})
        extra = []
        for codec, language, disposition in specs:
            stream = out.add_mux_stream(codec)
            stream.time_base = Fraction(1, 1000)
            stream.metadata["language"] = language
            stream.disposition = av.stream.Disposition(disposition)
            extra.append(stream)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i % 256, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for stream in extra:
            packet = av.Packet(b"\x00\x08\x00\x00\x00\x00\x00\x00" if stream.type == "subtitle" else b"x")
            packet.stream, packet.pts, packet.dts, packet.duration = stream, 100, 100, 50
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
    return path


# -- the plan ------------------------------------------------------------------------------------


def test_plan_lists_copy_convert_and_drop_before_any_work(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=6, audio=True, subtitles=CUES)
    info = probe(src)
    mkv = plan_streams(info, "matroska")
    assert [(a.kind, a.action) for a in mkv.actions] == [("audio", "copy"), ("subtitle", "copy")]
    assert mkv.summary() == [] and mkv.lines() == ["audio #1 aac copied", "subtitle #2 subrip [eng] copied"]
    webm = plan_streams(info, tmp_path / "out.webm")  # an output path works too; nothing is written
    assert webm.container == "webm" and not (tmp_path / "out.webm").exists()
    assert webm.summary() == ["audio #1 aac → opus (webm cannot hold aac)",
                              "subtitle #2 subrip [eng] → webvtt (webm cannot hold subrip)"]
    mp4 = plan_streams(src, "mp4")
    assert [(a.action, a.target) for a in mp4.actions] == [("copy", "aac"), ("convert", "mov_text")]
    gif = plan_streams(info, "gif")
    assert [a.action for a in gif.actions] == ["drop", "drop"]
    assert gif.dropped[0].reason == "gif holds no audio"
    assert plan_streams(info, "yuv4mpegpipe").converted == []


def test_bitmap_subtitles_are_dropped_by_name_where_the_container_has_no_bitmap_format(tmp_path):
    src = add_streams(tmp_path / "in.mkv", [("hdmv_pgs_subtitle", "fre", 0), ("dvd_subtitle", "ita", 0)])
    plan = plan_streams(probe(src), "mp4")
    assert plan.summary() == ["subtitle #1 hdmv_pgs_subtitle [fre] dropped (bitmap subtitles have no mp4 format)"]
    assert [a.action for a in plan.actions] == ["drop", "copy"]  # MP4 holds DVD (VobSub) subpictures
    writer = transcode(src, tmp_path / "out.mp4")
    assert writer.stream_summary == plan.summary()
    assert [w for w in writer.warnings if "hdmv_pgs_subtitle" in w] == [
        "skipped subtitle stream #1 (hdmv_pgs_subtitle): bitmap subtitles have no mp4 format"]
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [(s.type, s.codec_context.name) for s in container.streams] == [("video", "h264"),
                                                                             ("subtitle", "dvdsub")]
    assert [a.action for a in plan_streams(src, "webm").actions] == ["drop", "drop"]
    transcode(src, tmp_path / "out.mkv")  # Matroska holds both: copied
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert [s.codec_context.name for s in container.streams.subtitles] == ["pgssub", "dvdsub"]


def test_strict_streams_refuses_any_conversion_or_drop_before_work(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=6, audio=True, subtitles=CUES)
    info = probe(src)
    with pytest.raises(StreamError) as caught:
        open_writer(tmp_path / "out.webm", info, 64, 48, strict_streams=True, label="final.webm")
    message = str(caught.value)
    assert "\n" not in message and "final.webm" in message
    assert "audio #1 aac → opus" in message and "subtitle #2 subrip [eng] → webvtt" in message
    assert isinstance(caught.value, EDVRError)
    with pytest.raises(StreamError, match="dropped"):
        plan_streams(info, "gif").check_strict("x.gif")
    with open_writer(tmp_path / "ok.mkv", info, 64, 48, strict_streams=True) as writer:  # all copied: fine
        assert writer.stream_summary == []
    StreamPlan("mp4").check_strict("empty.mp4")


# -- conversions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("src_ext", "dst_ext", "codec"), [("mp4", "webm", "opus"), ("mkv", "webm", "opus"),
                                                            ("mp4", "ogv", "opus"), ("mp4", "mpg", "mp2")])
def test_audio_is_converted_with_length_and_offset_within_one_frame(tmp_path, src_ext, dst_ext, codec):
    src = make_clip(tmp_path / f"in.{src_ext}", frames=25, audio=True)
    dst = tmp_path / f"out.{dst_ext}"
    writer = transcode(src, dst)
    assert writer.stream_summary == [f"audio #1 aac → {codec} ({writer.stream_plan.container} cannot hold aac)"]
    first_in, end_in, samples_in, _ = audio_span(src)
    first_out, end_out, samples_out, got = audio_span(dst)
    with av.open(str(src)) as a, av.open(str(dst)) as b:  # A/V offset: audio start relative to the first frame
        v_in = next(a.decode(video=0))
        v_out = next(b.decode(video=0))
        offset_in = first_in - float(v_in.pts * v_in.time_base)
        offset_out = first_out - float(v_out.pts * v_out.time_base)
    one_frame = AUDIO_FRAME / AUDIO_RATE  # 21.3 ms (the source's AAC frame; Opus 20 ms, MP2 24 ms)
    assert got == codec
    assert abs(offset_out - offset_in) <= 1152 / AUDIO_RATE
    assert abs((end_out - first_out) - (end_in - first_in)) <= 1152 / AUDIO_RATE
    if dst_ext in ("webm", "ogv"):  # Opus keeps the exact length and start (pre-skip and end trimming)
        assert samples_out == samples_in and abs(first_out - first_in) < one_frame / 100


def test_audio_conversion_is_interleaved_with_video(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=25, audio=True)
    transcode(src, tmp_path / "out.webm")
    with av.open(str(tmp_path / "out.webm")) as container:
        order = [p.stream.type for p in container.demux() if p.size]
    assert order.index("audio") < max(i for i, kind in enumerate(order) if kind == "video")


@pytest.mark.parametrize(("ext", "codec"), [("mp4", "mov_text"), ("mov", "mov_text"), ("webm", "webvtt")])
def test_subrip_is_converted_and_plays_back_with_same_texts_and_times(tmp_path, ext, codec):
    src = make_clip(tmp_path / "in.mkv", frames=20, audio=True, subtitles=CUES)
    dst = tmp_path / f"out.{ext}"
    writer = transcode(src, dst)
    assert f"subtitle #2 subrip [eng] → {codec} ({writer.stream_plan.container} cannot hold subrip)" in \
        writer.stream_summary
    with av.open(str(dst)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "subtitle", "video"]
        sub = container.streams.subtitles[0]
        assert (sub.codec_context.name, sub.language) == (codec, "eng")
    assert cues(dst) == cues(src) == [(100, 200, "Hello"), (500, 150, "World")]


def test_dispositions_and_languages_are_carried(tmp_path):
    forced = int(av.stream.Disposition.forced)
    default = int(av.stream.Disposition.default)
    src = add_streams(tmp_path / "in.mkv", [("subrip", "ger", default | forced), ("subrip", "fre", 0)])
    for ext in ("mkv", "mp4"):
        transcode(src, tmp_path / f"out.{ext}")
        with av.open(str(tmp_path / f"out.{ext}")) as container:
            subs = container.streams.subtitles
            assert [(s.language, int(s.disposition) & (default | forced)) for s in subs] == \
                [("ger", default | forced), ("fre", 0)]
            if ext == "mkv":
                assert container.streams.video[0].disposition & av.stream.Disposition.default


# -- video tags and intra families ---------------------------------------------------------------


@needs_x265
@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_hevc_is_tagged_hvc1_in_mp4_and_mov(tmp_path, ext):
    src = make_clip(tmp_path / "in.mkv", codec="libx265", frames=4)
    writer = transcode(src, tmp_path / f"out.{ext}")
    assert writer.settings.codec == "libx265"
    with av.open(str(tmp_path / f"out.{ext}")) as container:
        assert container.streams.video[0].codec_tag == "hvc1"


def test_chroma_location_is_read_and_written(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=4, options={"crf": "12", "chroma_sample_location": "topleft"})
    assert source_video(probe(src)).chroma_location == "topleft"
    transcode(src, tmp_path / "out.mp4")
    assert source_video(probe(tmp_path / "out.mp4")).chroma_location == "topleft"
    transcode(src, tmp_path / "out.y4m")
    assert b" C420paldv " in (tmp_path / "out.y4m").read_bytes()[:100]


@pytest.mark.parametrize(("codec", "pix_fmt", "ext", "options", "expect"), [
    ("prores_ks", "yuv422p10le", "mov", {"profile": "lt"}, "encoder: prores_ks profile lt, yuv422p10le"),
    ("prores_ks", "yuv444p10le", "mkv", {"profile": "4444"}, "encoder: prores_ks profile 4444, yuv444p10le"),
    ("ffv1", "yuv422p", "mkv", {}, "encoder: ffv1 lossless, yuv422p"),
    ("mjpeg", "yuvj420p", "avi", {}, "encoder: mjpeg q 2, yuv420p"),
])  # fmt: skip
def test_intra_and_lossless_sources_keep_their_family(tmp_path, codec, pix_fmt, ext, options, expect):
    src = make_clip(tmp_path / f"in.{ext}", codec=codec, pix_fmt=pix_fmt, frames=3, options=options)
    writer = transcode(src, tmp_path / f"out.{ext}")
    assert writer.encoder_description == str(writer.settings) == expect
    out = probe(tmp_path / f"out.{ext}")
    assert out.codec_name == probe(src).codec_name
    if codec == "prores_ks":
        assert source_video(out).profile == source_video(probe(src)).profile
    if codec == "mjpeg":
        assert out.color.range == probe(src).color.range  # full range stays full


def test_encoder_description_for_the_common_case(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    assert str(transcode(src, tmp_path / "out.mp4").settings) == "encoder: libx264 crf 17, yuv420p"


@pytest.mark.skipif(not has_encoder("libsvtav1"), reason="needs an AV1 encoder")
def test_av1_input_keeps_its_family_as_ffmpeg_names_it(tmp_path):
    """The family is the codec's name (av1), not its decoder's (libdav1d): AV1 stays AV1, as
    ``ffmpeg -i in.mkv out.mkv`` keeps a source's family where an encoder exists (before: H.264)."""
    from edvr_cli.jobs.plan import dry_plan
    from edvr_cli.jobs.settings import RestoreSettings

    src = make_clip(tmp_path / "in.mkv", codec="libsvtav1", width=32, height=24, frames=3)
    info = probe(src)
    assert info.codec_name == "av1"
    plan = dry_plan(src, tmp_path / "o.mkv", RestoreSettings(model="edvr-tiny"))
    assert plan.encoder.codec == "libsvtav1"


def test_image_folders_have_no_frame_times_to_round(tmp_path):
    from edvr_cli.video.writer import output_notes

    from clips import write_image_folder

    folder = write_image_folder(tmp_path / "frames", ["1.png", "2.png", "3.png"])
    info = probe(folder)
    # before: "avi stores a constant frame rate; frame times are rounded to 1/25 s"
    assert output_notes(info, "avi", "mpeg4", 128, 96) == []
