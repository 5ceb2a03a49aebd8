"""Exception classes: each message says what went wrong and what to do next."""

from __future__ import annotations


class EDVRError(Exception):
    """Base class of every error this package raises on purpose; the CLI prints its message as one line."""


class EDVRCheckpointError(EDVRError):
    """A file or state dict is not a loadable EDVR checkpoint (foreign, broken, missing or extra tensors)."""


class InputError(EDVRError):
    """An input path is missing, unreadable, or not a video / image sequence we can decode."""


class OutputExistsError(EDVRError):
    """The output path exists and ``overwrite`` was not given."""


class ModelNotFoundError(EDVRError):
    """A model name is neither in the registry, nor imported, nor an existing file."""


class ModelKindError(EDVRError):
    """A model of the wrong kind for the command (a x1 model for upscale, a x4 model for deblur)."""


class DownloadError(EDVRError):
    """Every source of a model failed to deliver a verified file."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 does not match the registry."""


class OfflineError(DownloadError):
    """A download was needed while offline (no network, or EDVR_OFFLINE=1)."""
