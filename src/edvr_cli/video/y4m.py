"""YUV4MPEG2 streams read the way FFmpeg's ``yuv4mpegpipe`` demuxer reads them, so that a bad one is
named before FFmpeg sees it, and a stream cut inside a frame is noticed.

* :func:`parse_header` (pure) checks the first line by FFmpeg's own rules (the magic, at most
  :data:`MAX_HEADER` bytes with its newline, a width and a height FFmpeg can hold, a known ``C`` colour
  space, an ``I`` tag of ``p``, ``t``, ``b`` or ``?``) and says in words what is wrong, where FFmpeg
  answers "Device or resource busy" for ``W-32`` and "Invalid argument" for ``Im``.
* :class:`FrameCounter` (pure) follows the bytes of the frames (``FRAME`` + parameters + newline, then
  the header's frame size) as they pass by, and knows at the end whether the stream ended inside a frame
  (FFmpeg's demuxer drops such a partial frame without a word). Standard input counts the bytes that
  pass through the pipe (:mod:`edvr_cli.video.pipes`); a file is measured (:func:`file_cut`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"YUV4MPEG2"
#: FFmpeg (8.x, the one PyAV bundles) reads at most this many bytes of the header line, its newline included.
MAX_HEADER = 128
#: ... and of a frame's header line (``FRAME`` and its parameters).
MAX_FRAME_HEADER = 80
FRAME_MAGIC = b"FRAME"

# The ``C`` tags FFmpeg knows, in the order it tries them as prefixes ("444alpha" before "444").
_COLOUR_SPACES = (
    ("420jpeg", "yuv420p"), ("420mpeg2", "yuv420p"), ("420paldv", "yuv420p"),
    ("420p16", "yuv420p16"), ("422p16", "yuv422p16"), ("444p16", "yuv444p16"),
    ("420p14", "yuv420p14"), ("422p14", "yuv422p14"), ("444p14", "yuv444p14"),
    ("420p12", "yuv420p12"), ("422p12", "yuv422p12"), ("444p12", "yuv444p12"),
    ("420p10", "yuv420p10"), ("422p10", "yuv422p10"), ("444p10", "yuv444p10"),
    ("420p9", "yuv420p9"), ("422p9", "yuv422p9"), ("444p9", "yuv444p9"),
    ("420", "yuv420p"), ("411", "yuv411p"), ("422", "yuv422p"),
    ("444alpha", "yuva444p"), ("444", "yuv444p"),
    ("mono16", "gray16"), ("mono12", "gray12"), ("mono10", "gray10"), ("mono9", "gray9"), ("mono", "gray"),
)
# The older ``XYSCSS=`` vendor tag, used when there is no ``C`` tag.
_YSCSS = (
    ("420JPEG", "yuv420p"), ("420MPEG2", "yuv420p"), ("420PALDV", "yuv420p"),
    ("420P9", "yuv420p9"), ("422P9", "yuv422p9"), ("444P9", "yuv444p9"),
    ("420P10", "yuv420p10"), ("444P10", "yuv444p10"),
    ("420P12", "yuv420p12"), ("422P12", "yuv422p12"), ("444P12", "yuv444p12"),
    ("420P14", "yuv420p14"), ("422P14", "yuv422p14"), ("444P14", "yuv444p14"),
    ("420P16", "yuv420p16"), ("422P16", "yuv422p16"), ("444P16", "yuv444p16"),
    ("411", "yuv411p"), ("422", "yuv422p"), ("444", "yuv444p"),
)
# Chroma subsampling (log2 of width, height) of each family.
_SUBSAMPLING = {"420": (1, 1), "422": (1, 0), "444": (0, 0), "411": (2, 0)}
_INTERLACING = {"p": "progressive", "t": "tff", "b": "bff", "?": "unknown"}
_NUMBER = re.compile(r"[+-]?\d+")
# FFmpeg's av_image_check_size: both sides positive and (w + 128) * (h + 128) < INT_MAX / 8.
_SIZE_LIMIT = (2**31 - 1) // 8
EXAMPLE = "YUV4MPEG2 W640 H480 F25:1 Ip A1:1 C420jpeg"


class Y4MHeaderError(ValueError):
    """The first line of a YUV4MPEG2 stream is not one FFmpeg can read; the message says why, in words."""


@dataclass(frozen=True)
class Y4MHeader:
    """What a YUV4MPEG2 header line says. ``frame_bytes`` is a frame's pixel data (FFmpeg's packet size
    less the 6 bytes of ``FRAME\\n``); ``header_bytes`` the header line, its newline included."""

    width: int
    height: int
    pix_fmt: str
    interlacing: str
    frame_bytes: int
    header_bytes: int


def header_line(head: bytes) -> bytes | None:
    """The header line (newline included) at the start of ``head``, or None when ``head`` does not begin
    with the YUV4MPEG2 magic (it is another format)."""
    if not head.startswith(MAGIC):
        return None
    end = head.find(b"\n", 0, MAX_HEADER)
    return head if end < 0 else head[: end + 1]


def parse_header(line: bytes) -> Y4MHeader:
    """Check a YUV4MPEG2 header line (as :func:`header_line` returns it) as FFmpeg reads it.

    Raises:
        Y4MHeaderError: the reason FFmpeg would refuse it, in words.
    """
    if not line.startswith(MAGIC):
        raise Y4MHeaderError(f"it does not begin with '{MAGIC.decode()}'")
    end = line.find(b"\n", 0, MAX_HEADER)
    if end < 0:
        if len(line) < MAX_HEADER:
            raise Y4MHeaderError("it ends before the end of its first line")
        raise Y4MHeaderError(f"its first line is longer than {MAX_HEADER} bytes")
    text = line[len(MAGIC) + 1 : end].decode("latin-1")
    width = height = None
    pix_fmt = alt_fmt = None
    interlacing = "unknown"
    for token in text.split(" "):
        if not token:
            continue
        tag, value = token[0], token[1:]
        if tag in "WH":
            side = "width" if tag == "W" else "height"
            if not _NUMBER.fullmatch(value):
                raise Y4MHeaderError(f"{side} {_shown(value)} is not a number")
            number = int(value)
            if number <= 0:
                raise Y4MHeaderError(f"{side} {number}")
            width, height = (number, height) if tag == "W" else (width, number)
        elif tag == "C":
            pix_fmt = _prefixed(value, _COLOUR_SPACES)
            if pix_fmt is None:
                raise Y4MHeaderError(f"unknown colour space C{_shown(value, quote=False)} "
                                     "(FFmpeg reads C420jpeg, C422, C444, C420p10, Cmono ...)")
        elif tag == "I":
            if value[:1] == "m":
                raise Y4MHeaderError(f"interlace tag I{_shown(value, quote=False)} (mixed progressive and "
                                     "interlaced frames) is one FFmpeg cannot read")
            if value[:1] not in _INTERLACING:
                raise Y4MHeaderError(f"unknown interlace tag I{_shown(value, quote=False)} "
                                     "(FFmpeg reads Ip, It, Ib or I?)")
            interlacing = _INTERLACING[value[:1]]
        elif tag == "X" and value.startswith("YSCSS="):
            alt_fmt = _prefixed(value[6:], _YSCSS) or alt_fmt
        # F (rate), A (aspect), other X tags: FFmpeg takes what it can, as do we
    if width is None or height is None:
        raise Y4MHeaderError("no " + " and no ".join(n for n, v in (("width (W)", width), ("height (H)", height))
                                                    if v is None))
    if (width + 128) * (height + 128) >= _SIZE_LIMIT:
        raise Y4MHeaderError(f"frame size {width}x{height} is larger than FFmpeg can read")
    fmt = pix_fmt or alt_fmt or "yuv420p"
    return Y4MHeader(width, height, fmt, interlacing, frame_bytes(fmt, width, height), end + 1)


def frame_bytes(pix_fmt: str, width: int, height: int) -> int:
    """Bytes of one frame's pixels in a YUV4MPEG2 stream (planes packed, no padding): FFmpeg's
    ``av_image_get_buffer_size(pix_fmt, width, height, 1)`` for the formats of :data:`_COLOUR_SPACES`."""
    found = re.fullmatch(r"(gray|yuva?)(\d{3})?p?(\d+)?", pix_fmt)
    if found is None:
        raise ValueError(f"not a YUV4MPEG2 pixel format: {pix_fmt}")
    family, layout, bits = found.groups()
    sample = 2 if bits and int(bits) > 8 else 1
    luma = width * height * sample
    if family == "gray":
        return luma
    sw, sh = _SUBSAMPLING[layout]
    chroma = -(-width >> sw) * -(-height >> sh) * sample
    return luma + 2 * chroma + (luma if family == "yuva" else 0)


class FrameCounter:
    """Follows the frames of a YUV4MPEG2 stream's body (what comes after the header line) as its bytes
    pass by: each frame is a line starting ``FRAME`` (at most :data:`MAX_FRAME_HEADER` bytes, newline
    included) and then ``frame_bytes`` of pixels. Linear in the bytes fed; keeps no data."""

    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = frame_bytes
        self.whole = 0  # frames complete so far
        self.lost = False  # a frame header line too long to be one: FFmpeg's own error speaks
        self._in_line = True  # inside a frame's header line (else in its pixels)
        self._line = 0  # bytes of the current frame's header line, its newline included once seen
        self._left = 0  # pixel bytes of the current frame still to come
        self._start = b""  # the first bytes of the current frame's header line (``FRAME``)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Count the next bytes of the body."""
        view = memoryview(data).cast("B")
        pos, size = 0, len(view)
        while pos < size and not self.lost:
            if self._in_line:
                room = MAX_FRAME_HEADER - self._line
                chunk = bytes(view[pos : pos + room])
                end = chunk.find(b"\n")
                taken = len(chunk) if end < 0 else end + 1
                if len(self._start) < len(FRAME_MAGIC):
                    self._start += chunk[: min(taken, len(FRAME_MAGIC) - len(self._start))]
                self._line += taken
                pos += taken
                if end < 0:
                    self.lost = self._line >= MAX_FRAME_HEADER
                    continue
                if not self._start.startswith(FRAME_MAGIC):
                    self.lost = True  # not a frame: FFmpeg refuses the rest
                    continue
                self._in_line = False
                self._left = self.frame_bytes
                if self._left == 0:
                    self._frame_done()
                continue
            pos += self.skip(size - pos)

    def skip(self, count: int) -> int:
        """Count up to ``count`` pixel bytes of the current frame without seeing them (a file is measured,
        not read); returns how many were taken (0 inside a frame's header line)."""
        if self._in_line or self.lost:
            return 0
        take = min(self._left, count)
        self._left -= take
        if self._left == 0:
            self._frame_done()
        return take

    def _frame_done(self) -> None:
        self.whole += 1
        self._in_line = True
        self._line = 0
        self._start = b""

    def cut(self) -> tuple[int, int, int] | None:
        """At the end of the stream: ``(frame number from 1, its bytes that arrived, the bytes it needs)`` when
        it ended inside a frame; None when it ended between two frames (or the stream was not followed)."""
        if self.lost or (self._in_line and self._line == 0):
            return None
        if self._in_line:  # inside a frame's header line: its full length is unknown, count ``FRAME\n``
            return self.whole + 1, self._line, max(self._line + 1, len(FRAME_MAGIC) + 1) + self.frame_bytes
        return self.whole + 1, self._line + self.frame_bytes - self._left, self._line + self.frame_bytes


