"""Output size: --size / --scale planned as pure arithmetic, and the resampling on the model's device."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

_SIZE = re.compile(r"^\s*(-1|\d+)\s*[xX:]\s*(-1|\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``'1920x1080'``, ``'1920x-1'`` or ``'-1x1080'`` -> (width, height); -1 keeps the aspect.

    Raises:
        ValueError: not ``WxH``, both sides -1, or a side that is 0.
    """
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT (e.g. 1920x1080, or 1920x-1 to keep the aspect)")
    w, h = int(m.group(1)), int(m.group(2))
    if w == -1 and h == -1:
        raise ValueError("only one side may be -1")
    if w == 0 or h == 0:
        raise ValueError(f"{text!r} has a side of 0 pixels")
    return w, h


def _align(value: Fraction, align: int) -> int:
    """Nearest multiple of ``align`` (at least ``align``)."""
    return max(align, int(round(value / align)) * align)


def size_alignment(chroma: str, pix_fmt: str | None = None) -> int:
    """Pixels a side must be a multiple of: 2 for subsampled chroma (4:2:0, 4:2:2), else 1."""
    if pix_fmt:
        from edvr_cli.video.formats import describe_pix_fmt

        fmt = describe_pix_fmt(pix_fmt)
        return 2 if max(fmt.sub_x, fmt.sub_y) > 1 else 1
    return 2 if chroma in ("420", "422", "411", "440") else 1


def plan_output_size(width: int, height: int, model_scale: int, *, size: tuple[int, int] | None = None,
                     scale: float | None = None, align: int = 1, max_scale: int | None = None) -> tuple[int, int]:
    """The (width, height) of the written frames for input frames of ``width`` x ``height``.

    Args:
        width, height: input frame size.
        model_scale: the model's own scale (4 for SR, 1 for deblurring).
        size: ``--size`` (W, H), one side may be -1 (kept in proportion and rounded to ``align``).
        scale: ``--scale`` S with 0 < S <= the model's scale (``max_scale``): output = S x input, rounded
            to ``align``.
        align: the pixel format's alignment (2 for 4:2:0 and 4:2:2 chroma, else 1).

    Raises:
        ValueError: both ``size`` and ``scale``, or a scale outside (0, model scale].
    """
    if size is not None and scale is not None:
        raise ValueError("give --size or --scale, not both")
    if scale is not None:
        limit = max_scale or model_scale
        if not 0 < scale <= limit:
            raise ValueError(f"--scale {scale:g} is outside (0, {limit}] for a x{model_scale} model")
        s = Fraction(scale).limit_denominator(1000)
        return _at_least(_align(width * s, align), _align(height * s, align), f"--scale {scale:g}")
    if size is None:
        return width * model_scale, height * model_scale
    w, h = size
    if w == -1:
        w = _align(Fraction(h * width, height), align)
    elif h == -1:
        h = _align(Fraction(w * height, width), align)
    if w % align or h % align:
        raise ValueError(f"--size {w}x{h} must be a multiple of {align} on each side for this pixel format")
    return _at_least(w, h, f"--size {w}x{h}")


#: The smallest output side --size and --scale may ask for (smaller frames are no restoration anyone uses).
MIN_OUTPUT_SIDE = 16


def _at_least(w: int, h: int, asked: str) -> tuple[int, int]:
    """The one rule for how small an asked output may be, for --size and --scale alike."""
    if min(w, h) < MIN_OUTPUT_SIDE:
        raise ValueError(f"{asked} makes {w}x{h} frames; the output needs at least {MIN_OUTPUT_SIDE} pixels a side")
    return w, h


def resample(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample ``(b, 3, h, w)`` float frames to ``size`` (height, width) on their device.

    Bicubic with antialiasing (a widened kernel when shrinking, as Pillow and MATLAB's imresize do),
    in float32 whatever the autocast precision.
    """
    from torch.nn import functional as F

    return F.interpolate(frames.float(), size=size, mode="bicubic", align_corners=False, antialias=True)
