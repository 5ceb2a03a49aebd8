"""Reading: stream a video's (or image folder's) frames as RGB float32 with their timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from edvr_cli.errors import InputError, WarningCallback, first_line
from edvr_cli.video.colour import ColorInfo
from edvr_cli.video.convert import frame_to_rgb
from edvr_cli.video.probe import VideoInfo, frame_color, open_input, probe, video_stream

_FRAME_SLOT_FORMATS = frozenset({"avi"})


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Args:
        index: position in decode output order, from 0.
        rgb: ``(H, W, 3)`` float32 RGB in ``[0, 1]`` (8-bit sources: exactly ``k / 255`` for RGB
            images; YUV sources: the exact float conversion, not rounded to 8 bits).
        pts: presentation time in ``time_base`` units; strictly increasing within a reader.
        time_base: units of ``pts`` (the source stream's time base).
    """

    index: int
    rgb: np.ndarray
    pts: int
    time_base: Fraction

    @property
    def time(self) -> Fraction:
        """Presentation time in seconds."""
        return self.pts * self.time_base


class FrameReader:
    """Iterate the frames of a video or image folder, one at a time (memory stays flat).

    A context manager. Decoding errors in the middle of a file end the iteration at the last
    good frame and are recorded in ``.warnings`` (and passed to ``on_warning``) instead of
    raising; only an input that cannot be opened at all raises :class:`InputError`.

    Frames keep the coded orientation (rotation is carried to the output as metadata).
    Missing timestamps are filled from the frame rate and non-increasing ones are nudged up by
    one tick (with a warning), so every frame has a usable, strictly increasing ``pts``.

    Args:
        path: a video file or a folder of images.
        info: the result of :func:`probe` if the caller already has it.
        on_warning: called with each warning as it happens.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo | None = None,
        *,
        on_warning: WarningCallback | None = None,
    ) -> None:
        self.info = info if info is not None else probe(path)
        self.warnings: list[str] = []
        self.frames_read = 0
        self._on_warning = on_warning
        self._container: av.container.InputContainer | None = None
        self._reformatter = VideoReformatter()
        self._last_pts: int | None = None
        self._warned_pts = False
        self._image_colors = {}

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

    def __iter__(self) -> Iterator[Frame]:
        self.close()  # iterating again starts from the first frame
        self.frames_read, self._last_pts = 0, None
        frames = self._sequence_frames() if self.info.is_image_sequence else self._video_frames()
        best_effort = BestEffortTimestamp()
        for decoded in frames:
            raw: int | None
            if self._frame_slots:
                raw = (self.info.start_time or 0) + self._frame_step() * self.frames_read
            else:
                raw = best_effort(decoded.pts, decoded.dts)
            pts = self._usable_pts(raw)  # raw may be None: filled from the frame rate
            color = self._image_colors.pop(self.frames_read, self.info.color)
            rgb = frame_to_rgb(decoded, color, self._reformatter)
            frame = Frame(self.frames_read, rgb, pts, self.info.time_base)
            self.frames_read += 1
            yield frame
        expected = self.info.num_frames
        if self.info.is_image_sequence or not expected:
            return
        # Exact counts (mp4 index) must match; duration-based estimates get 10 % slack.
        short = self.frames_read < expected if self._exact_count else self.frames_read < 0.9 * expected - 1
        if short:
            about = "" if self._exact_count else "about "
            self.warn(
                f"'{self.info.path.name}': decoded {self.frames_read} frames where the container "
                f"announces {about}{expected}; the file may be truncated"
            )

    def _video_frames(self) -> Iterator[av.VideoFrame]:
        path = self.info.path
        self._container = open_input(path)
        stream = video_stream(self._container, path)
        stream.thread_type = "AUTO"
        # AVI has no presentation times, only frame slots: decoders hand B-frame streams pts
        # that jump back and forth, so its frames are timed by index instead.
        self._frame_slots = self._container.format.name in _FRAME_SLOT_FORMATS and self.info.fps is not None
        # stream.frames comes from the container index (mp4); otherwise the count is an estimate.
        self._exact_count = bool(stream.frames)
        flushed = False
        try:
            for packet in self._container.demux(stream):
                flushed = packet.size == 0  # the demuxer's end-of-stream packet flushes the decoder
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

    def _sequence_frames(self) -> Iterator[av.VideoFrame]:
        """Each image decoded with its own colour rules (a folder may mix PNG, JPEG, BMP ...)."""
        self._exact_count = True
        size = (self.info.width, self.info.height)
        for index, file in enumerate(self.info.image_files):
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
            yield decoded

    def _frame_step(self) -> int:
        """One frame duration in time-base ticks (from the average rate, 25 fps if unknown)."""
        fps = self.info.fps or Fraction(25)
        return max(1, round(1 / fps / self.info.time_base))

    def _usable_pts(self, pts: int | None) -> int:
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._frame_step()
        if self._last_pts is not None and pts <= self._last_pts:
            if not self._warned_pts:
                self.warn(
                    f"'{self.info.path.name}': timestamps do not increase at frame {self.frames_read}; nudged forward"
                )
                self._warned_pts = True
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    _image_colors: dict[int, ColorInfo]
    _exact_count: bool = False
    _frame_slots: bool = False


class BestEffortTimestamp:
    """Choose between a frame's pts and dts the way libavcodec's ``guess_correct_pts`` does.

    Containers without real presentation times (AVI with B-frames) hand decoded frames pts that
    go backwards while their dts increase; whichever of the two has been non-increasing less
    often so far wins.
    """

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self._last_pts: int | None = None
        self._last_dts: int | None = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self._last_dts is not None and dts <= self._last_dts
            self._last_dts = dts
        if pts is not None:
            self.faulty_pts += self._last_pts is not None and pts <= self._last_pts
            self._last_pts = pts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


def read_frames(path: str | Path, info: VideoInfo | None = None) -> Iterator[Frame]:
    """Convenience generator over :class:`FrameReader` (its warnings are not reported)."""
    with FrameReader(path, info) as reader:
        yield from reader
