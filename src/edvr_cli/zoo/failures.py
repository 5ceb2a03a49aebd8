"""What one download source hands back: a verified file (``Fetched``) or a ``SourceFailure``.

``SourceFailure`` is internal: ``download.download_entry`` turns the failures of every source into
one of our errors (``OfflineError``, ``ChecksumError``, ``DownloadError``) with one combined line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class SourceFailure(Exception):
    """One source did not deliver a verified file.

    Args:
        label: the source, in words (named in the final error).
        reason: what went wrong.
        unreachable: the host could not be reached at all (no network, DNS failure, refused).
        checksum: the source served a file whose hash is wrong.
        transient: worth retrying (timeout, reset connection, HTTP 408/429/5xx).
    """

    def __init__(
        self,
        label: str,
        reason: str,
        *,
        unreachable: bool = False,
        checksum: bool = False,
        transient: bool = False,
    ) -> None:
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason
        self.unreachable = unreachable
        self.checksum = checksum
        self.transient = transient


@dataclass
class Fetched:
    """A verified checkpoint: where it is, who served it, its full SHA-256, and whether it is ours to delete."""

    path: Path
    source: str
    sha256: str
    owned: bool


def checksum_failure(label: str, digest: str, expected: str | None) -> SourceFailure:
    return SourceFailure(
        label,
        f"served a file with SHA-256 {digest[:16]}..., not the published {expected}; deleted it",
        checksum=True,
    )


def first_text_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its class name if none)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
