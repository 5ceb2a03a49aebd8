"""What native libraries (x264, x265 ...) print straight to file descriptor 2, captured instead."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Captured:
    """The text written to fd 2 inside :func:`native_stderr` (filled in when the block ends)."""

    text: str = ""


@contextmanager
def native_stderr() -> Iterator[Captured]:
    """Capture fd 2 for the duration of the block (C libraries write there, bypassing ``sys.stderr``)."""
    captured = Captured()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 (a closed stderr): nothing to capture
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
