"""Writers: encode RGB frames to a video (carrying audio/subtitles alongside) or to PNG frames.

Also GIF (one palette, frame delays kept; :mod:`edvr_cli.video.gif`), YUV4MPEG2 (``.y4m``) and
YUV4MPEG2 on stdout (path ``-``), and :func:`check_writable` to refuse an output before any work.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import av
import av.error
import av.filter
import av.logging
import numpy as np
from av.video.reformatter import VideoReformatter

from edvr_cli import env
from edvr_cli.errors import EDVRError, OutputError, WarningCallback, first_line
from edvr_cli.video.avfields import set_stream_sample_aspect_ratio, stream_sample_aspect_ratio_settable
from edvr_cli.video.colour import (
    PRI_BT709,
    RANGE_FULL,
    RANGE_LIMITED,
    SPC_BT709,
    SPC_RGB,
    TRC_BT709,
    ColorInfo,
    output_tags,
)
from edvr_cli.video.convert import plane_layout, planes_to_frame, rgb_to_frame
from edvr_cli.video.encoder import HVC1_FORMATS, EncoderSettings, MuxerCodecs, choose_encoder, output_format
from edvr_cli.video.formats import describe_pix_fmt
from edvr_cli.video.gif import GifPalettizer
from edvr_cli.video.paths import STDOUT, VIDEO_EXTENSIONS, frame_file_name, is_frame_folder_output
from edvr_cli.video.planes import PlaneLayout, YUVFrame
from edvr_cli.video.pngtext import header_end, text_chunks
from edvr_cli.video.probe import VideoInfo
from edvr_cli.video.source import SourceVideo, source_video
from edvr_cli.video.stderr import native_stderr
from edvr_cli.video.streams import StreamCopier, StreamPlan, plan_streams
from edvr_cli.video.timing import Increasing, rescale

__all__ = [
    "ImageSequenceWriter",
    "StreamCopier",
    "VideoWriter",
    "check_writable",
    "open_stdout_writer",
    "open_writer",
    "plan_streams",
]


#: Colour of outputs made from RGB sources (image sequences, RGB video): BT.709, limited range.
RGB_SOURCE_OUTPUT_COLOR = ColorInfo(SPC_BT709, RANGE_LIMITED, PRI_BT709, TRC_BT709, True, True)

# Muxers that store a display matrix (rotation).
_ROTATION_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "3gp", "3g2", "ipod", "ismv", "psp"})
# Encoders that write the pixel aspect ratio into the bitstream (VUI), which every container keeps, and
# the names of their codecs (what a joined segment's stream says).
_SAR_IN_BITSTREAM = frozenset({"libx264", "libx265", "mpeg4", "h264", "hevc"})
# Muxers where the video stream is marked "default" (players pick tracks by it).
_DEFAULT_FLAG_FORMATS = frozenset({"matroska", "webm"})
# Muxers that keep container tags of any name (checked with this FFmpeg); the mov family only with
# ``movflags use_metadata_tags`` (else it keeps a fixed set: comment, title ...), which the writer sets.
_MDTA_FORMATS = frozenset({"mp4", "mov", "ipod"})
_ANY_TAG_FORMATS = frozenset({"matroska", "webm", "nut", "flv", "asf"}) | _MDTA_FORMATS
_AV_FIELD_PROGRESSIVE = 1


class _WarningSink:
    """Collects warnings in ``.warnings`` and forwards each to an optional callback."""

    def __init__(self, on_warning: WarningCallback | None) -> None:
        self.warnings: list[str] = []
        self._on_warning = on_warning

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)


def output_color(info: VideoInfo) -> ColorInfo:
    """Colour the output is encoded and tagged with: the source's, or BT.709 for RGB sources."""
    return RGB_SOURCE_OUTPUT_COLOR if info.color.matrix == SPC_RGB else info.color


