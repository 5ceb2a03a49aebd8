"""What the writer carries over from the source's video stream, and the one read of an input before a run.

:func:`inspect` opens the input once and returns the probe's :class:`~edvr_cli.video.probe.VideoInfo`,
the :class:`SourceVideo` facts and the stream plan for an output container, so a run plans its output
without opening the input again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import av.error
import av.filter
import av.logging

from edvr_cli.video.index import FrameIndex
from edvr_cli.video.probe import VideoInfo, first_frame, open_input, probe, video_stream
from edvr_cli.video.span import TimeLike, check_span
from edvr_cli.video.streams import KEPT_METADATA, StreamPlan, plan_streams

_CHROMA_LOCATIONS = ("left", "center", "topleft", "top", "bottomleft", "bottom")


@dataclass(frozen=True)
class SourceVideo:
    """What the writer carries from the source's video stream beyond :class:`VideoInfo`.

    Args:
        profile: codec profile name (``HQ`` for ProRes), or ``None``.
        codec_tag: the stream's fourcc (``hvc1``), or ``None``.
        metadata: language / title of the video stream.
        disposition: the stream's disposition flags.
        chroma_location: FFmpeg's name (``left``, ``topleft`` ...), ``None`` when unspecified.
        field_order: FFmpeg's ``AVFieldOrder`` (0 unknown, 1 progressive, 2.. interlaced).
    """

    profile: str | None = None
    codec_tag: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    disposition: int = 0
    chroma_location: str | None = None
    field_order: int = 0


def source_video(info: VideoInfo) -> SourceVideo:
    """Read :class:`SourceVideo` from the source file (decodes its first frame); empty for image folders
    and pipes. A run gets the same from :func:`inspect` without opening the file again."""
    if info.is_image_sequence or info.is_pipe:
        return SourceVideo()
    try:
        with av.open(str(info.path), "r") as inp:
            stream = inp.streams[info.stream_index]
            assert isinstance(stream, av.VideoStream)
            first = None
            for packet in inp.demux(stream):
                frames = packet.decode()
                if frames:
                    first = frames[0]
                    break
            return source_of(stream, first, info)
    except (av.error.FFmpegError, ValueError, OSError, IndexError):
        return SourceVideo()


def source_of(stream: av.VideoStream, first: av.VideoFrame | None, info: Any = None) -> SourceVideo:
    """:class:`SourceVideo` of an open video stream and its first decoded frame.

    The chroma location comes from ``info.chroma_location`` when the probe provides it, else
    from FFmpeg's own description of the first decoded frame (``showinfo``), as PyAV has no
    accessor for ``AVFrame.chroma_location``.
    """
    try:
        ctx = stream.codec_context
        tag = stream.codec_tag.strip("\x00") or None
        meta = tuple((k, stream.metadata[k]) for k in KEPT_METADATA if k in stream.metadata)
        location = getattr(info, "chroma_location", None)
        if location is None and first is not None:
            location = _chroma_location(stream, first)
        return SourceVideo(
            profile=ctx.profile, codec_tag=tag, metadata=meta,
            disposition=int(stream.disposition) & ~int(av.stream.Disposition.attached_pic),
            chroma_location=location if location in _CHROMA_LOCATIONS else None,
            field_order=int(ctx.field_order or 0),
        )
    except (av.error.FFmpegError, ValueError, OSError, IndexError):
        return SourceVideo()


@dataclass(frozen=True)
class Inspection:
    """One read of an input: the probe's facts, the source stream's, and the stream plan for the output."""

    info: VideoInfo
    source: SourceVideo
    streams: StreamPlan
    index: FrameIndex | None = None


def inspect(
    path: str | Path,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    output_format: str | None = None,
) -> Inspection:
    """Probe ``path`` (as :func:`~edvr_cli.video.probe.probe`), read its :class:`SourceVideo`, plan its
    streams for the muxer ``output_format`` (None: no streams are carried) and index its frames
    (demuxing only: the exact frame count, and what segments seek by), opening a file once.

    Raises:
        InputError, SpanError: as :func:`~edvr_cli.video.probe.probe`.
    """
    from edvr_cli.video.index import frame_index, index_packets
    from edvr_cli.video.pipes import is_stdin
    from edvr_cli.video.probe import info_from_stream

    p = Path(path)
    if is_stdin(path):
        return Inspection(probe(path, start=start, end=end), SourceVideo(), StreamPlan(output_format or ""))
    if p.is_dir():
        info = probe(path, start=start, end=end)
        return Inspection(info, SourceVideo(), StreamPlan(output_format or ""), frame_index(p, info))
    if not p.exists():
        probe(p)  # raises the probe's one-line error
    with open_input(p) as container:
        stream = video_stream(container, p)
        seen: list = []
        first = first_frame(container, stream, p, seen)
        info = info_from_stream(p, container, stream, first)
        span = check_span(start, end, info.duration)
        if span is not None:
            info = replace(info, span=span)
        source = source_of(stream, first, info)
        index = index_packets(container, stream, p, info.time_base, seen)  # first: the stream plan may seek
        streams = (plan_streams(container, output_format, video_index=info.stream_index, span=info.source_span,
                                origin=info.origin) if output_format else StreamPlan(""))
    return Inspection(info, source, streams, index)


def _chroma_location(stream: av.VideoStream, frame: av.VideoFrame) -> str | None:
    """FFmpeg's name of ``frame``'s chroma location, read from the ``showinfo`` filter's log line."""
    previous = av.logging.get_level()
    try:
        av.logging.set_level(av.logging.INFO)
        with av.logging.Capture() as logs:
            graph = av.filter.Graph()
            src = graph.add_buffer(template=stream)
            show = graph.add("showinfo")
            sink = graph.add("buffersink")
            src.link_to(show)
            show.link_to(sink)
            graph.configure()
            graph.push(frame)
            graph.pull()
    except (av.error.FFmpegError, ValueError):
        return None
    finally:
        av.logging.set_level(previous)
    text = "".join(str(message) for _level, name, message in logs if name == "showinfo")
    found = re.search(r"\bcl:(\w+)", text)
    return found.group(1) if found else None


