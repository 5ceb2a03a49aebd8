"""A frame index of a video: every frame's presentation time and the keyframes, read by demuxing only.

Segments of one input are decoded independently (a :class:`~edvr_cli.video.reader.FrameReader` span
seeks to them); the plan needs the exact frame count and each frame's time. Demuxing touches no
pixels: a two-hour film's index takes seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from edvr_cli.errors import InputError, first_line
from edvr_cli.video.probe import VideoInfo, open_input, video_stream


@dataclass(frozen=True)
class FrameIndex:
    """Presentation times (``time_base`` ticks, ascending) of every frame, and those of the keyframes.

    ``seekable`` is False where frames cannot be found by time (image sequences are found by file,
    streams without timestamps not at all): such inputs run as one segment.
    """

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction
    seekable: bool = True

    @property
    def frames(self) -> int:
        return len(self.pts)

    def seconds(self, index: int) -> Fraction:
        """Time of frame ``index`` from the first frame, in seconds (how a reader's span is given)."""
        return Fraction(self.pts[index] - self.pts[0]) * self.time_base


    def count(self, span: tuple[Fraction, Fraction | None] | None, field: Fraction | None = None) -> int:
        """Frames whose time (from the first frame) lies in ``span`` (``[start, end)``; None: all); with
        ``field`` (half a frame's duration) the fields, each frame's two at ``t`` and ``t + field``."""
        offsets = (Fraction(0),) if field is None else (Fraction(0), field)
        if span is None or not self.pts:
            return self.frames * len(offsets)
        start, end = span
        return sum(1 for i in range(self.frames) for d in offsets
                   if self.seconds(i) + d >= start and (end is None or self.seconds(i) + d < end))


def frame_index(path: str | Path, info: VideoInfo) -> FrameIndex:
    """Index the video stream of ``path`` (or count the images of a sequence) without decoding."""
    if info.is_image_sequence:
        n = len(info.image_files)
        return FrameIndex(tuple(range(n)), tuple(range(n)), info.time_base)
    path = Path(path)
    with open_input(path) as container:
        return index_packets(container, video_stream(container, path), path, info.time_base)


def index_packets(container: av.container.InputContainer, stream: av.VideoStream, path: Path,
                  time_base: Fraction, seen: Iterable[av.Packet] = ()) -> FrameIndex:
    """Index ``stream`` from the packets already demuxed (``seen``) and the rest of an open container."""
    pts: list[int] = []
    keys: list[int] = []
    tb = stream.time_base or time_base
    try:
        for packet in itertools.chain(seen, container.demux(stream)):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return FrameIndex((), (), tb, seekable=False)
            pts.append(int(packet.pts))
            if packet.is_keyframe:
                keys.append(int(packet.pts))
        fmt = container.format.name
    except av.error.FFmpegError as exc:
        raise InputError(f"'{path.name}': cannot index its frames ({first_line(exc)})") from None
    ordered = sorted(pts)
    seekable = bool(keys) and len(set(ordered)) == len(ordered) and fmt not in ("avi",)
    return FrameIndex(tuple(ordered), tuple(sorted(keys)), Fraction(tb), seekable)
