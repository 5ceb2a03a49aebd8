"""Reading: stream a video's (or image folder's, or stdin's) frames as RGB float32 with their timestamps.

Per decoded frame, in this order:

1. **Timestamps** are repaired on the decoded frames: missing ones are filled from the frame rate,
   a jump back by more than a frame (an MPEG-TS discontinuity, concatenated streams) continues
   the timeline from the last pts + one frame (one warning), smaller non-increases are nudged up
   by one tick (one warning). Output pts are strictly increasing.
2. **Deinterlacing** (``deinterlace=``) runs libavfilter's ``bwdif`` on the decoded frames
   (:mod:`edvr_cli.video.filters`): ``'auto'`` (default) deinterlaces frames flagged interlaced
   (``deint=interlaced``; nothing runs on progressive streams), ``'on'`` every frame
   (``deint=all``), ``'field'`` every field into its own frame (twice the frames and the rate;
   the reader's ``time_base`` is then half the stream's so the extra frames sit exactly halfway),
   ``'off'`` never (with one warning when the input is interlaced). ``reader.deinterlaced`` says
   whether it ran; ``reader.field_order`` is then ``'progressive'``.
3. **Span** (``start`` / ``end``, seconds from the first frame of the video stream, FFmpeg's
   ``-ss`` / ``-to``): frames with ``start <= t < end`` are yielded, ``context_before`` frames
   before and ``context_after`` after it too, marked ``Frame.context = True``. Indices count
   from the first frame of the span (context frames before it get ``-context_before .. -1``), and
   pts are shifted so that the first frame of the span has pts 0 (``reader.shift`` holds the
   seconds subtracted, on the container's timeline). Files are not decoded from the beginning:
   the reader seeks to the keyframe at or before the context it needs (``backward=True``),
   drops the leading pictures of an open GOP (decoded before their keyframe's time: their
   references are missing), and checks that enough earlier frames arrived, seeking further back
   (finally from the beginning) when not: the frames are bit-exact the frames a full decode gives.
   Pipes, AVI (timed by frame index) and image folders decode and drop instead of seeking.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from edvr_cli.errors import InputError, SpanError, UsageError, WarningCallback, first_line
from edvr_cli.video.colour import ColorInfo
from edvr_cli.video.convert import frame_to_planes, frame_to_rgb
from edvr_cli.video.filters import Deinterlacer
from edvr_cli.video.pipes import PipeSource, is_stdin, open_stdin
from edvr_cli.video.planes import YUVFrame
from edvr_cli.video.probe import VideoInfo, frame_color, open_input, probe, video_stream
from edvr_cli.video.span import TimeLike, check_span, format_time
from edvr_cli.video.timing import BestEffortTimestamp, SourceTimes
from edvr_cli.video.y4m import cut_warning, file_cut

_FRAME_SLOT_FORMATS = frozenset({"avi"})

#: ``deinterlace=`` values.
DEINTERLACE_MODES = ("auto", "on", "off", "field")

# Seeking: how far back before the needed frames the first seek aims (beyond one frame per
# context frame), how many times it retries further back, and the largest step back.
_SEEK_MARGIN = Fraction(1, 2)
_SEEK_RETRIES = 4


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Args:
        index: position in output order: from 0 for the first frame (of the span, when there
            is one); context frames before the span get ``-context_before .. -1``.
        image: the decoded pixels: :class:`~edvr_cli.video.planes.YUVFrame` planes for planar
            YUV and grey sources (the restorer converts them on its device), else RGB float32
            ``(H, W, 3)`` in ``[0, 1]``.
        pts: presentation time in ``time_base`` units; strictly increasing within a reader
            (with a span: 0 at the span's first frame, negative for context frames before it).
        time_base: units of ``pts`` (the source stream's time base; half of it for field-rate
            deinterlacing).
        context: a frame outside the span, given only as temporal context (not to be written).
    """

    index: int
    image: np.ndarray | YUVFrame
    pts: int
    time_base: Fraction
    context: bool = False

    @cached_property
    def rgb(self) -> np.ndarray:
        """``(H, W, 3)`` float32 RGB in ``[0, 1]`` (8-bit RGB sources: exactly ``k / 255``; YUV sources:
        the exact float conversion of :mod:`edvr_cli.video.colour`, not rounded to 8 bits)."""
        return self.image.to_rgb() if isinstance(self.image, YUVFrame) else self.image

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def time(self) -> Fraction:
        """Presentation time in seconds."""
        return self.pts * self.time_base