def scaled_sample_aspect_ratio(info: VideoInfo, width: int, height: int) -> Fraction | None:
    """Pixel aspect ratio that keeps the source's display aspect ratio at the new size; ``None`` when the
    source has none (as ``ffmpeg`` leaves it unset), 1 when the result is square and the source had one
    (an explicit 1:1 stays written)."""
    source = info.sample_aspect_ratio
    if source is None and getattr(info, "square_pixels_tagged", False):
        source = Fraction(1)
    if source is None:
        return None
    return source * Fraction(info.width * height, info.height * width)


class VideoWriter(_WarningSink):
    """Encode RGB frames into a video file, carrying the source's audio and subtitles.

    A context manager; leaving the block normally flushes the encoder, muxes the remaining
    copied packets and writes the trailer.

    Args:
        path: output file; its extension chooses the container. ``"-"`` writes YUV4MPEG2 to
            standard output (or to ``stdout`` when given), nothing else.
        info: the source, from :func:`~edvr_cli.video.probe.probe` (timing, colour, rotation,
            aspect ratio, and the file to copy other streams from).
        width, height: size of the frames that will be written.
        codec, crf, preset, pix_fmt: encoder overrides, see
            :func:`~edvr_cli.video.encoder.choose_encoder` for the defaults.
        copy_streams: carry audio, subtitle and attachment streams: packet for packet where the
            container holds them, else converted (see :func:`~edvr_cli.video.streams.plan_streams`);
            streams nothing fits are dropped with a warning.
        strict_streams: raise :class:`~edvr_cli.errors.StreamError` (before any frame) when a
            stream would be converted or dropped.
        on_warning: called with each warning as it happens (also kept in ``.warnings``).
        label: the name messages give (the final output, not a temporary).
        stdout: binary file object for ``path == "-"`` (default ``sys.stdout.buffer``).
        progressive: the frames were deinterlaced: the stream is flagged progressive.
        encoder, source, stream_plan: what a run's plan already chose (:func:`plan_encoder`), read
            (:func:`~edvr_cli.video.source.inspect`) and planned; None: decided here.
        metadata: container tags to write (the run's provenance); :func:`keeps_tags` says which
            muxers keep tags of any name (YUV4MPEG2 keeps none).

    Attributes:
        settings: the :class:`~edvr_cli.video.encoder.EncoderSettings` in use; ``str(settings)`` /
            :attr:`encoder_description` is one line (``encoder: libx264 crf 17, yuv420p``).
        stream_plan: the :class:`~edvr_cli.video.streams.StreamPlan` followed.
        stream_summary: one line per stream converted or dropped
            (``audio #1 aac → opus (webm cannot hold aac)``), empty when all were copied.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        width: int,
        height: int,
        *,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        copy_streams: bool = True,
        strict_streams: bool = False,
        on_warning: WarningCallback | None = None,
        label: str | None = None,
        stdout: IO[bytes] | None = None,
        progressive: bool = False,
        encoder: EncoderSettings | None = None,
        source: SourceVideo | None = None,
        stream_plan: StreamPlan | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(on_warning)
        self.metadata = dict(metadata or {})  # container tags (see keeps_tags for which muxers keep which)
        self.progressive = progressive  # the frames were deinterlaced: flag the stream progressive
        self.planned = encoder is not None  # a run's plan chose the encoder and said what is lost
        self.to_stdout = str(path) == STDOUT
        self.path = Path(path)
        self.label = label or ("standard output" if self.to_stdout else self.path.name)
        self.info = info
        self.width, self.height = width, height
        self.frames_written = 0
        self.color = output_color(info)
        self.stream_plan = StreamPlan("")
        self.stream_summary: list[str] = []
        self._fps = info.fps
        self._times = Increasing()
        self._warned_pts = False
        self._reformatter = VideoReformatter()
        self._copier: StreamCopier | None = None
        self._gif: GifPalettizer | None = None
        self._source = source if source is not None else source_video(info)
        self._out = self._open_output(stdout)
        fmt_name = self._out.format.name
        if self.to_stdout and info.fps is None:
            self._out.close()
            raise EDVRError("cannot write YUV4MPEG2 to standard output: the source has no frame rate")
        # The source's time base keeps every pts exact. Constant-rate containers (AVI, MPEG-PS)
        # count frames in their time base instead, so they get 1/fps and rounded times.
        if not constant_rate(fmt_name) or info.fps is None:
            self.time_base = info.time_base
        else:
            self.time_base = 1 / info.fps
        try:
            if copy_streams and not info.is_image_sequence:
                self.stream_plan = stream_plan if stream_plan is not None else plan_streams(info, fmt_name)
                if strict_streams:
                    self.stream_plan.check_strict(self.label)
                self.stream_summary = self.stream_plan.summary()
            self.settings = self._add_video_stream(encoder, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt)
            if copy_streams and not info.is_image_sequence:
                self._copier = StreamCopier(info, self._out, self.warn, plan=self.stream_plan)
            try:  # open the encoder and write the header now, so refused settings fail before any work
                with native_stderr() as said:
                    self._out.start_encoding()
            except (av.error.FFmpegError, ValueError) as e:
                if isinstance(e, OSError) and e.errno:  # the file itself cannot be made: say where and why
                    from edvr_cli.guard.output import describe_os_error

                    why = describe_os_error(e, self.path, self.label)
                    if why is not None:
                        raise OutputError(why) from None
                encoder_said = [line for line in said.text.splitlines() if line.strip()]
                if encoder_said or "avcodec_open2" in str(e):
                    given = ", ".join(f"--{k} {v}" for k, v in (("crf", crf), ("preset", preset), ("pix-fmt", pix_fmt))
                                      if v is not None)
                    why = encoder_said[0].strip() if encoder_said else first_line(e)
                    raise EDVRError(
                        f"cannot write '{self.label}': the {self.settings.codec} encoder refuses its settings "
                        f"({why}){'; check ' + given if given else ''}"
                    ) from None
                raise EDVRError(
                    f"cannot write '{self.label}': the {self._out.format.name} container refuses "
                    f"{self.settings.codec} video ({first_line(e)}); pick another extension or codec"
                ) from None
            for line in said.text.splitlines():
                if line.strip():
                    self.warn(line.strip())
        except BaseException:
            if self._copier is not None:
                self._copier.close()
            self._out.close()
            raise

    @property
    def encoder_description(self) -> str:
        """One line naming the encoder and its settings: ``encoder: libx264 crf 17, yuv420p``."""
        return self.settings.description

    def _open_output(self, stdout: IO[bytes] | None) -> av.container.OutputContainer:
        if self.to_stdout:
            target: Any = stdout if stdout is not None else sys.stdout.buffer
            try:
                return av.open(target, "w", format="yuv4mpegpipe", options={"strict": "-1"})
            except (ValueError, av.error.FFmpegError, OSError) as e:
                raise OutputError(f"cannot write YUV4MPEG2 to standard output: {first_line(e)}") from None
        try:
            fmt = output_format(self.path)
        except EDVRError as e:
            raise EDVRError(f"cannot write '{self.label}': unknown container for this extension ({e})") from None
        options = {"strict": "-1"} if fmt == "yuv4mpegpipe" else {}  # >8-bit YUV4MPEG2 is FFmpeg's extension
        options.update(tag_options(fmt, self.metadata))
        try:
            out = av.open(str(self.path), "w", format=fmt, options=options)
            out.metadata.update(self.metadata)
            return out
        except (ValueError, av.error.FFmpegError) as e:
            raise EDVRError(f"cannot write '{self.label}': unknown container for this extension ({e})") from e

    def _add_video_stream(self, chosen: EncoderSettings | None, **overrides) -> EncoderSettings:
        info = self.info
        src = self._source
        fmt_name = self._out.format.name
        if chosen is not None:
            settings = chosen
        else:
            settings, warnings = plan_encoder(info, src, fmt_name, self.width, self.height, **overrides)
            for message in warnings:
                self.warn(message)
        options = dict(settings.options)
        out_chroma = describe_pix_fmt(settings.pix_fmt).chroma if settings.pix_fmt != "pal8" else "rgb"
        if src.chroma_location and out_chroma in ("420", "422", "440", "411", "410"):
            options["chroma_sample_location"] = src.chroma_location
        if settings.codec == "mjpeg" and self.color.range != RANGE_FULL:
            options["strict"] = "unofficial"  # limited-range JPEG is FFmpeg's extension (players read the tag)
        stream = self._out.add_stream(
            settings.codec,
            rate=self._fps,
            options=options,
            time_base=self.time_base,
            width=self.width,
            height=self.height,
        )
        assert isinstance(stream, av.VideoStream)
        ctx = stream.codec_context
        ctx.pix_fmt = settings.pix_fmt
        if settings.codec == "libx265" and (fmt_name in HVC1_FORMATS or src.codec_tag == "hvc1"):
            stream.codec_tag = "hvc1"  # not hev1: parameter sets in the sample description (Apple players)
        for key, value in src.metadata:
            stream.metadata[key] = value
        disposition = src.disposition
        if fmt_name in _DEFAULT_FLAG_FORMATS:
            disposition |= int(av.stream.Disposition.default)
        if disposition:
            stream.disposition = av.stream.Disposition(disposition)
        if self.progressive:
            ctx.field_order = _AV_FIELD_PROGRESSIVE
        elif src.field_order > _AV_FIELD_PROGRESSIVE:
            # interlaced lines stay fields only at the source's height; scaled frames are progressive
            ctx.field_order = src.field_order if self.height == info.height else _AV_FIELD_PROGRESSIVE
        if settings.codec == "gif":
            self._gif = GifPalettizer(self.width, self.height, self.time_base)
            self._stream = stream
            return settings
        # encoded with self.color; tagged as the source was (untagged stays untagged where readers assume the same)
        ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc = output_tags(
            self.color, codec_name=settings.codec, pix_fmt=settings.pix_fmt, width=self.width, height=self.height)
        ctx.thread_type = "AUTO"
        sar = scaled_sample_aspect_ratio(info, self.width, self.height)
        if sar is not None:
            ctx.sample_aspect_ratio = sar
            # what Matroska and MOV write, as ffmpeg sets it; where it cannot be set, a note says so (the
            # plan's when no stream's field can be set here, else this one)
            if not set_stream_sample_aspect_ratio(stream, sar) and stream_sample_aspect_ratio_settable() \
                    and sar_is_lost(sar, fmt_name, settings.codec):
                self.warn(sar_lost_note(sar, fmt_name, settings.codec))
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        if not self.planned:
            for note in output_notes(info, fmt_name, settings.codec, self.width, self.height, self.to_stdout):
                self.warn(note)
        if settings.codec == "libsvtav1":
            env.set_default("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
        self._stream = stream
        return settings

    @property
    def plane_layout(self) -> PlaneLayout | None:
        """The YUV planes :meth:`write` takes as they are (converted elsewhere, e.g. on the model's device);
        ``None`` when it takes RGB only."""
        if self._gif is not None:
            return None
        return plane_layout(self.settings.pix_fmt, self.color)

    def write(self, rgb: np.ndarray | YUVFrame, pts: int | None = None, time_base: Fraction | None = None) -> None:
        """Encode one frame.

        Args:
            rgb: ``(height, width, 3)`` uint8, or uint16 for more than 8 bits (full 0..65535 scale);
                or planes in :attr:`plane_layout`.
            pts: presentation time in ``time_base`` units, normally the source frame's. ``None``
                places the frame one ``1 / fps`` after the previous one.
            time_base: units of ``pts``; ``None`` means the source's stream time base.
        """
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, writer expects {self.width}x{self.height}")
        pts = self._output_pts(pts, time_base)
        if isinstance(rgb, YUVFrame) and self.plane_layout is None:
            raise ValueError(f"{self.settings.pix_fmt} output takes RGB frames, not YUV planes")
        if self._gif is not None:
            frames = self._gif.push(_rgb24_frame(rgb, pts, self.time_base))  # type: ignore[arg-type]
        else:
            if isinstance(rgb, YUVFrame):
                frame = planes_to_frame(rgb, self.settings.pix_fmt, self.color)
            else:
                frame = rgb_to_frame(rgb, self.settings.pix_fmt, self.color, self._reformatter)
            frame.pts = pts
            frame.time_base = self.time_base
            frames = [frame]
        try:
            for frame in frames:
                self._out.mux(self._stream.encode(frame))
        except BrokenPipeError:
            raise self._closed_pipe() from None
        self.frames_written += 1
        if self._copier is not None:
            self._copier.mux_until(pts * self.time_base)

    def _closed_pipe(self) -> OutputError:
        return OutputError(f"cannot write to {self.label}: the reading program closed the pipe")

    def _output_pts(self, pts: int | None, time_base: Fraction | None) -> int:
        last = self._times.last
        if pts is None:
            step = 1 / (self._fps or 25) / self.time_base
            pts = 0 if last is None else last + max(1, round(step))
        else:
            pts = rescale(pts, time_base or self.info.time_base, self.time_base)
        nudged = self._times.nudged
        pts = self._times(pts)
        if self._times.nudged != nudged and not self._warned_pts:
            self.warn(f"frame {self.frames_written} has a timestamp that does not increase; shifted by 1 tick")
            self._warned_pts = True
        return pts

    def close(self) -> None:
        """Flush the encoder, mux the rest of the copied streams and finish the file."""
        if self._out is None:
            return
        try:
            if self._gif is not None:
                for frame in self._gif.flush():
                    self._out.mux(self._stream.encode(frame))
            packets = self._stream.encode(None)
            if self.settings.codec == "libx265" and self.frames_written <= 2:
                # x265 leaves the dts of streams shorter than its B-frame delay uninitialised
                # (garbage the muxer refuses); such streams are not reordered: dts = pts
                for packet in packets:
                    packet.dts = packet.pts
            self._out.mux(packets)
            if self._copier is not None:
                self._copier.mux_until(None)
        except BrokenPipeError:
            self.abort()
            raise self._closed_pipe() from None
        try:
            self._close_containers()
        except BrokenPipeError:
            raise self._closed_pipe() from None

    def abort(self) -> None:
        """Close without flushing (after an error; the caller discards the file)."""
        if self._out is not None:
            try:
                self._close_containers()
            except (av.error.FFmpegError, OSError, ValueError):
                pass

    def _close_containers(self) -> None:
        out, self._out = self._out, None  # type: ignore[assignment]
        try:
            if self._copier is not None:
                self._copier.close()
        finally:
            out.close()
            if self.to_stdout and out.file is not None and hasattr(out.file, "flush"):
                out.file.flush()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _rgb24_frame(rgb: np.ndarray, pts: int, time_base: Fraction) -> av.VideoFrame:
    """An ``rgb24`` frame of ``rgb`` (16-bit samples are rounded to 8 bits: GIF has 8)."""
    if rgb.dtype == np.uint16:
        rgb = ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame.pts = pts
    frame.time_base = time_base
    return frame


class ImageSequenceWriter(_WarningSink):
    """Write frames as PNG files ``00000000.png, 00000001.png, ...`` into a folder.

    ``uint8`` frames give 8-bit PNGs; ``uint16`` frames (from >8-bit sources) give 16-bit PNGs.
    ``metadata`` tags are written as text chunks of every frame (:mod:`edvr_cli.video.pngtext`).
    Timestamps are accepted for interface parity and ignored (a folder has no timing).
    """

    def __init__(
        self,
        folder: str | Path,
        info: VideoInfo,
        width: int,
        height: int,
        *,
        on_warning: WarningCallback | None = None,
        label: str | None = None,
        metadata: Mapping[str, str] | None = None,
        **ignored,
    ) -> None:
        super().__init__(on_warning)
        self.metadata = dict(metadata or {})  # text chunks of every frame
        self._chunks = text_chunks(self.metadata)  # made once
        self.path = Path(folder)
        self.label = label or self.path.name
        self.info = info
        self.width, self.height = width, height
        self.frames_written = 0
        unused = sorted(k for k, v in ignored.items() if v not in (None, True, False))
        if unused:
            self.warn(f"PNG frame output ignores {', '.join(unused)}")
        if ignored.get("copy_streams", True) and (info.has_audio or info.has_subtitles):
            self.warn("PNG frame output has no audio or subtitles; they are not copied")
        self._encoders: dict[str, av.CodecContext] = {}
        self.path.mkdir(parents=True, exist_ok=True)

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        """Write one frame; ``rgb`` is ``(height, width, 3)`` uint8 or uint16."""
        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame has shape {rgb.shape}, writer expects ({self.height}, {self.width}, 3)")
        if rgb.dtype == np.uint8:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        elif rgb.dtype == np.uint16:
            # PNG stores 16-bit samples big-endian; from_ndarray swaps native uint16 for us.
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48be")
        else:
            raise ValueError(f"expected uint8 or uint16 RGB, got {rgb.dtype}; quantise before writing")
        codec = self._encoders.get(frame.format.name)
        if codec is None:
            codec = av.VideoCodecContext.create("png", "w")
            codec.width, codec.height, codec.pix_fmt = self.width, self.height, frame.format.name
            self._encoders[frame.format.name] = codec
        data = b"".join(bytes(packet) for packet in codec.encode(frame))  # type: ignore[attr-defined]
        with open(self.path / frame_file_name(self.frames_written), "wb") as f:
            if self._chunks:  # the text after the header, without copying the image data again
                end = header_end(data)
                view = memoryview(data)
                f.writelines((view[:end], self._chunks, view[end:]))
            else:
                f.write(data)
        self.frames_written += 1

    def close(self) -> None:
        """Nothing to flush; present for parity with :class:`VideoWriter`."""

    def abort(self) -> None:
        """Nothing to undo here; :func:`~edvr_cli.guard.output.guarded_output` removes the folder."""

    def __enter__(self) -> ImageSequenceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def keeps_tags(format_name: str) -> bool:
    """Whether a muxer keeps container tags of any name (the mov family with :func:`tag_options`)."""
    return format_name in _ANY_TAG_FORMATS


def tag_options(format_name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """Muxer options that make ``tags`` survive: the mov family keeps keys of its own only with
    ``movflags use_metadata_tags``."""
    return {"movflags": "use_metadata_tags"} if tags and format_name in _MDTA_FORMATS else {}


def constant_rate(format_name: str) -> bool:
    """Whether a muxer counts frames at a constant rate (AVI, MPEG-PS): frame times are rounded to 1/fps."""
    timed = av.format.Flags.variable_fps.value | av.format.Flags.no_timestamps.value
    return not (av.format.ContainerFormat(format_name, "w").flags & timed)  # type: ignore[operator]


def output_notes(info: VideoInfo, format_name: str, codec: str, width: int, height: int,
                 to_stdout: bool = False) -> list[str]:
    """What a video output of this muxer and encoder loses of the source, one line each: exact frame times
    (image folders have none to lose), the pixel aspect ratio, the rotation."""
    notes = []
    if info.fps is not None and not to_stdout and not info.is_image_sequence and constant_rate(format_name):
        notes.append(f"{format_name} stores a constant frame rate; frame times are rounded to 1/{info.fps} s")
    sar = scaled_sample_aspect_ratio(info, width, height)
    if sar is not None and sar_is_lost(sar, format_name, codec) and not stream_sample_aspect_ratio_settable():
        # Matroska reads AVStream.sample_aspect_ratio, which this PyAV gives no way to set (see video.avfields)
        notes.append(sar_lost_note(sar, format_name, codec))
    if info.rotation and format_name not in _ROTATION_FORMATS:
        notes.append(f"rotation {info.rotation} degrees is lost: {format_name} has no display matrix")
    return notes


def sar_is_lost(sar: Fraction, format_name: str, codec: str) -> bool:
    """Whether a pixel aspect ratio is lost in this muxer with this encoder (or codec) when the stream's own
    field cannot be set (see :mod:`~edvr_cli.video.avfields`): Matroska reads only that field, of codecs that
    do not store it in their bitstream; a square one is what players assume anyway."""
    return sar != 1 and format_name in ("matroska", "webm") and codec not in _SAR_IN_BITSTREAM


def sar_lost_note(sar: Fraction, format_name: str, codec: str) -> str:
    return f"pixel aspect ratio {sar} is lost: {format_name} with {codec} cannot carry it here"


def plan_encoder(info: VideoInfo, source: SourceVideo, format_name: str, width: int, height: int, *,
                 codec: str | None = None, crf: int | None = None, preset: str | None = None,
                 pix_fmt: str | None = None) -> tuple[EncoderSettings, list[str]]:
    """The encoder a video output of ``format_name`` gets for this source at this size, with the
    warnings about substitutions; opens nothing (see :func:`~edvr_cli.video.encoder.choose_encoder`)."""
    return choose_encoder(
        source_codec=info.codec_name, bit_depth=info.bit_depth, chroma=info.chroma, width=width, height=height,
        container_codecs=MuxerCodecs(format_name), container_name=format_name, source_profile=source.profile,
        codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
    )


def open_writer(
    output_path: str | Path, info: VideoInfo, width: int, height: int, **options
) -> VideoWriter | ImageSequenceWriter:
    """:class:`VideoWriter` for a path with a video extension, :class:`ImageSequenceWriter` otherwise.

    ``options`` are :class:`VideoWriter`'s keyword arguments (``codec, crf, preset, pix_fmt,
    copy_streams, strict_streams, on_warning, label``). The choice follows
    :func:`~edvr_cli.video.paths.is_frame_folder_output`, so the temporary path from
    :func:`~edvr_cli.guard.output.guarded_output` (same extension, or an existing folder) works.
    ``"-"`` is YUV4MPEG2 on standard output (see :func:`open_stdout_writer`; no guard for it).
    """
    if str(output_path) == STDOUT:
        return VideoWriter(STDOUT, info, width, height, **options)
    if is_frame_folder_output(output_path):
        return ImageSequenceWriter(output_path, info, width, height, **options)
    return VideoWriter(output_path, info, width, height, **options)


def open_stdout_writer(
    info: VideoInfo, width: int, height: int, *, stdout: IO[bytes] | None = None, **options: Any
) -> VideoWriter:
    """A :class:`VideoWriter` of YUV4MPEG2 (``rawvideo``) to ``stdout`` (default: the process's fd 1).

    For ``edvr upscale in.mp4 - | ffmpeg -i - ...``: only the stream goes to stdout (warnings go
    to ``on_warning``); other streams are not written (YUV4MPEG2 holds video only). The header
    carries the chroma siting (``C420jpeg``/``C420mpeg2``/``C420paldv``), ``XCOLORRANGE`` and
    interlacing as FFmpeg's muxer writes them from the encoder's settings. A reader that exits
    early ends the run with :class:`~edvr_cli.errors.OutputError`.
    """
    options.setdefault("copy_streams", False)
    return VideoWriter(STDOUT, info, width, height, stdout=stdout, **options)


def check_writable(path: str | Path, *, codec: str | None = None) -> None:
    """Refuse, before any work, an output this build cannot write; returns quietly otherwise.

    ``-`` (YUV4MPEG2 on stdout) and paths without a video extension (PNG frame folders) are
    writable. For a video extension: FFmpeg must have a muxer for it and a video encoder that
    fits it (``codec`` when given). Every extension of
    :data:`~edvr_cli.video.paths.VIDEO_EXTENSIONS` passes with this package's FFmpeg.

    Raises:
        EDVRError: one line naming the output and why.
    """
    if str(path) == STDOUT or is_frame_folder_output(path):
        return
    name = Path(path).name
    fmt = output_format(path)  # raises for extensions no muxer writes
    try:
        with av.open(_Named(name), "w", format=fmt):
            pass
    except (ValueError, av.error.FFmpegError) as e:
        raise EDVRError(f"cannot write '{name}': FFmpeg cannot write {fmt} here ({first_line(e)})") from None
    choose_encoder(source_codec="h264", bit_depth=8, chroma="420", width=64, height=64,
                   container_codecs=MuxerCodecs(fmt), container_name=fmt, codec=codec)


class _Named:
    """A write-only sink with a name (``av.open`` on it touches no file)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, data: bytes) -> int:
        return len(data)


#: Extensions :func:`check_writable` accepts (all of VIDEO_EXTENSIONS in this build).
WRITABLE_EXTENSIONS = VIDEO_EXTENSIONS
