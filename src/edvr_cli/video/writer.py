"""Writers: encode RGB frames to a video (copying audio/subtitles alongside) or to PNG frames."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from edvr_cli.errors import EDVRError, WarningCallback, first_line
from edvr_cli.video.colour import (
    PRI_BT709,
    RANGE_LIMITED,
    SPC_BT709,
    SPC_RGB,
    TRC_BT709,
    ColorInfo,
)
from edvr_cli.video.convert import rgb_to_frame
from edvr_cli.video.encoder import EncoderSettings, MuxerCodecs, choose_encoder
from edvr_cli.video.paths import is_frame_folder_output
from edvr_cli.video.probe import VideoInfo
from edvr_cli.video.stderr import native_stderr

#: Colour of outputs made from RGB sources (image sequences, RGB video): BT.709, limited range.
RGB_SOURCE_OUTPUT_COLOR = ColorInfo(SPC_BT709, RANGE_LIMITED, PRI_BT709, TRC_BT709, True, True)

# Stream metadata worth carrying over (muxers regenerate the rest, e.g. handler_name, encoder).
_KEPT_METADATA = ("language", "title")
# Muxers that store a display matrix (rotation).
_ROTATION_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "3gp", "3g2", "ipod", "ismv", "psp"})
# Encoders that write the pixel aspect ratio into the bitstream (VUI), which every container keeps.
_SAR_IN_BITSTREAM = frozenset({"libx264", "libx265", "mpeg4"})


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
    """Pixel aspect ratio that keeps the source's display aspect ratio at the new size."""
    if info.sample_aspect_ratio is None:
        return None
    sar = info.sample_aspect_ratio * Fraction(info.width * height, info.height * width)
    return sar if sar != 1 else None


