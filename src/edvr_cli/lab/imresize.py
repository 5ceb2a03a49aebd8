"""MATLAB-style bicubic ``imresize`` (with antialiasing), as SR benchmarks make their low-res inputs.

The kernel, sample positions, weight normalisation and symmetric edge handling are those of MATLAB's
``imresize(img, scale, 'bicubic')`` and of BasicSR's ``matlab_functions.imresize``. Each axis is a
dense ``(out, in)`` resampling matrix (edges folded in), so a resize is two matrix products: vectorised,
differentiable, on any device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic'), support (-2, 2)."""
    ax = x.abs()
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return inner + outer


def resize_matrix(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """The ``(out_length, in_length)`` float64 matrix that resamples one axis like MATLAB's imresize.

    Args:
        in_length: input size along the axis.
        out_length: output size along the axis.
        scale: the scale factor MATLAB uses for this axis (``out / in`` when a size is given).
        antialiasing: when shrinking, stretch the kernel by ``1 / scale`` (a low-pass filter), as MATLAB does.
    """
    kernel_width = 4.0
    stretch = scale < 1 and antialiasing
    if stretch:
        kernel_width /= scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    # input-space position (1-based) of each output sample's centre
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(distance * scale) if stretch else cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # symmetric padding (the edge sample repeated: -1 -> 0, n -> n-1), folded into the matrix
    idx = (indices.long() - 1) % (2 * in_length)
    idx = torch.where(idx >= in_length, 2 * in_length - 1 - idx, idx)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, idx, weights)
    return matrix


def output_size(in_size: tuple[int, int], scale: float | None, size: Sequence[int] | None) -> tuple[int, int]:
    """Output ``(h, w)``: ``ceil(in * scale)`` as MATLAB does, or the given ``size``."""
    if size is not None:
        return int(size[0]), int(size[1])
    if scale is None or scale <= 0:
        raise ValueError("imresize needs a positive scale or an output size")
    return math.ceil(in_size[0] * scale), math.ceil(in_size[1] * scale)


def imresize(img, scale: float | None = None, size: Sequence[int] | None = None, antialiasing: bool = True):
    """Resize like MATLAB's ``imresize(img, scale, 'bicubic')``.

    Args:
        img: a torch tensor ``(..., H, W)`` (any leading dims, e.g. ``(b, t, c, h, w)``), or a numpy array
            ``(H, W)`` / ``(H, W, C)``. Values are not clipped or rounded (uint8 input comes back float).
        scale: scale factor, e.g. ``0.25`` for x4 down; the output is ``ceil(in * scale)``.
        size: ``(out_h, out_w)`` instead of ``scale``; each axis then uses its own factor.
        antialiasing: low-pass when shrinking (MATLAB's default).

    Returns:
        The resized image, same kind and layout as ``img`` (float32 for numpy input, the input's
        floating dtype for tensors).
    """
    if isinstance(img, np.ndarray):
        arr = np.asarray(img, dtype=np.float32)
        chw = torch.from_numpy(arr[..., None] if arr.ndim == 2 else arr).permute(2, 0, 1)
        out = imresize(chw, scale, size, antialiasing).permute(1, 2, 0).numpy()
        return out[..., 0] if arr.ndim == 2 else out
    x = img if img.is_floating_point() else img.float()
    in_h, in_w = x.shape[-2:]
    out_h, out_w = output_size((in_h, in_w), scale, size)
    scale_h = scale if size is None and scale is not None else out_h / in_h
    scale_w = scale if size is None and scale is not None else out_w / in_w
    mh = resize_matrix(in_h, out_h, scale_h, antialiasing).to(device=x.device, dtype=x.dtype)
    mw = resize_matrix(in_w, out_w, scale_w, antialiasing).to(device=x.device, dtype=x.dtype)
    return mh @ x @ mw.transpose(0, 1)
