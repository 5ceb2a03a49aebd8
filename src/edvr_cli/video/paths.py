"""File-name rules: which paths are videos, image sequences or frame folders, and their order."""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path

#: Extensions treated as video containers, for batch mode and for choosing an output container.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".flv", ".wmv", ".asf",
        ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".vob", ".ogv", ".3gp", ".3g2",
        ".mxf", ".nut", ".y4m", ".gif",
    }
)  # fmt: skip

#: Extensions of still images that make up an image sequence folder.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".exr", ".dpx", ".tga"}
)

_DIGITS = re.compile(r"(\d+)")
#: Names of the PNG files of a frame-folder output: ``00000000.png``, ``00000001.png`` ...
FRAME_FILE = re.compile(r"^\d{8}\.png$")


def frame_file_name(index: int) -> str:
    """The file name of frame ``index`` (from 0) in a frame-folder output."""
    return f"{index:08d}.png"


def natural_sort_key(name: str | Path) -> tuple:
    """Sort key that orders embedded numbers by value: ``2.png`` before ``10.png``.

    Case-insensitive; ties are broken by the exact name so the order is total.
    """
    text = Path(name).name if isinstance(name, Path) else str(name)
    parts = _DIGITS.split(text.casefold())
    # Alternate (text, number) so a str is never compared with an int.
    key = tuple((0, int(p), "") if i % 2 else (1, 0, p) for i, p in enumerate(parts) if p != "")
    return key + ((2, 0, text),)


def is_video_file(path: str | Path) -> bool:
    """True when ``path`` has a video container extension (the file need not exist)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image_file(path: str | Path) -> bool:
    """True when ``path`` has a still-image extension (the file need not exist)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_frame_folder_output(path: str | Path) -> bool:
    """Output rule: a path without a video extension (or an existing folder) receives PNG frames."""
    p = Path(path)
    try:
        if p.is_dir():
            return True
    except OSError:  # a name too long to look up: not a folder that exists
        pass
    return not is_video_file(p)


#: The output name that means standard output (YUV4MPEG2), and the input name that means standard input.
STDOUT = "-"


class OutputKind(enum.Enum):
    """What an output path receives: a video file, a folder of PNG frames, or standard output."""

    FILE = "file"
    FRAMES = "frames"
    STDOUT = "stdout"


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    """Whether an OUTPUT argument means standard output (``-``)."""
    return path is not None and os.fspath(path) == STDOUT


def output_kind(path: str | os.PathLike[str]) -> OutputKind:
    """The one output rule: ``-`` is standard output, a video extension a file, anything else PNG frames."""
    if is_stdout(path):
        return OutputKind.STDOUT
    return OutputKind.FRAMES if is_frame_folder_output(os.fspath(path)) else OutputKind.FILE


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (hidden files skipped), in natural sort order."""
    folder = Path(folder)
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and is_image_file(p)
    ]
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def list_videos(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Video files in ``folder`` (and sub-folders when ``recursive``), in natural sort order.

    Hidden files and our own temporary outputs are skipped.
    """
    folder = Path(folder)
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        p
        for p in candidates
        if p.is_file() and not p.name.startswith(".") and is_video_file(p)
    ]
    return sorted(files, key=lambda p: tuple(natural_sort_key(part) for part in p.relative_to(folder).parts))
