"""Option and argument parsers shared by the commands: every value is checked when it is parsed."""

from __future__ import annotations

import math
import re
from pathlib import Path

import click

from edvr_cli.engine.names import MIN_TILE

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def path_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """A path argument: an empty string is refused (it is not the current folder)."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("the path is empty")
    if "\x00" in value:
        raise click.BadParameter("the path contains a NUL character")
    path = Path(value)
    return path.resolve() if value != "-" and not path.name else path  # '.', '..': the folder, by its name


def device_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (whether it exists is checked when the model loads)."""
    if not _DEVICE.match(value):
        raise click.BadParameter(f"{value!r} is not auto, cpu, cuda, cuda:N or mps")
    return value


def finite_float(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A float that is a real number (not nan or inf) and positive."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise click.BadParameter(f"{value} is not a positive finite number")
    return value


def tile_option(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    """``auto`` (None), 0 (whole frames), or a tile edge in input pixels of at least :data:`MIN_TILE`."""
    if value == "auto":
        return None
    try:
        tile = int(value)
    except ValueError:
        raise click.BadParameter("must be 'auto' or a whole number of pixels (0 = whole frame)") from None
    if tile < 0:
        raise click.BadParameter("must not be negative")
    if 0 < tile < MIN_TILE:
        raise click.BadParameter(f"{tile} is below a useful tile size; use at least {MIN_TILE} (or 0 or auto)")
    return tile


def size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``WxH`` (one side may be -1 to keep the aspect)."""
    from edvr_cli.engine.resize import parse_size

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Seconds or ``HH:MM:SS.mmm`` (as ffmpeg's -ss / -to), checked now, kept as typed."""
    from edvr_cli.video.span import parse_time

    if value is None:
        return None
    try:
        parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def devices_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of devices (``cuda:0,cuda:1``), one per worker."""
    if value is None:
        return None
    devices = tuple(d.strip() for d in value.split(",") if d.strip())
    if not devices:
        raise click.BadParameter("no device given")
    for d in devices:
        device_option(ctx, param, d)
    return devices


def cluster_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``local``, ``auto`` or a Ray client address ``ray://HOST:PORT``."""
    if value is None:
        return None
    if value in ("local", "auto") or re.match(r"^ray://[^\s/:]+(:\d+)?$", value):
        return value
    raise click.BadParameter(f"{value!r} is not local, auto or ray://HOST:PORT")


def not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A value that, when given, is not empty (``--model ''`` is a mistake, not the default model)."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty")
    return value


def shots_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``auto``, ``off``, or a file of cut times (read when the run is planned)."""
    from edvr_cli.video.shots import SHOT_MODES

    if value in SHOT_MODES:
        return value
    if not value.strip() or "\x00" in value:
        raise click.BadParameter("must be auto, off or the path of a file of cut times")
    return value
