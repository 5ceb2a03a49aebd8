"""Every exception class of the package, and the one rule for turning a failure into one line.

Each message says what went wrong and what to do next; the CLI prints it as ``edvr: error: ...``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

#: Receives each warning a run produces (one line of text).
WarningCallback = Callable[[str], None]


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (its class name if it has none), at most ``limit`` chars."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_disk_full(exc: BaseException) -> bool:
    """The one rule for "the disk cannot take more": no space, a quota, or the size a file may have
    (``ulimit -f``) reached."""
    import errno

    full = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
    return isinstance(exc, OSError) and exc.errno in full


def os_error_of(exc: BaseException) -> OSError | None:
    """The operating system's error inside a library's own exception ("... (os error 28)" from Rust
    libraries such as safetensors), or ``exc`` itself when it is one; None otherwise."""
    import re

    if isinstance(exc, OSError):
        return exc
    found = re.search(r"\(os error (\d+)\)", str(exc))
    if found is None:
        return None
    import os

    code = int(found.group(1))
    return OSError(code, os.strerror(code))


class EDVRError(Exception):
    """Base class of every error this package raises on purpose; the CLI prints its message as one line."""


# -- models -------------------------------------------------------------------------------------------

class EDVRCheckpointError(EDVRError):
    """A file or state dict is not a loadable EDVR checkpoint (foreign, broken, unsafe, missing or extra tensors)."""


class ModelNotFoundError(EDVRError):
    """A model name is neither in the registry, nor imported, nor an existing file."""


class ModelNameError(ModelNotFoundError):
    """A model name that cannot name a cache entry (a path, ``..``, a leading dot, another character, too
    long): refused before any file is looked up, created or deleted (``zoo.names.check_model_name``)."""


class ModelKindError(EDVRError):
    """A model of the wrong kind for the command (a x1 model for upscale, a x4 model for deblur)."""


class DownloadError(EDVRError):
    """Every source of a model failed to deliver a verified file."""


class ChecksumError(DownloadError):
    """A downloaded or cached file's SHA-256 does not match the one recorded for it."""


class OfflineError(DownloadError):
    """A download was needed while offline (no network, or EDVR_OFFLINE=1)."""


class CachedModelChangedError(ChecksumError, EDVRCheckpointError):
    """A cached model's bytes no longer have the SHA-256 recorded when it was cached (refused, not loaded)."""


class ModelCacheError(EDVRError):
    """The model cache folder (EDVR_HOME) cannot be created or written."""


class ModelNameTakenError(EDVRError):
    """Another model (or another import running now) already holds the name; --force replaces it."""


# -- inputs, outputs, options --------------------------------------------------------------------------

class UsageError(EDVRError):
    """An option or argument has a value that cannot work (caught when it is parsed)."""


class InputError(EDVRError):
    """An input path is missing, unreadable, or not a video / image sequence we can decode."""


class SpanError(UsageError):
    """A ``--start`` / ``--end`` span that cannot be read: malformed, empty, or outside the video."""


class FrameSizeError(InputError):
    """Frames too large (or too small) to restore, or a size change in the middle of a video."""


class OutputError(EDVRError):
    """An output path that edvr refuses to write: an input, a device, a folder holding other files."""


class OutputExistsError(OutputError):
    """The output path exists and ``overwrite`` was not given."""


class StreamError(OutputError):
    """A stream of the source would be converted or dropped in the output while ``--strict-streams`` is on."""


class OutOfSpaceError(EDVRError):
    """The disk filled up while writing the output."""


class DeviceError(EDVRError):
    """The GPU failed (CUDA error, out of memory) in the middle of a run."""


# -- resumable runs ------------------------------------------------------------------------------------

class ResumeError(EDVRError):
    """A work folder that cannot be continued: made with other arguments, another input, or damaged."""


class OutputBusyError(EDVRError):
    """Another process is working on the same output."""


class JoinError(ResumeError):
    """The finished segments cannot be joined into one file (the output must be made in one pass)."""

    def __init__(self, output_name: str, cause: BaseException) -> None:
        super().__init__(f"cannot join the segments of '{output_name}' ({first_line(cause)}); "
                         "rerun with --no-resume to make it in one pass")


# -- signals -------------------------------------------------------------------------------------------

class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived: unwinds like Ctrl-C (cleaning up), exits with 128 + the signal."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
