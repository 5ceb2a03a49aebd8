"""File digests, in one place: a file's full SHA-256, and whether it agrees with a published (prefix) hash."""

from __future__ import annotations

import hashlib
import os

CHUNK_SIZE = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Full hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            h.update(block)
    return h.hexdigest()


def hash_matches(digest: str, expected: str | None) -> bool:
    """Whether a full digest agrees with an expected full hash or hash prefix (None: nothing to check)."""
    return expected is None or digest.lower().startswith(expected.lower())
