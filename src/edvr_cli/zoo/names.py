"""Model names: the one rule for a name that becomes a file name in the model cache.

A model name is what ``edvr weights import --name`` files a checkpoint under, and what ``remove``,
``info``, ``path``, ``download`` and ``--model`` look up. It is turned into ``<name>.safetensors``,
``<name>.json`` and ``<name>.safetensors.lock`` inside the cache folder, so it is never a path:
:func:`check_model_name` is the one place that says which names are allowed, and every cache path
made from a name (``cache.model_file``, ``sidecar_file``, ``lock_file``) goes through it.
"""

from __future__ import annotations

import re

from edvr_cli.errors import ModelNameError

#: 1 to 100 ASCII letters, digits, ``.``, ``_``, ``+`` or ``-``, starting with a letter or digit (so
#: never hidden, never a path separator); anchored with ``\Z`` (``$`` would let a trailing newline in).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}\Z")
MAX_LENGTH = 100

RULE = (
    f"a model name is 1 to {MAX_LENGTH} letters, digits, '.', '_', '+' or '-', starting with a letter or"
    " digit, without '..', and never a path"
)


def check_model_name(name: object) -> str:
    """``name`` when it may name a model in the cache; ``ModelNameError`` (one line) otherwise.

    Refused: path separators (``/``, ``\\``), ``..``, a leading dot (or other non-alphanumeric first
    character), characters other than ASCII letters, digits and ``._+-``, and more than 100 characters.
    """
    if isinstance(name, str) and NAME_PATTERN.match(name) and ".." not in name:
        return name
    shown = name if not isinstance(name, str) or len(name) <= 60 else name[:57] + "..."
    raise ModelNameError(f"bad model name {shown!r}: {RULE} (edvr weights list shows the names)")


__all__ = ["MAX_LENGTH", "NAME_PATTERN", "RULE", "check_model_name"]
