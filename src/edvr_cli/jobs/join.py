"""Joining finished segments into the output: packet copy of the video, audio and subtitles copied once."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from edvr_cli.errors import JoinError, WarningCallback
from edvr_cli.guard.output import remove_path
from edvr_cli.jobs.workfolder import WorkFolder
from edvr_cli.video.paths import frame_file_name

if TYPE_CHECKING:
    from edvr_cli.video.streams import StreamPlan


def continuous_dts(pts: list[int], delay: int) -> list[int]:
    """Decode timestamps for packets whose presentation times are ``pts`` (in decode order).

    The same rule an encoder with a reorder ``delay`` of that many frames follows over one whole
    stream: packet i decodes at the presentation time of the (i - delay)-th frame, the first ones
    extrapolated back. Segments joined this way have the timing of one uninterrupted encode.
    """
    order = sorted(pts)  # times may repeat where a container rounds them (Matroska: 1 ms)
    delay = max(0, min(delay, len(order) - 1))
    back = order[delay] - order[0]
    dts = [order[i] - back if i < delay else order[i - delay] for i in range(len(order))]
    if any(d > p for d, p in zip(dts, pts, strict=False)):
        raise ValueError("a frame is reordered further than the delay allows")
    return dts


def needed_delay(pts: list[int]) -> int:
    """The smallest reorder delay (frames) for which :func:`continuous_dts` keeps dts <= pts."""
    rank = {i: r for r, i in enumerate(sorted(range(len(pts)), key=lambda i: (pts[i], i)))}
    return max((i - rank[i] for i in range(len(pts))), default=0)


def assemble(work: WorkFolder, info, warn: WarningCallback, metadata: Mapping[str, str] | None = None,
             streams: StreamPlan | None = None) -> Path:
    """Join the finished segments into ``assembly<ext>`` inside the work folder; returns its path.

    ``metadata``: the container tags of the joined video (the run's provenance); frames carry theirs
    in every file already. ``streams``: the run's plan of the source's other streams, carried into the
    joined video (``None``: none are)."""
    target = work.path / f"assembly{work.suffix}"
    remove_path(target)
    try:
        if work.suffix:
            _remux(work, info, target, warn, metadata or {}, streams)
        else:
            _link_frames(work, info, target, warn)
    except BaseException:
        remove_path(target)
        raise
    return target


def _link_frames(work: WorkFolder, info, target: Path, warn: WarningCallback) -> None:
    if info.has_audio or info.has_subtitles:
        warn("PNG frame output has no audio or subtitles; they are not copied")
    target.mkdir()
    for seg in work.segments:
        folder = work.path / work.name(seg.index)
        for n in range(seg.frames):
            src, dst = folder / frame_file_name(n), target / frame_file_name(seg.first + n)
            try:
                os.link(src, dst)
            except OSError:  # a file system without hard links
                shutil.copy2(src, dst)


def _video_packets(path: Path) -> Iterable:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                yield packet


def _continuous_dts_of(paths: list[Path]) -> list[int]:
    """Decode times for the video packets of the segments ``paths`` joined (see :func:`continuous_dts`)."""
    pts: list[int] = []
    delay = 0
    for k, path in enumerate(paths):
        seg_pts: list[int] = []
        for packet in _video_packets(path):
            if packet.pts is None:
                raise ValueError(f"'{path.name}' has packets without timestamps")
            seg_pts.append(packet.pts)
            if k == 0 and packet.dts is not None and packet.dts < min(seg_pts):
                delay += 1  # the encoder's own reorder delay, as it set the first segment's dts
        delay = max(delay, needed_delay(seg_pts))
        pts += seg_pts
    return continuous_dts(pts, delay)


def _remux(work: WorkFolder, info, target: Path, warn: WarningCallback, metadata: Mapping[str, str],
           streams: StreamPlan | None) -> None:
    import av
    import av.error

    from edvr_cli.video.avfields import set_stream_sample_aspect_ratio, stream_sample_aspect_ratio_settable
    from edvr_cli.video.encoder import output_format
    from edvr_cli.video.writer import StreamCopier, sar_is_lost, sar_lost_note, tag_options

    paths = [work.path / work.name(s.index) for s in work.segments]
    try:
        dts = iter(_continuous_dts_of(paths))
    except (av.error.FFmpegError, ValueError) as exc:
        raise JoinError(work.output.name, exc) from None

    with av.open(str(paths[0])) as first:
        template = first.streams.video[0]
        header = (bytes(template.codec_context.extradata or b""), template.time_base)
        out = av.open(str(target), "w", options=tag_options(output_format(target), metadata))
        try:
            out.metadata.update(metadata)
            video = out.add_stream_from_template(template)
            if info.fps:  # the container's frame-rate field (Matroska's default duration), not 1 / time base
                video.codec_context.framerate = info.fps
            sar = template.sample_aspect_ratio
            # the stream's own field (Matroska, MOV), which templates leave out; where it cannot be set, a
            # note says so (the plan's when no stream's field can be set here, else this one)
            if sar and not set_stream_sample_aspect_ratio(video, sar) and stream_sample_aspect_ratio_settable() \
                    and sar_is_lost(sar, out.format.name, template.codec_context.name):
                warn(sar_lost_note(sar, out.format.name, template.codec_context.name))
        except BaseException:
            out.close()
            raise
    copier = None
    try:
        if streams is not None and not info.is_image_sequence:
            copier = StreamCopier(info, out, warn, plan=streams)
        out.start_encoding()
        for path in paths:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                if (bytes(stream.codec_context.extradata or b""), stream.time_base) != header:
                    other = ValueError(f"'{path.name}' has other stream headers than the first segment")
                    raise JoinError(work.output.name, other)
            for packet in _video_packets(path):
                packet.dts = next(dts)
                packet.stream = video
                when = packet.pts * packet.time_base
                out.mux(packet)
                if copier is not None:
                    copier.mux_until(when)
        if copier is not None:
            copier.mux_until(None)
    except BaseException as exc:
        for opened in [c for c in (copier, out) if c is not None]:
            with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
                opened.close()
        if isinstance(exc, (av.error.FFmpegError, ValueError)) and not isinstance(exc, OSError):
            raise JoinError(work.output.name, exc) from exc  # the muxer refuses the packets: the segments are no use
        raise
    try:
        if copier is not None:
            copier.close()
    finally:
        out.close()
