"""Provenance: what made an output, recorded in it and read back (``edvr info``).

:func:`provenance` builds it from the run's plan: the edvr version, each model's name and SHA-256, and
every setting that changes pixels (precision, tiles as resolved, output size, padding, deinterlacing,
shots, strength). :func:`tags` turns it into the output's tags: ``edvr`` (compact JSON) and ``comment``
(one line people read). Videos carry them as container tags (Matroska, WebM, NUT, FLV and ASF keep any
tag; MP4, MOV and M4V with ``movflags use_metadata_tags``); PNG frames as text chunks of every frame.
:func:`read_provenance` is the one reader: bounded in size and nesting, checked before parsing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edvr_cli import __version__
from edvr_cli.errors import InputError

if TYPE_CHECKING:
    from edvr_cli.jobs.runplan import RunPlan
    from edvr_cli.jobs.settings import RestoreSettings
    from edvr_cli.video.paths import OutputKind

#: The tag (container key, PNG keyword) holding the JSON.
TAG = "edvr"
#: The most bytes a provenance tag may hold (what edvr writes stays far below; names are shortened).
MAX_BYTES = 16384
#: Its deepest nesting (edvr writes 3 levels: the object, the model list, a model).
MAX_DEPTH = 8
_NAME_CHARS = 200
_TEXT_CHARS = 200


def provenance(plan: RunPlan) -> dict[str, Any]:
    """What made ``plan``'s output: the edvr version, the models and the settings that change pixels."""
    s, ex = plan.settings, plan.execution
    record: dict[str, Any] = {
        "version": __version__,
        "task": s.task,
        "models": [{"name": ref.name[:_NAME_CHARS], "sha256": ref.sha256} for ref in plan.stages],
        "precision": ex.precision,
        "tile": ["auto" if t is None else t for t in ex.tiles],
        "tile_overlap": ex.tile_overlap,
        "size": [plan.width, plan.height],
        "padding": plan.stage1.padding,
        "deinterlace": s.deinterlace,
        "deinterlaced": bool(plan.deinterlacing),
    }
    record.update(_shots(plan))
    record["strength"] = float(s.strength)
    return record


def _shots(plan: RunPlan) -> dict[str, Any]:
    """``auto`` or ``off``; for a file of cuts the file's SHA-256 (read when the plan was made), not its path."""
    shots = plan.shot_plan
    return {"shots": shots.mode} if shots.mode != "file" else {"shots": "file", "shots_sha256": shots.sha256}


def encode(record: dict[str, Any]) -> str:
    """The ``edvr`` tag's text: compact ASCII JSON."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    if len(text) > MAX_BYTES:  # cannot happen with the names shortened; never write what we would refuse
        raise ValueError(f"provenance of {len(text)} bytes is more than {MAX_BYTES}")
    return text


def tags(record: dict[str, Any]) -> dict[str, str]:
    """The output's tags: ``edvr`` (the JSON) and ``comment`` (one line for people and players)."""
    return {TAG: encode(record), "comment": f"restored with {summary(record)}"}


def run_tags(plan: RunPlan) -> dict[str, str] | None:
    """The tags the writers of ``plan`` write; None with ``--no-provenance``."""
    return tags(provenance(plan)) if plan.settings.provenance else None


# -- in words ------------------------------------------------------------------------------------------

def _text(value: Any, limit: int = _TEXT_CHARS) -> str:
    """A value read from a file as one bounded line (control characters shown escaped)."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _digest(value: Any, shown: int = 64) -> str:
    """``sha256 <hex>`` (shortened to ``shown`` digits), or ``sha256 unknown``."""
    if not isinstance(value, str) or not value:
        return "sha256 unknown"
    text = _text(value, 100)
    return f"sha256 {text[:shown]}..." if len(text) > shown else f"sha256 {text}"


def _models(record: dict[str, Any]) -> list[dict[str, Any]]:
    models = record.get("models")
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


def tile_words(record: dict[str, Any]) -> str:
    tiles = record.get("tile")
    tiles = tiles if isinstance(tiles, list) else [tiles]
    overlap = record.get("tile_overlap")

    def one(tile: Any) -> str:
        if tile == 0:
            return "whole frames"
        if tile == "auto" or tile is None:
            return "automatic"
        return f"{_text(tile)} px, {_text(overlap)} px overlap"

    words = [one(t) for t in tiles]
    if len(set(words)) <= 1:
        return words[0] if words else "-"
    return "; ".join(f"stage {i + 1}: {w}" for i, w in enumerate(words))


def _deinterlace_words(record: dict[str, Any]) -> str:
    applied = record.get("deinterlaced")
    done = "" if not isinstance(applied, bool) else " (applied)" if applied else " (not applied)"
    return f"{_text(record.get('deinterlace'))}{done}"


def _shots_words(record: dict[str, Any]) -> str:
    if record.get("shots") == "file":
        return f"file of cuts, {_digest(record.get('shots_sha256'))}"
    return _text(record.get("shots"))


def _size_words(record: dict[str, Any]) -> str:
    size = record.get("size")
    return f"{_text(size[0])}x{_text(size[1])}" if isinstance(size, list) and len(size) == 2 else _text(size)


def summary(record: dict[str, Any]) -> str:
    """One line: ``edvr 0.1.0 upscale, edvr-tiny (sha256 3c1f…), fp32, whole frames, 128x96, ...``."""
    models = ", ".join(f"{_text(m.get('name'), 60)} ({_digest(m.get('sha256'), 16)})" for m in _models(record))
    size_words = _size_words(record)
    return (f"edvr {_text(record.get('version'), 40)} {_text(record.get('task'), 20)}, {models}, "
            f"{_text(record.get('precision'), 10)}, tiles {tile_words(record)}, {size_words}, "
            f"padding {_text(record.get('padding'), 30)}, deinterlace {_deinterlace_words(record)}, "
            f"shots {_text(record.get('shots'), 20)}, "
            f"strength {_text(record.get('strength'), 20)}")


_KNOWN = ("version", "task", "models", "precision", "tile", "tile_overlap", "size", "padding", "deinterlace",
          "deinterlaced", "shots", "shots_sha256", "strength")


def describe(record: dict[str, Any]) -> list[str]:
    """The lines ``edvr info`` prints: the version, each model with its SHA-256, each setting."""
    lines = [f"edvr version: {_text(record.get('version'))}", f"task: {_text(record.get('task'))}"]
    for n, model in enumerate(_models(record)):
        label = "model" if n == 0 else "stage 2" if n == 1 else f"stage {n + 1}"
        lines.append(f"{label}: {_text(model.get('name'))}, {_digest(model.get('sha256'))}")
    size_words = _size_words(record)
    lines += [
        f"precision: {_text(record.get('precision'))}",
        f"tiles: {tile_words(record)}",
        f"output size: {size_words}",
        f"padding: {_text(record.get('padding'))}",
        f"deinterlace: {_deinterlace_words(record)}",
        f"shots: {_shots_words(record)}",
        f"strength: {_text(record.get('strength'))}",
    ]
    lines += [f"{_text(k, 40)}: {_text(v)}" for k, v in record.items() if k not in _KNOWN]
    return lines


def plan_line(plan: RunPlan) -> str:
    """``--dry-run``'s line: what the output will record, where; or ``provenance: off``."""
    if not plan.settings.provenance:
        return "provenance: off (--no-provenance)"
    where = _carrier(plan)
    if where is None:
        return "provenance: not recorded (standard output is YUV4MPEG2, which holds no tags)"
    if not where:
        return f"provenance: not recorded ({_format(plan)} keeps no tags of its own; mkv, mp4 and mov do)"
    return f"provenance: as {where}: {summary(provenance(plan))}"