def file_cut(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """:meth:`FrameCounter.cut` of a YUV4MPEG2 file, measured without reading its pixels (a frame header
    line is read per frame): None for a file that ends between frames, is not YUV4MPEG2, or has a header
    FFmpeg refuses."""
    try:
        with open(path, "rb") as f:
            try:
                header = parse_header(header_line(f.read(MAX_HEADER)) or b"")
            except Y4MHeaderError:
                return None
            size = os.fstat(f.fileno()).st_size
            counter = FrameCounter(header.frame_bytes)
            offset = header.header_bytes
            while offset < size and not counter.lost:
                f.seek(offset)
                line = f.read(MAX_FRAME_HEADER)
                end = line.find(b"\n")
                counter.feed(line if end < 0 else line[: end + 1])
                offset += len(line) if end < 0 else end + 1
                offset += counter.skip(size - offset)
            return counter.cut()
    except OSError:
        return None


def cut_warning(label: str, cut: tuple[int, int, int], *, file: bool) -> str:
    """The one warning for a stream that ended inside frame ``cut[0]``."""
    number, got, needed = cut
    kept = number - 1
    frames = f"{kept} whole frame{'' if kept == 1 else 's'}"
    more = "; the file may be truncated" if file else ""
    return (f"'{label}': the input ended inside frame {number} ({got} of its {needed} bytes); "
            f"keeping the {frames} before it{more}")


def header_error(who: str, exc: Y4MHeaderError) -> str:
    """The one line for a refused header; ``who`` is ``'name.y4m'`` (quoted) or ``standard input``."""
    return f"{who}: the YUV4MPEG2 header is not valid: {exc}; it should read like '{EXAMPLE}'"


def check_file(path: Path) -> Y4MHeader | None:
    """The header of a file that begins with the YUV4MPEG2 magic (checked), None for other files.

    Raises:
        Y4MHeaderError: a YUV4MPEG2 file whose header FFmpeg would refuse.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(MAX_HEADER)
    except OSError:
        return None  # FFmpeg's open says what is wrong
    line = header_line(head)
    return None if line is None else parse_header(line)


def _prefixed(value: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for name, fmt in table:
        if value.startswith(name):
            return fmt
    return None


def _shown(value: str, quote: bool = True) -> str:
    shown = value if len(value) <= 20 else value[:17] + "..."
    shown = shown.encode("unicode_escape").decode("ascii")
    return f"'{shown}'" if quote else shown
