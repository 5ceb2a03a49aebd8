"""Probing: what an input video or image folder holds, without reading it all (``probe``)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from edvr_cli.errors import InputError
from edvr_cli.video.colour import ColorInfo, resolve_color
from edvr_cli.video.formats import describe_pix_fmt
from edvr_cli.video.paths import list_images

#: Frame rate given to image sequences (they carry no timing of their own).
DEFAULT_SEQUENCE_FPS = Fraction(25)

# FFmpeg demuxers that accept text files as "video" (ANSI art); a .txt is not footage.
_NOT_FOOTAGE_FORMATS = frozenset({"tty"})


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
        codec_name: decoder name (``h264``, ``hevc``, ``png`` ...).
        pix_fmt: decoded pixel format (``yuv420p10le`` ...).
        bit_depth: bits per component of ``pix_fmt``.
        chroma: ``'420' | '422' | '444' | '440' | '411' | '410' | 'rgb' | 'gray'``.
        color: matrix / range (resolved, see :mod:`edvr_cli.video.colour`), primaries, trc.
        rotation: display rotation, counter-clockwise degrees (``0, 90, 180, 270``).
        sample_aspect_ratio: pixel aspect ratio, ``None`` when unknown or square.
        has_audio, has_subtitles: whether such streams exist (whether they fit the output
            container is decided by the writer).
        is_image_sequence: the input is a folder of images.
        image_files: the sequence's files in natural order (empty for videos).
        container_format: demuxer name (``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska,webm``), or ``None``.
        stream_index: index of the video stream in the container.
        start_time: first pts of the video stream in ``time_base`` units, or ``None``.
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


def probe(path: str | Path, *, sequence_fps: Fraction = DEFAULT_SEQUENCE_FPS) -> VideoInfo:
    """Describe a video file or an image folder; decodes only the first frame.

    Raises:
        InputError: the path does not exist, is not a video or image folder we can decode,
            has no video stream, or no decodable frame.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input '{p}' does not exist")
    if p.is_dir():
        return _probe_sequence(p, Fraction(sequence_fps))
    container = open_input(p)
    with container:
        stream = video_stream(container, p)
        first = first_frame(container, stream, p)
        return _info_from_stream(p, container, stream, first)


def open_input(path: Path) -> av.container.InputContainer:
    """``av.open`` for reading, with FFmpeg's errors turned into :class:`InputError`."""
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError, ValueError) as e:
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
    raise InputError(f"'{path}' has no video stream")


def first_frame(
    container: av.container.InputContainer, stream: av.VideoStream, path: Path
) -> av.VideoFrame:
    """Decode the first frame of ``stream`` (then the caller closes or re-opens the container)."""
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return frame
    except (av.error.FFmpegError, ValueError) as e:
        raise InputError(f"'{path}' has no decodable video frame: {_reason(e)}") from e
    raise InputError(f"'{path}' has no decodable video frame")


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


def _info_from_stream(
    path: Path, container: av.container.InputContainer, stream: av.VideoStream, first: av.VideoFrame
) -> VideoInfo:
    ctx = stream.codec_context
    pix_fmt = first.format.name
    fmt = describe_pix_fmt(pix_fmt)
    time_base = stream.time_base or Fraction(1, 90000)
    fps = _valid_rate(stream.average_rate) or _valid_rate(stream.guessed_rate)
    color = frame_color(first, ctx)
    sar = stream.sample_aspect_ratio
    return VideoInfo(
        path=path,
        width=first.width,
        height=first.height,
        num_frames=_frame_count(container, stream, fps),
        fps=fps,
        time_base=time_base,
        codec_name=ctx.name,
        pix_fmt=pix_fmt,
        bit_depth=fmt.bit_depth,
        chroma=fmt.chroma,
        color=color,
        rotation=int(round(first.rotation / 90.0)) * 90 % 360,
        sample_aspect_ratio=sar if sar and sar != 1 else None,
        has_audio=bool(container.streams.audio),
        has_subtitles=bool(container.streams.subtitles),
        container_format=container.format.name,
        stream_index=stream.index,
        start_time=stream.start_time,
    )


def _probe_sequence(folder: Path, fps: Fraction) -> VideoInfo:
    files = list_images(folder)
    if not files:
        raise InputError(f"folder '{folder}' holds no images (png, jpg, bmp, tif, webp ...)")
    container = open_input(files[0])
    with container:
        stream = video_stream(container, files[0])
        first = first_frame(container, stream, files[0])
        info = _info_from_stream(files[0], container, stream, first)
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
    )


def _frame_count(container: av.container.InputContainer, stream: av.VideoStream, fps: Fraction | None) -> int | None:
    if stream.frames:
        return int(stream.frames)
    if fps is None:
        return None
    if stream.duration and stream.time_base:
        seconds = stream.duration * stream.time_base
    elif container.duration:
        seconds = Fraction(container.duration, av.time_base)
    else:
        return None
    return max(1, round(seconds * fps))


def _valid_rate(rate: Fraction | None) -> Fraction | None:
    return rate if rate and rate > 0 else None


def _tag(frame_value: int, ctx_value: int) -> int:
    """Frame tags win (decoders read them from the bitstream); 2 is FFmpeg's 'unspecified'."""
    return frame_value if frame_value not in (2, None) else ctx_value


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.splitlines()[0]
