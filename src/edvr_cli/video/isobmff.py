"""The top-level boxes of an MP4 / MOV file (ISO base media), to say why FFmpeg cannot read one.

An MP4 written by a recorder or a download that stopped early has no index (the ``moov`` box is
written last) or a cut one; FFmpeg then answers "Invalid data found when processing input", or opens
it with no stream at all. :func:`top_level_boxes` walks the boxes (size and type of each, nothing
else: linear in the number of boxes, bounded), and :func:`index_problem` names what is wrong.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

#: Box types that start an MP4 / MOV file (QuickTime files may start without ``ftyp``).
_FIRST = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"junk"})
#: Walk no further than this many boxes (real files have a handful).
MAX_BOXES = 100_000


@dataclass(frozen=True)
class Box:
    """A top-level box: its four-character ``kind``, where it starts, the size it declares (to the end of
    the file for size 0), and the bytes of it the file holds."""

    kind: str
    offset: int
    size: int
    present: int

    @property
    def complete(self) -> bool:
        return self.present >= self.size


def top_level_boxes(read_at: Callable[[int, int], bytes], file_size: int) -> list[Box] | None:
    """The top-level boxes of a file of ``file_size`` bytes (``read_at(offset, count)`` reads it); the last
    one may be cut (``present < size``). None when the bytes are not a sequence of boxes.

    Pure apart from ``read_at``: at most :data:`MAX_BOXES` reads of 16 bytes.
    """
    boxes: list[Box] = []
    offset = 0
    while offset < file_size and len(boxes) < MAX_BOXES:
        head = read_at(offset, 16)
        if len(head) < 8:
            return boxes if boxes else None  # a few stray bytes after the last box, or a cut box header
        size, kind = struct.unpack(">I4s", head[:8])
        if not _is_kind(kind) or (not boxes and kind not in _FIRST):
            return None
        header = 8
        if size == 1:  # a 64-bit size follows
            if len(head) < 16:
                return boxes + [Box(kind.decode("latin-1"), offset, 16, len(head))]
            size = struct.unpack(">Q", head[8:16])[0]
            header = 16
        elif size == 0:  # to the end of the file
            size = file_size - offset
        if size < header:
            return None
        present = min(size, file_size - offset)
        boxes.append(Box(kind.decode("latin-1"), offset, size, present))
        offset += size
    return boxes


def index_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with an MP4 / MOV file's index, in words (``the MP4 index (moov box) is missing:
    ...``); None when the file is not an MP4 / MOV, or its index is there (something else is wrong)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size

            def read_at(offset: int, count: int) -> bytes:
                f.seek(offset)
                return f.read(count)

            boxes = top_level_boxes(read_at, size)
    except OSError:
        return None
    if not boxes:
        return None
    name = "MOV" if os.fspath(path).lower().endswith(".mov") else "MP4"
    advice = "; copy or download it again, or rebuild its index with a repair tool (such as untrunc)"
    moov = [b for b in boxes if b.kind == "moov"]
    if any(b.complete for b in moov):
        return None
    if moov:
        cut = moov[-1]
        return (f"the {name} index (moov box) is cut off ({cut.present} of its {cut.size} bytes): "
                f"the file is incomplete{advice}")
    last = boxes[-1]
    where = (f" (it ends inside its '{_shown(last.kind)}' box, {last.present} of {last.size} bytes)"
             if not last.complete else "")
    return f"the {name} index (moov box) is missing: the file is incomplete{where}{advice}"


def _is_kind(kind: bytes) -> bool:
    """Four printable characters (QuickTime uses the copyright sign, 0xA9)."""
    return all(0x20 <= c < 0x7F or c == 0xA9 for c in kind)


def _shown(kind: str) -> str:
    return kind.encode("unicode_escape").decode("ascii")
