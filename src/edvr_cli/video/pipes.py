"""Standard input as a video: INPUT ``-`` is a YUV4MPEG2 stream (``ffmpeg ... -f yuv4mpegpipe -``).

A pipe is read once and cannot seek, so the process keeps one :class:`PipeSource` for stdin:
:func:`~edvr_cli.video.probe.probe` decodes the first frame and leaves it in the source's
``pending`` list, and the :class:`~edvr_cli.video.reader.FrameReader` that follows yields it first
(nothing probed is lost). A second reader over the same stdin is refused.

The y4m header's tags are honoured by FFmpeg's demuxer: ``XCOLORRANGE=FULL`` / ``LIMITED`` set
the range, ``It`` / ``Ib`` mark interlaced top / bottom field first (``Ip`` progressive). ``C420jpeg``
/ ``C420mpeg2`` / ``C420paldv`` name the chroma *siting*, not the range (FFmpeg writes ``C420jpeg``
for ordinary limited-range 4:2:0), so without ``XCOLORRANGE`` the usual rule applies (limited).

FFmpeg does not read the pipe itself: the header line is read and checked first (a bad one is named in
words, see :mod:`edvr_cli.video.y4m`), then FFmpeg reads through a :class:`_CountedPipe` that replays it
and counts the frames' bytes, so a stream that ends inside a frame (which the demuxer drops without a
word) is noticed: :meth:`PipeSource.cut`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error

from edvr_cli.errors import InputError, first_line
from edvr_cli.video import y4m

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
        self._pipe: _CountedPipe | None = None
        source: Any = file if file is not None else "pipe:0"
        if format == STDIN_FORMAT:
            self._pipe = source = _CountedPipe.open(file)
        try:
            self.container = av.open(source, "r", format=format)
        except _Passed as e:
            raise e.exc from None
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise InputError(f"{STDIN_LABEL} is not a YUV4MPEG2 stream ({first_line(e)}); {_SEND_ONE}") from e
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
            cut = self.cut()
            if cut is not None:
                raise InputError(f"{STDIN_LABEL} ended inside its first frame ({cut[1]} of its {cut[2]} bytes): "
                                 "no whole frame to restore")
            raise InputError(f"{STDIN_LABEL} has no decodable video frame")
        return self.pending[0]

    def cut(self) -> tuple[int, int, int] | None:
        """Once the pipe has ended: ``(frame number from 1, its bytes that arrived, the bytes it needs)`` when
        it ended inside a frame (the demuxer drops that frame); None otherwise, or before the end."""
        if self._pipe is None or not self._pipe.ended:
            return None
        return self._pipe.counter.cut()

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
        try:
            yield from self.container.demux(self.stream)
        except _Passed as e:
            raise e.exc from None

    def _decode(self) -> Iterator[av.VideoFrame]:
        for packet in self._packets:
            yield from self.stream.decode(packet)


_SEND_ONE = "send one with: ffmpeg -i INPUT -f yuv4mpegpipe -"


class _Passed(Exception):
    """A signal's exception (``KeyboardInterrupt``, :class:`~edvr_cli.errors.Interrupted`) raised while FFmpeg
    read the pipe, carried through PyAV (which passes on only ``Exception``) and raised again as it was."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


class _CountedPipe:
    """What FFmpeg reads of a YUV4MPEG2 pipe: the header line (read and checked by :meth:`open`), then the
    rest, every byte of the frames counted by a :class:`~edvr_cli.video.y4m.FrameCounter`. Forward only
    (no ``seek``: PyAV then treats it as a stream)."""

    def __init__(self, read: Callable[[int], bytes | None], head: bytes, header: y4m.Y4MHeader) -> None:
        self._read = read
        self._head = head
        self.counter = y4m.FrameCounter(header.frame_bytes)
        self.counter.feed(head[header.header_bytes:])
        self.ended = False

    @classmethod
    def open(cls, file: BinaryIO | None) -> _CountedPipe:
        """Read and check the header of ``file`` (None: file descriptor 0).

        Raises:
            InputError: an empty pipe, not YUV4MPEG2, or a header FFmpeg would refuse (said in words).
        """
        read: Callable[[int], bytes | None] = file.read if file is not None else (lambda n: os.read(0, n))
        head = b""
        while b"\n" not in head and len(head) < y4m.MAX_HEADER:
            try:
                chunk = read(y4m.MAX_HEADER - len(head))
            except OSError as e:
                raise InputError(f"cannot read {STDIN_LABEL}: {e.strerror or e}") from None
            if not chunk:
                break
            head += chunk
        if not head:
            raise InputError(f"{STDIN_LABEL} is empty: it holds no YUV4MPEG2 stream; {_SEND_ONE}")
        if not head.startswith(y4m.MAGIC):
            raise InputError(f"{STDIN_LABEL} is not a YUV4MPEG2 stream (it does not begin with "
                             f"'{y4m.MAGIC.decode()}'); {_SEND_ONE}")
        try:
            header = y4m.parse_header(y4m.header_line(head) or head)
        except y4m.Y4MHeaderError as e:
            raise InputError(y4m.header_error(STDIN_LABEL, e)) from None
        return cls(read, head, header)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            chunk, self._head = (self._head, b"") if size < 0 else (self._head[:size], self._head[size:])
            return chunk
        try:
            data = self._read(size) or b""
        except OSError as e:  # PyAV passes it on; the reader keeps the frames before it
            raise ValueError(f"cannot read {STDIN_LABEL}: {e.strerror or e}") from None
        except BaseException as e:
            if isinstance(e, Exception):
                raise
            raise _Passed(e) from None  # a signal: PyAV would print it and drop it
        if data:
            self.counter.feed(data)
        elif size != 0:
            self.ended = True
        return data


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
