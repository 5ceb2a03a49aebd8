"""Probing: what an input video or image folder holds, without reading it all (``probe``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from edvr_cli.errors import InputError, first_line
from edvr_cli.video.colour import ColorInfo, resolve_color
from edvr_cli.video.formats import describe_pix_fmt
from edvr_cli.video.paths import list_images
from edvr_cli.video.pipes import STDIN_LABEL, PipeSource, is_stdin, open_stdin, stdin_path
from edvr_cli.video.span import TimeLike, check_span

#: Frame rate given to image sequences (they carry no timing of their own).
DEFAULT_SEQUENCE_FPS = Fraction(25)

# FFmpeg demuxers that accept text files as "video" (ANSI art); a .txt is not footage.
_NOT_FOOTAGE_FORMATS = frozenset({"tty"})

# AVFieldOrder: unknown, progressive, then (coded first, displayed first) top/bottom pairs.
_FIELD_ORDERS = {2: "tff", 3: "bff", 4: "bff", 5: "tff"}  # TT, BB, TB, BT
#: Frame rates above this are timestamp resolutions (VFR streams' "tbr"), not frame rates:
#: they give no frame-count estimate.
_MAX_PLAUSIBLE_FPS = 300


@dataclass(frozen=True)
class VideoInfo:
    """Facts about an input, read by :func:`probe`.

    Args:
        path: the file, or the folder of an image sequence.
        width, height: coded frame size in pixels (before rotation / aspect ratio).
        num_frames: frame count for progress bars: exact from the container or the folder,
            estimated from duration x rate otherwise, ``None`` when unknown.
        fps: average frame rate (may hide variable timing; use the frames' pts), ``None`` if unknown.
        time_base: the video stream's time base; frames' pts are in these units.
        codec_name: the codec as FFmpeg names the format (``h264``, ``hevc``, ``av1``, ``png`` ...; not the
            decoder's name, ``libdav1d``).
        pix_fmt: decoded pixel format (``yuv420p10le`` ...).
        bit_depth: bits per component of ``pix_fmt``.
        chroma: ``'420' | '422' | '444' | '440' | '411' | '410' | 'rgb' | 'gray'``.
        color: matrix / range (resolved, see :mod:`edvr_cli.video.colour`), primaries, trc.
        rotation: display rotation, counter-clockwise degrees (``0, 90, 180, 270``).
        sample_aspect_ratio: pixel aspect ratio, ``None`` when unknown or square.
        square_pixels_tagged: the stream says its pixels are square (an explicit 1:1, which the output keeps).
        has_audio, has_subtitles: whether such streams exist (whether they fit the output
            container is decided by the writer).
        is_image_sequence: the input is a folder of images.
        image_files: the sequence's files in natural order (empty for videos).
        container_format: demuxer name (``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska,webm``), or ``None``.
        stream_index: index of the video stream in the container.
        start_time: first pts of the video stream in ``time_base`` units, or ``None``.
        num_frames_exact: ``num_frames`` is a count from the container's index (MP4/MOV, AVI,
            image folders), not an estimate.
        duration: the video stream's duration in seconds (the container's when the stream has
            none), ``None`` when unknown (pipes, raw elementary streams).
        interlaced: the stream is flagged interlaced (field order in the stream header, or the
            first frame's interlaced flag).
        field_order: ``'tff'`` (top field first), ``'bff'`` or ``'progressive'``. Interlaced frames
            without a field order in the header count as ``'tff'`` (PyAV does not expose the
            frame's own top-field-first flag).
        is_pipe: the input is standard input (``-``): read once, no seeking, no length.
        span: ``(start, end)`` seconds to restore, counted from the first frame of the video stream
            (FFmpeg's ``-ss`` / ``-to``); ``end`` ``None`` means to the end; ``None``: everything.
            See :attr:`source_span` for the same span on the container's timeline.
    """

    path: Path
    width: int
    height: int
    num_frames: int | None
    fps: Fraction | None
    time_base: Fraction
    codec_name: str
    pix_fmt: str
    bit_depth: int
    chroma: str
    color: ColorInfo
    rotation: int = 0
    sample_aspect_ratio: Fraction | None = None
    has_audio: bool = False
    has_subtitles: bool = False
    is_image_sequence: bool = False
    image_files: tuple[Path, ...] = ()
    container_format: str | None = None
    stream_index: int = 0
    start_time: int | None = None
    num_frames_exact: bool = False
    duration: Fraction | None = None
    interlaced: bool = False
    field_order: str = "progressive"
    is_pipe: bool = False
    span: tuple[Fraction, Fraction | None] | None = None
    square_pixels_tagged: bool = False

    @property
    def label(self) -> str:
        """How messages name the input: the file or folder name, or 'standard input'."""
        return STDIN_LABEL if self.is_pipe else self.path.name

    @property
    def origin(self) -> Fraction:
        """Seconds on the container's timeline (``pts * time_base``) of the video stream's first frame."""
        return (self.start_time or 0) * self.time_base

    @property
    def source_span(self) -> tuple[Fraction, Fraction | None] | None:
        """:attr:`span` on the container's timeline (seconds, ``pts * time_base`` of any stream), for
        trimming audio and subtitles; ``None`` without a span."""
        if self.span is None:
            return None
        start, end = self.span
        return self.origin + start, None if end is None else self.origin + end

    @property
    def expected_frames(self) -> int | None:
        """Frames a reader of this input yields, for a progress bar: :attr:`num_frames`, or the span's
        share of it (estimated from the rate); ``None`` when unknown. A reader's own
        ``num_frames`` also counts field-rate deinterlacing."""
        if self.span is None or self.num_frames is None:
            return self.num_frames
        start, end = self.span
        if self.fps is None:
            return None
        length = (self.duration if self.duration is not None else Fraction(self.num_frames) / self.fps)
        stop = length if end is None else min(end, length)
        return max(0, min(self.num_frames, round((stop - start) * self.fps)))


def probe(
    path: str | Path,
    *,
    sequence_fps: Fraction = DEFAULT_SEQUENCE_FPS,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> VideoInfo:
    """Describe a video file, an image folder or standard input (``-``); decodes only the first frame.

    ``start`` / ``end`` (seconds as Fraction, float or FFmpeg time text) record a span to restore
    in :attr:`VideoInfo.span`; readers given this info restore only that span.

    Standard input is opened once per process (see :mod:`edvr_cli.video.pipes`); the first
    frame stays buffered for the reader.

    Raises:
        InputError: the path does not exist, is not a video or image folder we can decode,
            has no video stream, or no decodable frame.
        SpanError: a malformed span, an empty one, or one starting after the end of the video.
    """
    info = _probe(path, Fraction(sequence_fps))
    span = check_span(start, end, info.duration)
    return info if span is None else replace(info, span=span)


def _probe(path: str | Path, sequence_fps: Fraction) -> VideoInfo:
    if is_stdin(path):
        return probe_pipe(open_stdin())
    p = Path(path)
    if not p.exists():
        raise InputError(f"input '{p}' does not exist")
    if p.is_dir():
        return _probe_sequence(p, sequence_fps)
    container = open_input(p)
    with container:
        stream = video_stream(container, p)
        first = first_frame(container, stream, p)
        return info_from_stream(p, container, stream, first)


def probe_pipe(source: PipeSource) -> VideoInfo:
    """Describe an open pipe from its header and first frame (kept in ``source.pending``)."""
    first = source.first_frame()
    info = info_from_stream(stdin_path(), source.container, source.stream, first)
    return replace(info, is_pipe=True, num_frames=None, num_frames_exact=False, duration=None)


def open_input(path: Path) -> av.container.InputContainer:
    """``av.open`` for reading, with FFmpeg's errors turned into :class:`InputError`: a YUV4MPEG2 header
    is checked first (:mod:`~edvr_cli.video.y4m`), an MP4 / MOV FFmpeg cannot open is looked at for its
    index (:mod:`~edvr_cli.video.isobmff`), so that the message says what is wrong."""
    from edvr_cli.video import y4m

    try:
        y4m.check_file(path)
    except y4m.Y4MHeaderError as e:
        raise InputError(y4m.header_error(f"'{path}'", e)) from None
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        _refuse_incomplete_mp4(path)
        raise InputError(f"cannot read '{path}' as a video (not a video, or damaged): {_reason(e)}") from e
    if container.format.name in _NOT_FOOTAGE_FORMATS:
        container.close()
        raise InputError(f"'{path}' is not a video file (FFmpeg sees it as {container.format.name!r} text)")
    return container


def video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    """The first real video stream (cover art / attached pictures do not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if "mp4" in container.format.name or "mov" in container.format.name:
        _refuse_incomplete_mp4(path)
    raise InputError(f"'{path}' has no video stream")


def _refuse_incomplete_mp4(path: Path) -> None:
    """Raise the one line for an MP4 / MOV whose index (moov box) is missing or cut; nothing for other files."""
    from edvr_cli.video.isobmff import index_problem

    problem = index_problem(path)
    if problem is not None:
        raise InputError(f"'{path}': {problem}")


def first_frame(
    container: av.container.InputContainer, stream: av.VideoStream, path: Path, seen: list | None = None
) -> av.VideoFrame:
    """Decode the first frame of ``stream`` (then the caller closes the container, or reads on: ``seen``
    collects the packets demuxed so far)."""
    try:
        for packet in container.demux(stream):
            if seen is not None:
                seen.append(packet)
            for frame in packet.decode():
                return frame
    except (av.error.FFmpegError, ValueError) as e:
        raise InputError(f"'{path}' has no decodable video frame: {_reason(e)}") from e
    if container.format.name == "yuv4mpegpipe":
        from edvr_cli.video.y4m import file_cut

        cut = file_cut(path)
        if cut is not None:
            raise InputError(f"'{path}' ends inside its first frame ({cut[1]} of its {cut[2]} bytes): "
                             "no whole frame to restore")
    raise InputError(f"'{path}' has no decodable video frame")


def codec_family(ctx: Any) -> str:
    """The stream's codec as FFmpeg names the format (``av1``), not the decoder that reads it (``libdav1d``)."""
    codec = getattr(ctx, "codec", None)
    return str(getattr(codec, "canonical_name", None) or ctx.name)


def frame_color(frame: av.VideoFrame, ctx: Any) -> ColorInfo:
    """The colour rules applied to one decoded frame's tags (the stream's where the frame has none)."""
    fmt = describe_pix_fmt(frame.format.name)
    return resolve_color(
        matrix=_tag(frame.colorspace, ctx.colorspace),
        color_range=frame.color_range or ctx.color_range,
        primaries=_tag(frame.color_primaries, ctx.color_primaries),
        trc=_tag(frame.color_trc, ctx.color_trc),
        pix_fmt=frame.format.name,
        codec_name=ctx.name,
        width=frame.width,
        height=frame.height,
        is_rgb=fmt.is_rgb,
    )


def info_from_stream(
    path: Path, container: av.container.InputContainer, stream: av.VideoStream, first: av.VideoFrame
) -> VideoInfo:
    ctx = stream.codec_context
    pix_fmt = first.format.name
    fmt = describe_pix_fmt(pix_fmt)
    time_base = stream.time_base or Fraction(1, 90000)
    fps = _valid_rate(stream.average_rate) or _valid_rate(stream.guessed_rate)
    color = frame_color(first, ctx)
    sar = stream.sample_aspect_ratio
    duration = _duration(container, stream)
    num_frames, exact = _frame_count(stream, fps, duration)
    field_order = _FIELD_ORDERS.get(ctx.field_order or 0)
    interlaced = bool(first.interlaced_frame) or field_order is not None
    return VideoInfo(
        path=path,
        width=first.width,
        height=first.height,
        num_frames=num_frames,
        fps=fps,
        time_base=time_base,
        codec_name=codec_family(ctx),
        pix_fmt=pix_fmt,
        bit_depth=fmt.bit_depth,
        chroma=fmt.chroma,
        color=color,
        rotation=int(round(first.rotation / 90.0)) * 90 % 360,
        sample_aspect_ratio=sar if sar and sar != 1 else None,
        square_pixels_tagged=sar == 1,
        has_audio=bool(container.streams.audio),
        has_subtitles=bool(container.streams.subtitles),
        container_format=container.format.name,
        stream_index=stream.index,
        start_time=stream.start_time,
        num_frames_exact=exact,
        duration=duration,
        interlaced=interlaced,
        field_order=(field_order or "tff") if interlaced else "progressive",
    )


def _probe_sequence(folder: Path, fps: Fraction) -> VideoInfo:
    files = list_images(folder)
    if not files:
        raise InputError(f"folder '{folder}' holds no images (png, jpg, bmp, tif, webp ...)")
    container = open_input(files[0])
    with container:
        stream = video_stream(container, files[0])
        first = first_frame(container, stream, files[0])
        info = info_from_stream(files[0], container, stream, first)
    return VideoInfo(
        path=folder,
        width=info.width,
        height=info.height,
        num_frames=len(files),
        fps=fps,
        time_base=1 / fps,
        codec_name=info.codec_name,
        pix_fmt=info.pix_fmt,
        bit_depth=info.bit_depth,
        chroma=info.chroma,
        color=info.color,
        is_image_sequence=True,
        image_files=tuple(files),
        start_time=0,
        num_frames_exact=True,
        duration=len(files) / fps,
    )


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> Fraction | None:
    """The video stream's duration in seconds (the container's when the stream has none)."""
    if stream.duration and stream.time_base:
        return Fraction(stream.duration) * stream.time_base
    if container.duration and container.duration > 0:
        return Fraction(container.duration, av.time_base)
    return None


def _frame_count(stream: av.VideoStream, fps: Fraction | None, duration: Fraction | None) -> tuple[int | None, bool]:
    """``(count, exact)``: the container's index count, else a Matroska statistics tag, else duration x rate.

    No estimate when the "rate" is really a timestamp resolution (VFR MPEG-TS reports 1000+ fps).
    """
    if stream.frames:
        return int(stream.frames), True
    tagged = _tag_count(stream.metadata)
    if tagged:
        return tagged, False
    if fps is None or duration is None or fps > _MAX_PLAUSIBLE_FPS:
        return None, False
    return max(1, round(duration * fps)), False


def _tag_count(metadata: dict[str, str]) -> int | None:
    """mkvmerge's ``NUMBER_OF_FRAMES`` statistics tag (may be stale after remuxing: an estimate)."""
    for key, value in metadata.items():
        if key.upper().split("-")[0] == "NUMBER_OF_FRAMES":
            try:
                count = int(value)
            except ValueError:
                return None
            return count if count > 0 else None
    return None


def _valid_rate(rate: Fraction | None) -> Fraction | None:
    return rate if rate and rate > 0 else None


def _tag(frame_value: int, ctx_value: int) -> int:
    """Frame tags win (decoders read them from the bitstream); 2 is FFmpeg's 'unspecified'."""
    return frame_value if frame_value not in (2, None) else ctx_value


def _reason(e: BaseException) -> str:
    """The OS's words for a failed open (``strerror``), else the error's first line."""
    strerror = getattr(e, "strerror", None)
    return first_line(OSError(strerror)) if strerror else first_line(e)
