"""Standard input as a video: INPUT ``-`` is a YUV4MPEG2 stream (``ffmpeg ... -f yuv4mpegpipe -``).

A pipe is read once and cannot seek, so the process keeps one :class:`PipeSource` for stdin:
:func:`~edvr_cli.video.probe.probe` decodes the first frame and leaves it in the source's
``pending`` list, and the :class:`~edvr_cli.video.reader.FrameReader` that follows yields it first
(nothing probed is lost). A second reader over the same stdin is refused.

The y4m header's tags are honoured by FFmpeg's demuxer: ``XCOLORRANGE=FULL`` / ``LIMITED`` set
the range, ``It`` / ``Ib`` mark interlaced top / bottom field first (``Ip`` progressive). ``C420jpeg``
/ ``C420mpeg2`` / ``C420paldv`` name the chroma *siting*, not the range (FFmpeg writes ``C420jpeg``
for ordinary limited-range 4:2:0), so without ``XCOLORRANGE`` the usual rule applies (limited).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import av.error

from edvr_cli.errors import InputError, first_line

#: The INPUT that means standard input.
STDIN = "-"
#: Demuxer used for standard input.
STDIN_FORMAT = "yuv4mpegpipe"
#: How warnings and errors name standard input.
STDIN_LABEL = "standard input"


def is_stdin(path: str | os.PathLike[str] | None) -> bool:
    """True for the INPUT ``-`` (standard input)."""
    return path is not None and os.fspath(path) == STDIN


class PipeSource:
    """One open, forward-only video stream from a pipe, with the frames already decoded kept in ``pending``.

    Args:
        file: a binary file object to read (default: file descriptor 0 itself, ``pipe:0``).
        format: the FFmpeg demuxer (default ``yuv4mpegpipe``).
    """

    def __init__(self, file: BinaryIO | None = None, format: str = STDIN_FORMAT) -> None:
        if file is None and _stdin_is_terminal():
            raise InputError(
                "INPUT '-' reads a YUV4MPEG2 stream from standard input, but standard input is a terminal; "
                "pipe one in, e.g. ffmpeg -i in.mkv -f yuv4mpegpipe - | edvr upscale - out.mkv"
            )
        try:
            self.container = av.open(file if file is not None else "pipe:0", "r", format=format)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise InputError(f"{STDIN_LABEL} is not a YUV4MPEG2 stream ({first_line(e)}); "
                             "send one with: ffmpeg -i INPUT -f yuv4mpegpipe -") from e
        streams = self.container.streams.video
        if not streams:
            self.container.close()
            raise InputError(f"{STDIN_LABEL} holds no video stream")
        self.stream = streams[0]
        self.stream.thread_type = "AUTO"
        self.pending: list[av.VideoFrame] = []
        self.started = False  # a reader took frames past the pending ones
        self.closed = False
        self._packets = self._demux()

    def first_frame(self) -> av.VideoFrame:
        """The first frame, decoded once and kept in ``pending`` for the reader."""
        if not self.pending:
            if self.started:
                raise InputError(f"{STDIN_LABEL} was already read; a pipe can be read only once")
            for frame in self._decode():
                self.pending.append(frame)
                break
        if not self.pending:
            raise InputError(f"{STDIN_LABEL} has no decodable video frame")
        return self.pending[0]

    def frames(self) -> Iterator[av.VideoFrame]:
        """Every frame once: the pending ones, then the rest of the pipe. Raises when already read."""
        if self.started or self.closed:
            raise InputError(f"{STDIN_LABEL} was already read; a pipe can be read only once")
        self.started = True
        while self.pending:
            yield self.pending.pop(0)
        yield from self._decode()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.container.close()

    def _demux(self) -> Iterator[av.Packet]:
        yield from self.container.demux(self.stream)

    def _decode(self) -> Iterator[av.VideoFrame]:
        for packet in self._packets:
            yield from self.stream.decode(packet)


_stdin: PipeSource | None = None


def open_stdin(file: BinaryIO | None = None, *, reopen: bool = False) -> PipeSource:
    """The process's source for standard input, opened on first use.

    ``file`` (a binary file object) replaces standard input, for tests and embedding; giving it,
    or ``reopen=True``, starts a new source.
    """
    global _stdin
    if file is not None or reopen or _stdin is None:
        if _stdin is not None:
            _stdin.close()
        _stdin = PipeSource(file)
    return _stdin


def stdin_path() -> Path:
    """The ``path`` recorded in a :class:`~edvr_cli.video.probe.VideoInfo` of standard input."""
    return Path(STDIN)


def _stdin_is_terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


__all__ = ["STDIN", "STDIN_FORMAT", "STDIN_LABEL", "PipeSource", "is_stdin", "open_stdin", "stdin_path"]
