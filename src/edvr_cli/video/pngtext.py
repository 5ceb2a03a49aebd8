"""Text chunks of PNG files: written after the header (FFmpeg's PNG encoder writes none), read back by
walking the chunk headers up to the image data (linear, nothing read that is larger than asked for).

``tEXt`` holds Latin-1 text; text outside Latin-1 goes in an uncompressed ``iTXt`` (UTF-8). Compressed
text (``zTXt``, compressed ``iTXt``) is not read: a few bytes can inflate to gigabytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG's registered keywords for keys a container would use (``comment`` -> ``Comment``).
_KEYWORDS = {"comment": "Comment"}


class NotPNG(ValueError):
    """The file does not start with PNG's signature."""

    def __init__(self) -> None:
        super().__init__("not a PNG file")


class TextTooLarge(ValueError):
    """A text chunk of the asked keyword holds more than the limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, more than the {limit} allowed")
        self.size, self.limit = size, limit


def keyword(key: str) -> str:
    """The PNG keyword a tag is written under."""
    return _KEYWORDS.get(key, key)


def _chunk(key: str, value: str) -> bytes:
    name = keyword(key).encode("latin-1")
    if not 1 <= len(name) <= 79 or b"\0" in name:
        raise ValueError(f"{key!r} is not a PNG keyword (1 to 79 Latin-1 characters)")
    try:
        kind, data = b"tEXt", name + b"\0" + value.encode("latin-1")
    except UnicodeEncodeError:  # uncompressed, no language, no translated keyword
        kind, data = b"iTXt", name + b"\0\0\0\0\0" + value.encode("utf-8")
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def text_chunks(tags: Mapping[str, str]) -> bytes:
    """The text chunks of ``tags`` (made once, written into every frame)."""
    return b"".join(_chunk(k, v) for k, v in tags.items())


def header_end(png: bytes) -> int:
    """Where a PNG's header (signature and IHDR chunk) ends: text chunks go there."""
    if png[:8] != SIGNATURE or png[12:16] != b"IHDR":
        raise NotPNG()
    return 8 + 8 + int.from_bytes(png[8:12], "big") + 4


def with_text(png: bytes, tags: Mapping[str, str]) -> bytes:
    """``png`` with a text chunk for each tag, right after its header (before the image data)."""
    if not tags:
        return png
    end = header_end(png)
    return png[:end] + text_chunks(tags) + png[end:]


def read_text(path: str | Path, key: str, limit: int) -> str | None:
    """The text of the first uncompressed text chunk named ``key`` before the image data; None when
    there is none.

    Raises:
        TextTooLarge: that chunk holds more than ``limit`` bytes (not read).
        NotPNG: the file is no PNG (another image under a .png name).
        ValueError: a damaged PNG file.
        OSError: the file cannot be read.
    """
    name = keyword(key).encode("latin-1")
    with open(path, "rb") as f:
        if f.read(8) != SIGNATURE:
            raise NotPNG()
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("the file ends before its image data")
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if length > 0x7FFFFFFF:
                raise ValueError("a chunk length is out of range")
            if kind in (b"IDAT", b"IEND"):
                return None
            if kind in (b"tEXt", b"iTXt"):
                start = f.tell()
                lead = f.read(min(length, len(name) + 1))
                if lead == name + b"\0":
                    if length > limit:
                        raise TextTooLarge(length, limit)
                    data = lead + f.read(length - len(lead))
                    if len(data) < length:
                        raise ValueError("the file ends inside a text chunk")
                    text = _text_of(kind, data[len(lead):])
                    if text is not None:
                        return text
                f.seek(start)
            f.seek(length + 4, 1)  # the data and the CRC


def _text_of(kind: bytes, body: bytes) -> str | None:
    """The text of a chunk's body after its keyword; None for compressed text."""
    if kind == b"tEXt":
        return body.decode("latin-1")
    if len(body) < 2 or body[0] != 0:  # compressed iTXt
        return None
    rest = body[2:]
    for _ in range(2):  # language tag, translated keyword
        cut = rest.find(b"\0")
        if cut < 0:
            raise ValueError("a damaged iTXt chunk")
        rest = rest[cut + 1:]
    return rest.decode("utf-8", errors="replace")