def notes(settings: RestoreSettings, kind: OutputKind, fmt: str | None) -> list[str]:
    """The plan's note when an output asked to carry provenance cannot (a container without tags)."""
    from edvr_cli.video.paths import OutputKind
    from edvr_cli.video.writer import keeps_tags

    if not settings.provenance or kind is not OutputKind.FILE or fmt is None or keeps_tags(fmt):
        return []
    return [f"{fmt} output cannot carry the provenance tag '{TAG}' (at most a one-line comment): `edvr info` "
            "will not show the models and settings; mkv, mp4 and mov can (or pass --no-provenance)"]


def _format(plan: RunPlan) -> str:
    from edvr_cli.video.encoder import output_format

    return output_format(plan.dst)


def _carrier(plan: RunPlan) -> str | None:
    """Where the output keeps the tags ('' where it cannot; None for standard output)."""
    from edvr_cli.video.paths import OutputKind
    from edvr_cli.video.writer import keeps_tags

    if plan.kind is OutputKind.STDOUT:
        return None
    if plan.kind is OutputKind.FRAMES:
        return f"the PNG text chunk '{TAG}' of every frame"
    fmt = _format(plan)
    return f"the {fmt} container tag '{TAG}'" if keeps_tags(fmt) else ""


# -- reading it back -----------------------------------------------------------------------------------

def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance recorded in an output (a video, a folder of PNG frames, or one PNG); None when it
    has none.

    Raises:
        InputError: the file cannot be read as a video or image, or its tag is larger than
            :data:`MAX_BYTES`, nested deeper than :data:`MAX_DEPTH` or not a JSON object (one line).
    """
    p = Path(path)
    if p.is_dir():
        png = _first_png(p)
        return None if png is None else _parse(_png_tag(png), png)
    if p.suffix.lower() == ".png":
        return _parse(_png_tag(p), p)
    return _parse(_container_tag(p), p)


def _first_png(folder: Path) -> Path | None:
    from edvr_cli.video.paths import frame_file_name, list_images

    first = folder / frame_file_name(0)
    if first.is_file():
        return first
    return next((f for f in list_images(folder) if f.suffix.lower() == ".png"), None)


def _png_tag(path: Path) -> str | None:
    from edvr_cli.video.pngtext import NotPNG, TextTooLarge, read_text

    try:
        return read_text(path, TAG, MAX_BYTES)
    except NotPNG:  # another image under a .png name: nothing edvr wrote
        return None
    except TextTooLarge as exc:
        raise _too_large(path, exc.size) from None
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"cannot read '{path}' as a PNG image: {exc}") from None


def _container_tag(path: Path) -> str | None:
    from edvr_cli.video.probe import open_input

    with open_input(path) as container:
        for key, value in container.metadata.items():
            if key.lower() == TAG:
                return value
    return None


def _too_large(path: Path, size: int) -> InputError:
    return InputError(f"'{path}': its provenance tag holds {size} bytes, more than the {MAX_BYTES} edvr writes "
                      "at most; not read")


def _parse(text: str | None, path: Path) -> dict[str, Any] | None:
    from edvr_cli.guard.jsontext import loads

    if text is None:
        return None
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise _too_large(path, size)
    try:
        record = loads(text, max_depth=MAX_DEPTH)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"'{path}': its provenance tag is not valid: {_text(str(exc), 120)}") from None
    if not isinstance(record, dict):
        raise InputError(f"'{path}': its provenance tag is not a JSON object")
    return record