class VideoWriter(_WarningSink):
    """Encode RGB frames into a video file, copying the source's audio and subtitles.

    A context manager; leaving the block normally flushes the encoder, muxes the remaining
    copied packets and writes the trailer.

    Args:
        path: output file; its extension chooses the container.
        info: the source, from :func:`~edvr_cli.video.probe.probe` (timing, colour, rotation,
            aspect ratio, and the file to copy other streams from).
        width, height: size of the frames that will be written.
        codec, crf, preset, pix_fmt: encoder overrides, see
            :func:`~edvr_cli.video.encoder.choose_encoder` for the defaults.
        copy_streams: copy audio and subtitle streams packet for packet (no re-encode).
            Streams the container cannot hold are skipped with a warning.
        on_warning: called with each warning as it happens (also kept in ``.warnings``).
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
        on_warning: WarningCallback | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(on_warning)
        self.path = Path(path)
        self.label = label or self.path.name  # the name messages give (the final output, not a temporary)
        self.info = info
        self.width, self.height = width, height
        self.frames_written = 0
        self.color = output_color(info)
        self._fps = info.fps
        self._last_pts: int | None = None
        self._warned_pts = False
        self._reformatter = VideoReformatter()
        self._copier: StreamCopier | None = None
        try:
            self._out = av.open(str(self.path), "w")
        except (ValueError, av.error.FFmpegError) as e:
            raise EDVRError(f"cannot write '{self.label}': unknown container for this extension ({e})") from e
        # The source's time base keeps every pts exact. Constant-rate containers (AVI, MPEG-PS)
        # count frames in their time base instead, so they get 1/fps and rounded times.
        timed = av.format.Flags.variable_fps.value | av.format.Flags.no_timestamps.value
        if self._out.format.flags & timed or info.fps is None:  # type: ignore[operator]
            self.time_base = info.time_base
        else:
            self.time_base = 1 / info.fps
            self.warn(
                f"{self._out.format.name} stores a constant frame rate; frame times are rounded to 1/{info.fps} s"
            )
        try:
            self.settings = self._add_video_stream(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt)
            if copy_streams and not info.is_image_sequence:
                self._copier = StreamCopier(info, self._out, self.warn)
            try:  # open the encoder and write the header now, so refused settings fail before any work
                with native_stderr() as said:
                    self._out.start_encoding()
            except (av.error.FFmpegError, ValueError) as e:
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

    def _add_video_stream(self, **overrides) -> EncoderSettings:
        info = self.info
        settings, warnings = choose_encoder(
            source_codec=info.codec_name,
            bit_depth=info.bit_depth,
            chroma=info.chroma,
            width=self.width,
            height=self.height,
            container_codecs=MuxerCodecs(self._out.format.name),
            container_name=self._out.format.name,
            **overrides,
        )
        for message in warnings:
            self.warn(message)
        stream = self._out.add_stream(
            settings.codec,
            rate=self._fps,
            options=settings.options,
            time_base=self.time_base,
            width=self.width,
            height=self.height,
        )
        assert isinstance(stream, av.VideoStream)
        ctx = stream.codec_context
        ctx.pix_fmt = settings.pix_fmt
        ctx.colorspace = self.color.matrix
        ctx.color_range = self.color.range
        ctx.color_primaries = self.color.primaries
        ctx.color_trc = self.color.trc
        ctx.thread_type = "AUTO"
        sar = scaled_sample_aspect_ratio(info, self.width, self.height)
        fmt_name = self._out.format.name
        if sar is not None:
            ctx.sample_aspect_ratio = sar
            if fmt_name in ("matroska", "webm") and settings.codec not in _SAR_IN_BITSTREAM:
                # Matroska reads AVStream.sample_aspect_ratio, which PyAV cannot set.
                self.warn(f"pixel aspect ratio {sar} is lost: {fmt_name} with {settings.codec} cannot carry it here")
        if info.rotation:
            stream.set_display_rotation(info.rotation)
            if fmt_name not in _ROTATION_FORMATS:
                self.warn(f"rotation {info.rotation} degrees is lost: {fmt_name} has no display matrix")
        if settings.codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
        self._stream = stream
        return settings

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        """Encode one frame.

        Args:
            rgb: ``(height, width, 3)`` uint8, or uint16 for more than 8 bits (full 0..65535 scale).
            pts: presentation time in ``time_base`` units, normally the source frame's. ``None``
                places the frame one ``1 / fps`` after the previous one.
            time_base: units of ``pts``; ``None`` means the source's stream time base.
        """
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, writer expects {self.width}x{self.height}")
        pts = self._output_pts(pts, time_base)
        frame = rgb_to_frame(rgb, self.settings.pix_fmt, self.color, self._reformatter)
        frame.pts = pts
        frame.time_base = self.time_base
        self._out.mux(self._stream.encode(frame))
        self.frames_written += 1
        if self._copier is not None:
            self._copier.mux_until(pts * self.time_base)

    def _output_pts(self, pts: int | None, time_base: Fraction | None) -> int:
        if pts is None:
            step = 1 / (self._fps or 25) / self.time_base
            pts = 0 if self._last_pts is None else self._last_pts + max(1, round(step))
        else:
            source_tb = time_base or self.info.time_base
            if source_tb != self.time_base:
                pts = round(pts * source_tb / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            if not self._warned_pts:
                self.warn(f"frame {self.frames_written} has a timestamp that does not increase; shifted by 1 tick")
                self._warned_pts = True
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def close(self) -> None:
        """Flush the encoder, mux the rest of the copied streams and finish the file."""
        if self._out is None:
            return
        try:
            packets = self._stream.encode(None)
            if self.settings.codec == "libx265" and self.frames_written <= 2:
                # x265 leaves the dts of streams shorter than its B-frame delay uninitialised
                # (garbage the muxer refuses); such streams are not reordered: dts = pts
                for packet in packets:
                    packet.dts = packet.pts
            self._out.mux(packets)
            if self._copier is not None:
                self._copier.mux_until(None)
        finally:
            self._close_containers()

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

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class StreamCopier:
    """Copies the source's audio and subtitle packets into the output, interleaved with the video.

    A second demuxer reads the source; :meth:`mux_until` muxes packets up to a time, so only
    the packets between two video frames are held in memory, never a whole track.
    """

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer, warn: WarningCallback) -> None:
        self._warn = warn
        self._out = out
        self._in = av.open(str(info.path), "r")
        self._map: dict[int, av.stream.Stream] = {}
        self._pending: av.Packet | None = None
        self._failed = False
        self._dropping: set[int] = set()
        try:
            for stream in self._in.streams:
                if stream.index == info.stream_index:
                    continue
                target = self._add_copy(stream, out)
                if target is not None:
                    self._map[stream.index] = target
            for stream in self._in.streams:
                if stream.index not in self._map:
                    stream.discard = av.stream.Discard.all
            sources = [self._in.streams[i] for i in self._map]
            self._packets: Iterator[av.Packet] = iter(self._in.demux(*sources)) if sources else iter(())
        except BaseException:
            self._in.close()
            raise

    def _add_copy(self, stream: av.stream.Stream, out: av.container.OutputContainer) -> av.stream.Stream | None:
        label = f"{stream.type} stream #{stream.index} ({_codec_name(stream)})"
        if stream.type == "attachment":
            if out.format.name != "matroska":
                self._warn(f"skipped {label}: {out.format.name} cannot hold attachments")
                return None
            out.add_stream_from_template(stream)
            return None  # written with the header, no packets
        if stream.type == "video":
            self._warn(f"skipped {label}: only the main video stream is restored")
            return None
        if stream.type not in ("audio", "subtitle"):
            self._warn(f"skipped {label}: not audio or subtitles")
            return None
        reason = _cannot_mux(out.format.name, stream)
        if reason:
            self._warn(f"skipped {label}: {reason}")
            return None
        target = out.add_stream_from_template(stream)
        for key in _KEPT_METADATA:
            if key in stream.metadata:
                target.metadata[key] = stream.metadata[key]
        target.disposition = stream.disposition
        return target

    def mux_until(self, limit: Fraction | None) -> None:
        """Mux copied packets whose time is at most ``limit`` seconds (all remaining if ``None``)."""
        if self._failed:
            return
        while True:
            packet = self._pending
            self._pending = None
            if packet is None:
                try:
                    packet = next(self._packets, None)
                except (av.error.FFmpegError, ValueError) as e:
                    self._failed = True
                    self._warn(f"stopped copying audio/subtitles at a damaged packet: {e}")
                    return
                if packet is None:
                    return
            if packet.size == 0:  # demuxer flush marker
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if limit is not None and ts is not None and ts * packet.time_base > limit:
                self._pending = packet
                return
            packet.stream = target = self._map[packet.stream_index]
            try:
                self._out.mux(packet)
            except (av.error.FFmpegError, ValueError) as e:  # e.g. timestamps going backwards
                if target.index not in self._dropping:
                    self._dropping.add(target.index)
                    at = f"{float(ts * packet.time_base):.3f} s" if ts is not None else "an unknown time"
                    self._warn(f"dropped {target.type} packets the muxer refuses (first at {at}): {e}")

    def close(self) -> None:
        self._in.close()


def _codec_name(stream: av.stream.Stream) -> str:
    ctx = stream.codec_context
    return ctx.name if ctx is not None else (getattr(stream, "name", None) or "unknown")


def _cannot_mux(format_name: str, stream: av.stream.Stream) -> str | None:
    """Why ``format_name`` cannot hold a copy of ``stream`` (``None`` when it can).

    Asks :class:`MuxerCodecs` (the muxer's codec table), then makes a dry run that writes a
    header into memory, which catches codecs a muxer lists but still refuses.
    """
    codec = _codec_name(stream)
    if codec not in MuxerCodecs(format_name):
        return f"{format_name} does not take {codec}"
    try:
        with av.open(io.BytesIO(), "w", format=format_name) as probe_out:
            probe_out.add_stream_from_template(stream)
            probe_out.start_encoding()
    except av.error.FFmpegError:
        return f"the {format_name} muxer refuses {codec}"
    except ValueError as e:
        return str(e).splitlines()[0]
    return None


class ImageSequenceWriter(_WarningSink):
    """Write frames as PNG files ``00000000.png, 00000001.png, ...`` into a folder.

    ``uint8`` frames give 8-bit PNGs; ``uint16`` frames (from >8-bit sources) give 16-bit PNGs.
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
        **ignored,
    ) -> None:
        super().__init__(on_warning)
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
        (self.path / f"{self.frames_written:08d}.png").write_bytes(data)
        self.frames_written += 1

    def close(self) -> None:
        """Nothing to flush; present for parity with :class:`VideoWriter`."""

    def abort(self) -> None:
        """Nothing to undo here; :func:`~edvr_cli.guard.output.guarded_output` removes the folder."""

    def __enter__(self) -> ImageSequenceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def open_writer(
    output_path: str | Path, info: VideoInfo, width: int, height: int, **options
) -> VideoWriter | ImageSequenceWriter:
    """:class:`VideoWriter` for a path with a video extension, :class:`ImageSequenceWriter` otherwise.

    ``options`` are :class:`VideoWriter`'s keyword arguments (``codec, crf, preset, pix_fmt,
    copy_streams, on_warning``). The choice follows
    :func:`~edvr_cli.video.paths.is_frame_folder_output`, so the temporary path from
    :func:`~edvr_cli.guard.output.guarded_output` (same extension, or an existing folder) works.
    """
    if is_frame_folder_output(output_path):
        return ImageSequenceWriter(output_path, info, width, height, **options)
    return VideoWriter(output_path, info, width, height, **options)
