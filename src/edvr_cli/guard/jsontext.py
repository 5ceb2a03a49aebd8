"""JSON from files edvr did not necessarily write (checkpoint headers, cache records, work-folder manifests):
parsed only when its nesting is shallow, checked in one linear pass (Python's parser recurses per level)."""

from __future__ import annotations

import json
from typing import Any

#: Deeper nesting than any file edvr reads or writes holds (they nest 4 levels at most).
MAX_DEPTH = 64


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` of text nested at most ``max_depth`` levels.

    Raises:
        ValueError: not JSON, or nested deeper (before any recursion).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise ValueError(f"nested more than {max_depth} levels deep")
        elif ch in "]}":
            depth -= 1
    return json.loads(text)
