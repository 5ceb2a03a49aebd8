"""Atomic output: write to a hidden temporary beside the target, rename into place on success."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edvr_cli.errors import OutputExistsError
from edvr_cli.video.paths import is_frame_folder_output

TEMP_MARKER = ".edvr-tmp-"


def temporary_sibling(path: Path) -> Path:
    """Hidden name in the same folder that keeps the extension (so the muxer picks the container).

    ``out.mp4 -> .out.mp4.edvr-tmp-<hex>.mp4``; ``frames -> .frames.edvr-tmp-<hex>``.
    """
    return path.with_name(f".{path.name}{TEMP_MARKER}{secrets.token_hex(4)}{path.suffix}")


@contextmanager
def atomic_output(path: str | Path, overwrite: bool = False, *, folder: bool | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; move it onto ``path`` only if the block succeeds.

    Any exception, ``KeyboardInterrupt`` included, removes the temporary file or folder and
    leaves an existing ``path`` untouched.

    Args:
        path: final output file, or folder for PNG frames.
        overwrite: replace an existing ``path``; otherwise :class:`OutputExistsError` is raised
            before any work is done.
        folder: whether the output is a folder; by default decided by
            :func:`~edvr_cli.video.paths.is_frame_folder_output` (no video extension). For a
            folder, the temporary folder is created here; for a file, only the name is reserved.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    target = Path(path)
    if folder is None:
        folder = is_frame_folder_output(target)
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise OutputExistsError(f"output '{target}' already exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temporary_sibling(target)
    if folder:
        temp.mkdir()
    try:
        yield temp
        if not temp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary output '{temp}'")
        _move_into_place(temp, target, overwrite)
    except BaseException:
        _remove(temp)
        raise


def _move_into_place(temp: Path, target: Path, overwrite: bool) -> None:
    if not (target.exists() or target.is_symlink()):
        os.replace(temp, target)
        return
    if not overwrite:  # appeared while we were working
        raise OutputExistsError(f"output '{target}' appeared while writing; pass --overwrite to replace it")
    if temp.is_file() and (target.is_file() or target.is_symlink()):
        os.replace(temp, target)  # atomic on POSIX
        return
    # A folder is involved: park the old output, move the new one in, then delete the old one.
    parked = temporary_sibling(target)
    os.replace(target, parked)
    try:
        os.replace(temp, target)
    except BaseException:
        os.replace(parked, target)
        raise
    _remove(parked)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:
        pass