class _Retry(Exception):
    """Internal: the seek did not deliver the frames needed; read again from ``target`` (``None``: the start)."""

    def __init__(self, target: int | None) -> None:
        super().__init__(target)
        self.target = target


class FrameReader:
    """Iterate the frames of a video, image folder or stdin (``-``), one at a time (memory stays flat).

    A context manager. Decoding errors in the middle of a file end the iteration at the last
    good frame and are recorded in ``.warnings`` (and passed to ``on_warning``) instead of
    raising; only an input that cannot be opened at all raises :class:`InputError`. A
    "may be truncated" warning comes only when decoding really ended early: fewer frames than an
    exact index lists, or the last frame's time clearly short of the stream's duration.

    Frames keep the coded orientation (rotation is carried to the output as metadata). See the
    module doc for timestamps, deinterlacing and spans.

    Args:
        path: a video file, a folder of images, or ``-`` (a YUV4MPEG2 stream on stdin).
        info: the result of :func:`probe` if the caller already has it (its ``span`` is used
            when ``start`` / ``end`` are not given).
        on_warning: called with each warning as it happens.
        deinterlace: ``'auto'`` | ``'on'`` | ``'off'`` | ``'field'``.
        start, end: the span in seconds (Fraction, float or FFmpeg time text), ``None`` for
            the beginning / the end.
        context_before, context_after: frames around the span to yield too, marked ``context``
            (output frames: fields for ``'field'``).

    Attributes (set once iteration starts unless said otherwise):
        span: ``(start, end)`` seconds from the stream's first frame (``end`` ``None``: to the end),
            the arguments' or else ``info.span``; ``None``: everything (from construction).
        source_span: the same on the container's timeline, for trimming audio / subtitles.
        time_base: units of the frames' pts (from construction).
        fps: the output frame rate (doubled for ``'field'``), ``None`` if unknown (from construction).
        num_frames: frames of the span to expect (context excluded), for a progress bar, ``None``
            if unknown (from construction).
        deinterlaced: ``bwdif`` ran on at least one frame.
        field_order: ``'progressive'`` once deinterlaced, else the input's.
        shift: seconds (container timeline) subtracted from the frames' times: the source time of
            the span's first frame; ``None`` without a span or before it is read.
        seeked: the last iteration started with a seek rather than at the first frame.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo | None = None,
        *,
        on_warning: WarningCallback | None = None,
        deinterlace: str = "auto",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        context_before: int = 0,
        context_after: int = 0,
    ) -> None:
        if deinterlace not in DEINTERLACE_MODES:
            raise UsageError(f"--deinterlace must be one of {', '.join(DEINTERLACE_MODES)}, not {deinterlace!r}")
        if context_before < 0 or context_after < 0:
            raise UsageError("context frames before and after a span cannot be negative")
        self.info = info if info is not None else probe(path)
        self._pipe = is_stdin(path) or self.info.is_pipe
        given = check_span(start, end, self.info.duration)
        self.span = given if given is not None else self.info.span
        self.deinterlace = deinterlace
        self.context_before, self.context_after = int(context_before), int(context_after)
        self.warnings: list[str] = []
        self.frames_read = 0
        self.frames_decoded = 0
        self.deinterlaced = False
        self.shift: Fraction | None = None
        self.seeked = False
        self._on_warning = on_warning
        self._container: av.container.InputContainer | None = None
        self._reformatter = VideoReformatter()
        self._warned: set[str] = set()
        self._image_colors = {}
        self._filter: Deinterlacer | None = None
        self._field = deinterlace == "field" and not self.info.is_image_sequence
        self._reset_timing()

    # -- what the caller sees -------------------------------------------------------------------

    @property
    def time_base(self) -> Fraction:
        return self.info.time_base / 2 if self._field else self.info.time_base

    @property
    def fps(self) -> Fraction | None:
        if self.info.fps is None:
            return None
        return self.info.fps * 2 if self._field else self.info.fps

    @property
    def num_frames(self) -> int | None:
        info = self.info if self.span == self.info.span else _with_span(self.info, self.span)
        count = info.expected_frames
        return None if count is None else count * (2 if self._field else 1)

    @property
    def field_order(self) -> str:
        return "progressive" if self.deinterlaced else self.info.field_order

    @property
    def source_span(self) -> tuple[Fraction, Fraction | None] | None:
        """The span on the container's timeline (seconds, ``pts * time_base`` of any stream): what to
        keep of audio and subtitles, which then move back by :attr:`shift`."""
        if self.span is None:
            return None
        start, end = self.span
        return self.info.origin + start, None if end is None else self.info.origin + end

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(message)

    # -- iteration ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        self.close()  # iterating again starts from the first frame
        if self.info.interlaced and self.deinterlace == "off":
            order = "top" if self.info.field_order == "tff" else "bottom"
            self._warn_once("interlaced-off", (
                f"'{self.info.label}' is interlaced ({order} field first) and is read without deinterlacing, "
                "so its combing is restored as detail; use --deinterlace auto to remove it"))
        target = self._first_seek_target()
        tries = 0
        while True:
            try:
                yield from self._read(target)  # raises _Retry before yielding anything
                return
            except _Retry as retry:
                tries += 1
                target = retry.target if tries < _SEEK_RETRIES else None  # a pass from the start never retries

    def _read(self, target: int | None) -> Generator[Frame, None, None]:
        """One pass from ``target`` (stream pts to seek to, ``None``: the first frame)."""
        self.close()
        self._reset_timing()
        self.frames_read = self.frames_decoded = 0
        self.shift, self.deinterlaced, self.seeked = None, False, target is not None
        self._filter = self._make_filter() if self._filter_from_start() else None
        start, end = self.span if self.span is not None else (Fraction(0), None)
        out_tb = self.time_base
        origin = self._origin() * (2 if self._field else 1)  # in out_tb units
        need_before = self.context_before + self._filter_lead()
        before: deque[av.VideoFrame] = deque(maxlen=max(1, self.context_before))
        seen_before = 0  # frames decoded before the span in this pass
        first_time: Fraction | None = None
        last_time: Fraction | None = None
        shift_pts: int | None = None
        index = after = 0
        ended = True  # reached the end of the input (not stopped after the span)
        timed = self._timed(target)
        filtered = self._filtered(timed)
        try:
            for vf in filtered:
                pts = _pts(vf)
                t = (pts - origin) * out_tb
                first_time = t if first_time is None else first_time
                last_time = t
                if t < start:
                    before.append(vf)
                    seen_before += 1
                    continue
                if shift_pts is None:
                    if target is not None and not self._landed_at_start and seen_before < max(1, need_before):
                        raise _Retry(self._retry_target(target))
                    shift_pts = pts if self.span is not None else 0
                    if self.span is not None:
                        self.shift = self.info.origin + t
                    context = list(before)[-self.context_before:] if self.context_before else []
                    for k, c in enumerate(context):
                        yield self._frame(c, k - len(context), _pts(c) - shift_pts, True)
                if end is not None and t >= end:
                    if after >= self.context_after:
                        ended = False
                        break
                    yield self._frame(vf, index, pts - shift_pts, True)
                    index += 1
                    after += 1
                    continue
                yield self._frame(vf, index, pts - shift_pts, False)
                index += 1
        finally:
            filtered.close()  # then the decoder, before the container closes
            timed.close()
        self.close()
        if shift_pts is None:  # no frame of the span
            if target is not None and (first_time is None or first_time > start):
                raise _Retry(self._retry_target(target))
            if self.span is not None:
                ends = "" if last_time is None else f" (its last frame is at {format_time(last_time)})"
                raise SpanError(f"'{self.info.label}' has no frame at or after --start {format_time(start)}{ends}")
        if ended:
            self._check_complete(target is None)

    def _frame(self, vf: av.VideoFrame, index: int, pts: int, context: bool) -> Frame:
        # image folders: pts is the image's index, and each image has its own colour rules
        color = self._image_colors.pop(_pts(vf), self.info.color) if self.info.is_image_sequence else self.info.color
        image = frame_to_planes(vf, color) or frame_to_rgb(vf, color, self._reformatter)
        self.frames_read += 1
        return Frame(index, image, pts, self.time_base, context)

    # -- decoding and timing --------------------------------------------------------------------

    def _timed(self, target: int | None) -> Generator[av.VideoFrame, None, None]:
        """Decoded frames with repaired, strictly increasing pts (stream time base) set on them."""
        if self.info.is_image_sequence:
            frames = self._sequence_frames()
        elif self._pipe:
            frames = self._pipe_frames()
        else:
            frames = self._video_frames(target)
        best_effort = BestEffortTimestamp()
        for decoded in frames:
            raw: int | None
            if self._frame_slots:
                raw = (self.info.start_time or 0) + self._frame_step() * self.frames_decoded
            else:
                raw = best_effort(decoded.pts, decoded.dts)
            if self._landing is not None and raw is not None and raw < self._landing:
                continue  # a leading picture of the keyframe sought to: its references were not decoded
            decoded.pts = self._usable_pts(raw)  # raw may be None: filled from the frame rate
            decoded.time_base = self.info.time_base
            self.frames_decoded += 1
            yield decoded

    def _filtered(self, frames: Iterator[av.VideoFrame]) -> Generator[av.VideoFrame, None, None]:
        """Frames after deinterlacing (pts in ``self.time_base``)."""
        for vf in frames:
            if self._filter is None and self.deinterlace == "auto" and vf.interlaced_frame \
                    and not self.info.is_image_sequence:
                self._filter = self._make_filter()  # a progressive-looking stream turned interlaced
            if self._filter is None:
                yield vf
                continue
            yield from self._deinterlace(vf)
        if self._filter is not None:
            yield from self._filter.flush()

    def _deinterlace(self, vf: av.VideoFrame) -> list[av.VideoFrame]:
        assert self._filter is not None
        if vf.interlaced_frame or self._filter.all_frames:
            self.deinterlaced = True
        try:
            return self._filter.push(vf)
        except (av.error.FFmpegError, ValueError) as e:
            raise InputError(f"'{self.info.label}': deinterlacing failed at frame {self.frames_decoded}: "
                             f"{first_line(e)}") from e

    def _video_frames(self, target: int | None) -> Iterator[av.VideoFrame]:
        path = self.info.path
        self._container = open_input(path)
        stream = video_stream(self._container, path)
        stream.thread_type = "AUTO"
        self._landing: int | None = None
        self._landed_at_start = target is None
        if target is not None:
            try:
                self._container.seek(target, stream=stream, backward=True, any_frame=False)
            except (av.error.FFmpegError, ValueError, OSError):
                self._container.close()  # unseekable after all: from the start
                self._container = open_input(path)
                stream = video_stream(self._container, path)
                stream.thread_type = "AUTO"
                self._landed_at_start = True
        flushed = False
        waiting = not self._landed_at_start  # after a seek: for the first keyframe
        try:
            for packet in self._container.demux(stream):
                flushed = packet.size == 0  # the demuxer's end-of-stream packet flushes the decoder
                if waiting and packet.size:
                    if not packet.is_keyframe:
                        continue  # decoding starts at a keyframe, never from a picture that needs others
                    waiting = False
                    landing = packet.pts if packet.pts is not None else packet.dts
                    self._landing = landing
                    self._landed_at_start = landing is not None and landing <= self._origin()
                yield from stream.decode(packet)
        except (av.error.FFmpegError, ValueError) as e:
            self.warn(
                f"'{path.name}': damaged data ends decoding early ({first_line(e)}); keeping the frames before it"
            )
        if not flushed:  # after an error, still take the frames the decoder holds
            try:
                yield from stream.decode(None)
            except (av.error.FFmpegError, ValueError):
                pass

    def _pipe_frames(self) -> Iterator[av.VideoFrame]:
        source: PipeSource = open_stdin()
        try:
            yield from source.frames()
        except (av.error.FFmpegError, ValueError) as e:
            self.warn(f"'{self.info.label}': damaged data ends decoding early ({first_line(e)}); "
                      "keeping the frames before it")
            return
        cut = source.cut()
        if cut is not None:  # the demuxer dropped a partial last frame without a word
            self.warn(cut_warning(self.info.label, cut, file=False))

    def _sequence_frames(self) -> Iterator[av.VideoFrame]:
        """Each image decoded with its own colour rules (a folder may mix PNG, JPEG, BMP ...)."""
        size = (self.info.width, self.info.height)
        first = 0
        if self.span is not None and self.info.fps:  # timing is the index: skip straight to the span
            first = max(0, math.ceil(self.span[0] * self.info.fps) - self.context_before - 1)
        for index in range(first, len(self.info.image_files)):
            file = self.info.image_files[index]
            try:
                with av.open(str(file), "r") as container:
                    stream = container.streams.video[0]
                    decoded = next(container.decode(stream))
                    self._image_colors[index] = frame_color(decoded, stream.codec_context)
            except (av.error.FFmpegError, OSError, ValueError, IndexError, StopIteration) as e:
                raise InputError(f"image {index} of the sequence, '{file.name}', cannot be decoded "
                                 f"({first_line(e)}); fix or remove it") from None
            if (decoded.width, decoded.height) != size:
                raise InputError(
                    f"'{file.name}' is {decoded.width}x{decoded.height} but the sequence is "
                    f"{size[0]}x{size[1]}; all images of a sequence must have one size"
                )
            decoded.pts = index
            decoded.dts = None
            yield decoded

    def _reset_timing(self) -> None:
        self._times = SourceTimes(self._frame_step())
        self._landing = None
        self._landed_at_start = True
        self._frame_slots = (not self.info.is_image_sequence and not self._pipe
                             and self.info.container_format in _FRAME_SLOT_FORMATS and self.info.fps is not None)

    def _frame_step(self) -> int:
        """One frame duration in time-base ticks (from the average rate, 25 fps if unknown)."""
        fps = self.info.fps or Fraction(25)
        return max(1, round(1 / fps / self.info.time_base))

    def _usable_pts(self, pts: int | None) -> int:
        pts = self._times(pts)
        if self._times.event == "discontinuity":
            self._warn_once("discontinuity", (
                f"'{self.info.label}': timestamps jump back at frame {self.frames_decoded} "
                "(a stream discontinuity); continuing the timeline"))
        elif self._times.event == "nudge":
            self._warn_once("nudge", (
                f"'{self.info.label}': timestamps do not increase at frame {self.frames_decoded}; "
                "nudged forward one tick"))
        return pts

    # -- seeking --------------------------------------------------------------------------------

    def _origin(self) -> int:
        """Stream pts of the first frame (span times count from it)."""
        return self.info.start_time or 0

    def _can_seek(self) -> bool:
        return not (self._pipe or self.info.is_image_sequence or self._frame_slots)

    def _first_seek_target(self) -> int | None:
        if self.span is None or not self._can_seek():
            return None
        frames = self.context_before + self._filter_lead() + 2
        back = frames / (self.info.fps or Fraction(25)) + _SEEK_MARGIN
        return self._target_at(self.span[0] - back)

    def _retry_target(self, target: int) -> int | None:
        """About twice as far before the span as the last try (at least a second more), or ``None`` (the start)."""
        begin = self._origin()
        here = min(target, self._landing) if self._landing is not None else target
        needed = begin + (self.span[0] / self.info.time_base if self.span is not None else 0)
        new = math.floor(here - max(needed - here, 1 / self.info.time_base))
        return None if new <= begin else new

    def _target_at(self, seconds: Fraction) -> int | None:
        if seconds <= 0:
            return None
        return self._origin() + math.floor(seconds / self.info.time_base)

    # -- deinterlacing --------------------------------------------------------------------------

    def _filter_possible(self) -> bool:
        """Whether bwdif runs from the first frame (image folders are never deinterlaced)."""
        if self.info.is_image_sequence:
            return False
        return self.deinterlace in ("on", "field") or (self.deinterlace == "auto" and self.info.interlaced)

    _filter_from_start = _filter_possible

    def _filter_lead(self) -> int:
        """Output frames needed before the first one kept so bwdif sees its real previous frame."""
        if not self._filter_possible():
            return 0
        return 2 if self._field else 1

    def _make_filter(self) -> Deinterlacer:
        order = self.info.field_order
        parity = order if order in ("tff", "bff") else "auto"
        return Deinterlacer(self.info.time_base, field=self._field,
                            all_frames=self.deinterlace in ("on", "field"), parity=parity)

    # -- completeness -------------------------------------------------------------------------

    def _check_complete(self, from_start: bool) -> None:
        """Warn when decoding really ended early (not for VFR or estimated counts that were just off)."""
        info = self.info
        if info.is_image_sequence or info.is_pipe:
            return
        if info.container_format == "yuv4mpegpipe":  # its frame count comes from the file's size: measure it
            cut = file_cut(info.path)
            if cut is not None:
                self.warn(cut_warning(info.label, cut, file=True))
            return
        if info.num_frames_exact and info.num_frames and from_start:
            if self.frames_decoded < info.num_frames:
                self.warn(f"'{info.label}': decoded {self.frames_decoded} frames where the container's index "
                          f"lists {info.num_frames}; the file may be truncated")
            return
        if info.duration is None or self._times.last is None:
            return
        frame = 1 / (info.fps or Fraction(25))
        covered = (self._times.last - self._origin()) * info.time_base + frame
        if covered < Fraction(9, 10) * info.duration - 2 * frame:
            about = f"about {round(info.duration * info.fps)} frames, " if info.fps else ""
            self.warn(
                f"'{info.label}': decoding ended at {format_time(covered)} of a stream announced to last "
                f"{format_time(info.duration)} ({about}{self.frames_decoded} decoded); the file may be truncated"
            )

    _image_colors: dict[int, ColorInfo]


def _pts(frame: av.VideoFrame) -> int:
    """A frame's pts, which the reader has always set by now."""
    if frame.pts is None:  # pragma: no cover - bwdif keeps the pts it is given
        raise InputError("a decoded frame lost its timestamp")
    return int(frame.pts)


def _with_span(info: VideoInfo, span: tuple[Fraction, Fraction | None] | None) -> VideoInfo:
    from dataclasses import replace

    return replace(info, span=span)


def read_frames(path: str | Path, info: VideoInfo | None = None) -> Iterator[Frame]:
    """Convenience generator over :class:`FrameReader` (its warnings are not reported)."""
    with FrameReader(path, info) as reader:
        yield from reader
