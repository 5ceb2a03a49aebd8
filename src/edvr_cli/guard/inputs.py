"""Input paths: refused before any work when empty, missing, or not a regular file or folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edvr_cli.errors import InputError


def check_input(path: str | os.PathLike) -> Path:
    """The input as a Path, once it is known to be a regular file or a folder.

    Raises:
        InputError: an empty path, a missing path, a device, FIFO or socket.
    """
    if not str(path).strip():
        raise InputError("the input path is empty")
    if str(path) == "-":
        return Path("-")  # standard input: a YUV4MPEG2 stream (edvr_cli.video.pipes)
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise InputError(f"input '{p}' does not exist") from None
    except NotADirectoryError:
        raise InputError(f"input '{p}' does not exist (a part of its path is a file)") from None
    except OSError as exc:
        raise InputError(f"cannot read input '{p}': {exc.strerror or exc}") from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        if not os.access(p, os.R_OK):
            raise InputError(f"cannot read input '{p}': permission denied")
        return p
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise InputError(f"input '{p}' is {kind}; give a video file, a folder of images or a folder of videos")
