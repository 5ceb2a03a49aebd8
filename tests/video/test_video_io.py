"""Video I/O: probing, streaming decode, timing, colour, stream copy, image folders, atomic output."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clips import (
    VFR_PTS_MS,
    bt709_limited,
    flat_yuv_frame,
    frame_times,
    has_encoder,
    make_clip,
    packets,
    truncate,
    write_image_folder,
    write_not_video,
)
from edvr_cli.guard.output import guarded_output
from edvr_cli.errors import OutputError, EDVRError, InputError, OutputExistsError
from edvr_cli.video import (
    FrameReader,
    ImageSequenceWriter,
    VideoWriter,
    choose_encoder,
    is_frame_folder_output,
    is_video_file,
    list_images,
    list_videos,
    natural_sort_key,
    open_writer,
    probe,
    read_frames,
)
from edvr_cli.video.colour import (
    RANGE_FULL,
    RANGE_LIMITED,
    SPC_BT709,
    SPC_SMPTE170M,
    resolve_color,
    rgb_to_yuv,
    yuv_to_rgb,
)
from edvr_cli.video.encoder import MuxerCodecs
from edvr_cli.video.formats import choose_pix_fmt, describe_pix_fmt, encoder_pix_fmts
from edvr_cli.video.reader import BestEffortTimestamp

needs_x265 = pytest.mark.skipif(not has_encoder("libx265"), reason="libx265 encoder not in this PyAV build")


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb * 255).astype(np.uint8)


def to_uint16(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb * 65535).astype(np.uint16)


def transcode(src: Path, dst: Path, *, scale: int = 1, bits: int = 8, **options) -> VideoWriter | ImageSequenceWriter:
    """Decode ``src`` and write it to ``dst`` (nearest-neighbour upscaled), as the pipeline does."""
    info = probe(src)
    quantise = to_uint16 if bits > 8 else to_uint8
    with FrameReader(src, info) as reader, open_writer(
        dst, info, info.width * scale, info.height * scale, **options
    ) as writer:
        for frame in reader:
            rgb = frame.rgb.repeat(scale, 0).repeat(scale, 1) if scale > 1 else frame.rgb
            writer.write(quantise(rgb), frame.pts, frame.time_base)
    writer.reader_warnings = reader.warnings
    return writer


def stream_tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc


# -- names and paths ------------------------------------------------------------------------------


def test_natural_sort_orders_numbers_by_value():
    names = ["10.png", "2.png", "1.png", "frame_100.png", "frame_20.png", "B.png", "a.png"]
    assert sorted(names, key=natural_sort_key) == [
        "1.png", "2.png", "10.png", "a.png", "B.png", "frame_20.png", "frame_100.png",
    ]  # fmt: skip


def test_video_listing_and_output_kind(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["ep10.mkv", "ep2.mp4", "notes.txt", ".hidden.mp4", "sub/ep1.mov"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_videos(tmp_path)] == ["ep2.mp4", "ep10.mkv"]
    assert [p.name for p in list_videos(tmp_path, recursive=True)] == ["ep2.mp4", "ep10.mkv", "ep1.mov"]
    assert is_video_file("x.MKV") and not is_video_file("x.png")
    assert is_frame_folder_output(tmp_path / "frames") and not is_frame_folder_output(tmp_path / "o.mp4")


# -- colour maths ---------------------------------------------------------------------------------


def test_untagged_matrix_rule():
    common = dict(primaries=2, trc=2, is_rgb=False, matrix=2, color_range=0)
    hd = resolve_color(pix_fmt="yuv420p", codec_name="h264", width=1280, height=720, **common)
    sd = resolve_color(pix_fmt="yuv420p", codec_name="h264", width=720, height=480, **common)
    jpeg = resolve_color(pix_fmt="yuvj420p", codec_name="mjpeg", width=1920, height=1080, **common)
    assert (hd.matrix, hd.range, hd.matrix_tagged) == (SPC_BT709, RANGE_LIMITED, False)
    assert (sd.matrix, sd.range, sd.primaries, sd.trc) == (SPC_SMPTE170M, RANGE_LIMITED, 6, 6)
    assert (hd.primaries, hd.trc) == (1, 1)
    assert (jpeg.matrix, jpeg.range) == (SPC_SMPTE170M, RANGE_FULL)
    tagged = resolve_color(pix_fmt="yuv420p", codec_name="h264", width=720, height=480,
                           primaries=1, trc=1, is_rgb=False, matrix=1, color_range=1)  # fmt: skip
    assert tagged.matrix == SPC_BT709 and tagged.matrix_tagged


@settings(max_examples=60, deadline=None)
@given(
    rgb=st.tuples(*[st.integers(0, 255)] * 3),
    bits=st.sampled_from([8, 10, 12]),
    matrix=st.sampled_from([SPC_BT709, SPC_SMPTE170M, 9]),
    full=st.booleans(),
)
def test_flat_colour_round_trip_is_exact_to_quantisation(rgb, bits, matrix, full):
    image = np.broadcast_to(np.array(rgb, np.float32) / 255, (6, 8, 3))
    y, u, v = rgb_to_yuv(image, bits=bits, matrix=matrix, full_range=full, sub_x=2, sub_y=2)
    assert u.shape == (3, 4)
    back = yuv_to_rgb(y, u, v, bits=bits, matrix=matrix, full_range=full) * 255
    # One code value of YUV moves RGB by at most ~2 levels at 8 bits, 4x less per extra 2 bits.
    assert np.abs(back - np.array(rgb)).max() <= 2.0 / (1 << (bits - 8)) + 1e-3


def test_yuv_to_rgb_matches_textbook_bt709():
    y, u, v = bt709_limited((200, 100, 50))
    plane = lambda value, h, w: np.full((h, w), value, np.uint8)  # noqa: E731
    rgb = yuv_to_rgb(plane(y, 4, 4), plane(u, 2, 2), plane(v, 2, 2), bits=8, matrix=SPC_BT709, full_range=False)
    assert np.allclose(rgb * 255, (200, 100, 50), atol=0.5)


def test_pixel_format_description_and_choice():
    ten = describe_pix_fmt("yuv420p10le")
    assert (ten.bit_depth, ten.chroma, ten.sub_x, ten.sub_y, ten.planar_le) == (10, "420", 2, 2, True)
    assert describe_pix_fmt("rgb48be").chroma == "rgb"
    assert choose_pix_fmt(["yuv420p", "yuv420p10le"], 10, "422") == "yuv420p10le"
    assert choose_pix_fmt(["yuv420p", "yuv444p"], 10, "420") == "yuv420p"
    assert choose_pix_fmt(encoder_pix_fmts("libx264"), 16, "rgb") == "yuv420p10le"
    assert choose_pix_fmt(encoder_pix_fmts("libx264"), 8, "420", odd_size=True) == "yuv444p"


def test_encoder_choice_follows_source_and_container():
    mp4 = {"libx264", "libx265", "libvpx-vp9", "libsvtav1", "h264", "hevc"}
    webm = {"libvpx-vp9", "libsvtav1", "vp9", "av1"}
    base = dict(bit_depth=8, chroma="420", width=64, height=48, container_name="mp4")
    settings_, warnings = choose_encoder(source_codec="h264", container_codecs=mp4, **base)
    assert (settings_.codec, settings_.crf, settings_.pix_fmt, warnings) == ("libx264", 17, "yuv420p", [])
    settings_, warnings = choose_encoder(source_codec="h264", container_codecs=webm, **base)
    assert settings_.codec == "libvpx-vp9" and warnings
    settings_, _ = choose_encoder(source_codec="mpeg2video", container_codecs=mp4, **base)
    assert settings_.codec == "libx264"
    settings_, _ = choose_encoder(source_codec="h264", container_codecs=mp4, codec="hevc", crf=20, preset="fast", **base)
    assert settings_.codec == "libx265" and settings_.options["crf"] == "20" and settings_.options["preset"] == "fast"
    with pytest.raises(EDVRError):
        choose_encoder(source_codec="h264", container_codecs=webm, codec="h264", **base)
    with pytest.raises(EDVRError):
        choose_encoder(source_codec="h264", container_codecs=mp4, codec="nonexistent-codec", **base)


def test_muxer_codecs_use_ffmpeg_tables_and_a_safe_set_for_untabled_muxers():
    assert "libx264" in MuxerCodecs("mp4") and "srt" not in MuxerCodecs("mp4")
    assert "libvpx-vp9" in MuxerCodecs("webm") and "libx264" not in MuxerCodecs("webm")
    ts = MuxerCodecs("mpegts")  # no codec table in FFmpeg
    assert "libx264" in ts and "aac" in ts and "flac" not in ts


def test_best_effort_timestamp_prefers_the_increasing_series():
    guess = BestEffortTimestamp()
    # AVI-like: pts jump around (B-frames), dts increase.
    got = [guess(pts, dts) for pts, dts in [(1, 2), (3, 3), (2, 4), (5, 5), (4, 6)]]
    assert got[-1] == 6
    assert [BestEffortTimestamp()(p, None) for p in (0, 40)] == [0, 40]


# -- probing and errors ---------------------------------------------------------------------------


def test_probe_h264_mp4(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=10, width=80, height=48)
    info = probe(src)
    assert (info.width, info.height, info.num_frames, info.fps) == (80, 48, 10, Fraction(25))
    assert (info.codec_name, info.pix_fmt, info.bit_depth, info.chroma) == ("h264", "yuv420p", 8, "420")
    assert info.color.matrix == SPC_SMPTE170M and not info.color.matrix_tagged  # untagged SD
    assert not info.has_audio and not info.is_image_sequence


def test_inputs_that_are_not_videos_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(InputError):
        probe(write_not_video(tmp_path / "notes.mp4"))
    with pytest.raises(InputError, match="no images"):
        probe(tmp_path)
    audio_only = tmp_path / "a.m4a"
    with av.open(str(audio_only), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        probe(audio_only)
    with pytest.raises(InputError) as excinfo:
        FrameReader(tmp_path / "missing.mkv")
    assert "\n" not in str(excinfo.value)


# -- timing ---------------------------------------------------------------------------------------


def test_mp4_round_trip_keeps_frames_timing_and_tags(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=12)
    writer = transcode(src, tmp_path / "out.mp4", scale=2)
    assert writer.frames_written == 12 and writer.warnings == [] and writer.reader_warnings == []
    assert frame_times(tmp_path / "out.mp4") == frame_times(src)
    out = probe(tmp_path / "out.mp4")
    assert (out.width, out.height, out.num_frames) == (128, 96, 12)
    # an untagged SD source stays untagged (as ffmpeg writes it): at 96 lines a reader assumes BT.601, as we did
    assert stream_tags(tmp_path / "out.mp4") == (2, 0, 2, 2)


def test_variable_frame_rate_survives(tmp_path):
    src = make_clip(tmp_path / "vfr.mkv", pts=VFR_PTS_MS)
    reader_pts = [f.pts for f in read_frames(src)]
    assert reader_pts == list(VFR_PTS_MS)
    expected = [Fraction(ms, 1000) for ms in VFR_PTS_MS]
    transcode(src, tmp_path / "vfr_out.mkv")
    transcode(src, tmp_path / "vfr_out.mp4")
    assert frame_times(tmp_path / "vfr_out.mkv") == expected
    assert frame_times(tmp_path / "vfr_out.mp4") == expected


def test_constant_rate_container_gets_frame_slots(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=8)
    writer = transcode(src, tmp_path / "out.avi")
    assert any("constant frame rate" in w for w in writer.warnings)
    assert [f.time for f in read_frames(tmp_path / "out.avi")] == [Fraction(k, 25) for k in range(8)]


# -- copied streams -------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_audio_is_copied_packet_for_packet_and_interleaved(tmp_path, ext):
    src = make_clip(tmp_path / f"in.{ext}", frames=20, audio=True)
    dst = tmp_path / f"out.{ext}"
    transcode(src, dst, scale=2)
    assert packets(dst, "audio") == packets(src, "audio")  # same payloads, same times
    assert frame_times(dst) == frame_times(src)
    with av.open(str(dst)) as container:
        order = [p.stream.type for p in container.demux() if p.size]
    last_video = max(i for i, kind in enumerate(order) if kind == "video")
    first_audio = order.index("audio")
    assert first_audio < last_video  # interleaved, not "all video then all audio"


def test_subtitles_copied_to_mkv_and_reported_when_mp4_cannot_hold_them(tmp_path):
    cues = [(100, 200, "Hello"), (500, 150, "World")]
    src = make_clip(tmp_path / "in.mkv", frames=20, audio=True, subtitles=cues)
    assert probe(src).has_subtitles
    transcode(src, tmp_path / "out.mkv")
    assert packets(tmp_path / "out.mkv", "subtitle") == [(100_000, b"Hello"), (500_000, b"World")]
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert container.streams.subtitles[0].language == "eng"

    seen: list[str] = []
    writer = transcode(src, tmp_path / "out.mp4", on_warning=seen.append)
    assert seen == writer.warnings == []  # converted, not dropped: said in the summary, not as a warning
    assert writer.stream_summary == ["subtitle #2 subrip [eng] → mov_text (mp4 cannot hold subrip)"]
    with av.open(str(tmp_path / "out.mp4")) as container:
        [sub] = container.streams.subtitles
        assert sub.codec_context.name == "mov_text" and sub.language == "eng"
        cues = [(round(float(p.pts * p.time_base), 3), bytes(p)[2:]) for p in container.demux(sub) if bytes(p)[2:]]
    assert cues == [(0.1, b"Hello"), (0.5, b"World")]  # mov_text: a 16-bit length, the text; empty cues fill gaps
    assert packets(tmp_path / "out.mp4", "audio") == packets(src, "audio")


def test_mkv_attachments_are_kept(tmp_path):
    src = make_clip(tmp_path / "fonts.mkv", frames=3, attachments={"font.ttf": b"FONT" * 8})
    transcode(src, tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as container:
        [attachment] = [s for s in container.streams if s.type == "attachment"]
        assert (attachment.name, attachment.data) == ("font.ttf", b"FONT" * 8)


def test_copy_streams_false_writes_video_only(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=6, audio=True)
    transcode(src, tmp_path / "out.mp4", copy_streams=False)
    assert not probe(tmp_path / "out.mp4").has_audio


# -- colour through real files --------------------------------------------------------------------


def test_bt709_flat_colour_decodes_and_round_trips_without_shift(tmp_path):
    colour = (200, 100, 50)
    frames = [flat_yuv_frame(64, 48, bt709_limited(colour)) for _ in range(4)]
    tags = dict(colorspace=1, color_range=1, color_primaries=1, color_trc=1)
    src = make_clip(tmp_path / "flat.mp4", yuv_frames=frames, **tags)
    info = probe(src)
    assert info.color.matrix == SPC_BT709 and info.color.matrix_tagged
    for frame in read_frames(src):
        assert np.abs(frame.rgb * 255 - colour).max() <= 2
    transcode(src, tmp_path / "out.mkv", scale=2)
    assert stream_tags(tmp_path / "out.mkv") == (1, 1, 1, 1)
    for frame in read_frames(tmp_path / "out.mkv"):
        assert np.abs(frame.rgb * 255 - colour).max() <= 2


@needs_x265
def test_10bit_hevc_decodes_beyond_8_bits_and_stays_10_bit(tmp_path):
    # Code values off the 8-bit grid (not multiples of 4): an 8-bit decode path could not see them.
    yuv = (469, 385, 697)
    frames = [flat_yuv_frame(64, 48, yuv, "yuv420p10le") for _ in range(4)]
    src = make_clip(tmp_path / "hevc10.mkv", codec="libx265", pix_fmt="yuv420p10le", yuv_frames=frames,
                    colorspace=1, color_range=1)  # fmt: skip
    info = probe(src)
    assert (info.codec_name, info.bit_depth, info.pix_fmt) == ("hevc", 10, "yuv420p10le")
    rgb = next(iter(read_frames(src))).rgb
    y, u, v = np.full((2, 2), 469), np.full((1, 1), 385), np.full((1, 1), 697)
    expected = yuv_to_rgb(y, u, v, bits=10, matrix=1, full_range=False)
    assert np.allclose(rgb[10, 10], expected[0, 0], atol=1e-5)
    assert not np.allclose(rgb * 255, np.rint(rgb * 255), atol=1e-3)
    writer = transcode(src, tmp_path / "out.mp4", bits=16)
    assert writer.settings.codec == "libx265" and writer.settings.bit_depth == 10
    out = probe(tmp_path / "out.mp4")
    assert (out.pix_fmt, out.codec_name) == ("yuv420p10le", "hevc")
    with av.open(str(tmp_path / "out.mp4")) as container:
        luma = np.frombuffer(next(container.decode(video=0)).planes[0], np.uint16)
    assert abs(int(np.median(luma)) - 469) <= 1


# -- rotation and aspect ratio --------------------------------------------------------------------


def test_rotation_and_pixel_aspect_ratio_are_carried(tmp_path):
    src = make_clip(tmp_path / "rot.mp4", frames=6, rotation=90, sample_aspect_ratio=Fraction(4, 3))
    info = probe(src)
    assert (info.rotation, info.sample_aspect_ratio) == (90, Fraction(4, 3))
    for ext in ("mp4", "mkv"):
        transcode(src, tmp_path / f"out.{ext}", scale=2)
        out = probe(tmp_path / f"out.{ext}")
        assert (out.rotation, out.sample_aspect_ratio) == (90, Fraction(4, 3)), ext


# -- broken input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ext,options", [("mkv", None), ("mp4", {"movflags": "faststart"})])
def test_truncated_file_ends_early_with_a_warning(tmp_path, ext, options):
    src = make_clip(tmp_path / f"t.{ext}", frames=20, audio=True, container_options=options)
    truncate(src, 0.6)
    seen: list[str] = []
    with FrameReader(src, on_warning=seen.append) as reader:
        frames = list(reader)
    assert 0 < len(frames) < 20
    assert reader.warnings == seen and any("truncated" in w for w in seen)
    writer = transcode(src, tmp_path / f"out.{ext}")  # the copier survives the cut too
    assert writer.frames_written == len(frames)


def test_mp4_without_index_is_an_input_error(tmp_path):
    src = truncate(make_clip(tmp_path / "t.mp4", frames=20), 0.6)  # moov atom at the end: gone
    with pytest.raises(InputError, match=r"the MP4 index \(moov box\) is missing: the file is incomplete"):
        probe(src)


# -- image sequences ------------------------------------------------------------------------------


def test_image_folder_is_read_in_natural_order(tmp_path):
    folder = write_image_folder(tmp_path / "seq", ["10.png", "1.png", "2.png"])
    info = probe(folder)
    assert info.is_image_sequence and info.num_frames == 3
    assert [p.name for p in info.image_files] == ["1.png", "2.png", "10.png"]
    assert [p.name for p in list_images(folder)] == ["1.png", "2.png", "10.png"]
    frames = list(read_frames(folder))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [round(float(f.rgb[0, 0, 2]) * 255) for f in frames] == [0, 17, 34]  # pattern_rgb(k)
    assert frames[1].rgb[0, 0, 2] == np.float32(17) / np.float32(255)  # exact k / 255


def test_png_folder_output_8_and_16_bit(tmp_path):
    folder8 = write_image_folder(tmp_path / "seq8", ["1.png", "2.png", "10.png"])
    writer = transcode(folder8, tmp_path / "out8", scale=2)
    assert isinstance(writer, ImageSequenceWriter)
    names = sorted(p.name for p in (tmp_path / "out8").iterdir())
    assert names == ["00000000.png", "00000001.png", "00000002.png"]
    assert probe(tmp_path / "out8").pix_fmt == "rgb24"
    originals = [f.rgb for f in read_frames(folder8)]
    for original, frame in zip(originals, read_frames(tmp_path / "out8")):
        assert np.array_equal(frame.rgb[::2, ::2], original)  # lossless

    folder16 = write_image_folder(tmp_path / "seq16", ["a1.png", "a2.png"], bits=16)
    assert probe(folder16).bit_depth == 16
    transcode(folder16, tmp_path / "out16", bits=16)
    assert probe(tmp_path / "out16").pix_fmt == "rgb48be"


def test_image_folder_to_video(tmp_path):
    folder = write_image_folder(tmp_path / "seq", ["1.png", "2.png", "3.png"])
    transcode(folder, tmp_path / "out.mp4", scale=2)
    assert frame_times(tmp_path / "out.mp4") == [Fraction(k, 25) for k in range(3)]
    assert stream_tags(tmp_path / "out.mp4") == (1, 1, 1, 1)  # RGB sources become tagged BT.709


# -- writer input checks --------------------------------------------------------------------------


def test_writer_rejects_wrong_shape_and_dtype(tmp_path):
    info = probe(make_clip(tmp_path / "in.mp4", frames=2))
    with VideoWriter(tmp_path / "out.mp4", info, 64, 48, copy_streams=False) as writer:
        with pytest.raises(ValueError, match="expects"):
            writer.write(np.zeros((48, 32, 3), np.uint8), 0)
        with pytest.raises(ValueError, match="uint8 or uint16"):
            writer.write(np.zeros((48, 64, 3), np.float32), 0)
        writer.write(np.zeros((48, 64, 3), np.uint8), 0)
    with pytest.raises(EDVRError, match="unknown container"):
        VideoWriter(tmp_path / "out.unknownext", info, 64, 48)


# -- the output guard around a writer ----------------------------------------------------------------


def test_guarded_output_refuses_existing_and_replaces_with_overwrite(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        with guarded_output(target, overwrite=False):
            pass  # pragma: no cover
    assert target.read_bytes() == b"old"
    with guarded_output(target, overwrite=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".edvr-tmp-") and tmp.suffix == ".mp4"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_guarded_output_cleans_up_on_any_exception(tmp_path, error):
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=True)
    info = probe(src)
    with pytest.raises(error):
        with guarded_output(tmp_path / "out.mp4") as tmp, open_writer(tmp, info, 64, 48) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8), 0)
            raise error()
    with pytest.raises(error):
        with guarded_output(tmp_path / "frames", folder=True) as tmp, open_writer(tmp, info, 64, 48) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8), 0)
            raise error()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_guarded_output_replaces_only_an_edvr_frame_folder(tmp_path):
    target = tmp_path / "frames"
    target.mkdir()
    (target / "00000005.png").write_bytes(b"x")
    with guarded_output(target, overwrite=True, folder=True) as tmp:
        assert tmp.is_dir()
        (tmp / "00000000.png").write_bytes(b"y")
    assert [p.name for p in target.iterdir()] == ["00000000.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    (target / "notes.txt").write_bytes(b"mine")
    with pytest.raises(OutputError, match="notes.txt"):
        with guarded_output(target, overwrite=True, folder=True):
            pass  # pragma: no cover
    assert (target / "notes.txt").read_bytes() == b"mine"
