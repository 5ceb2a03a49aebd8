"""The report's per-frame measures on float RGB frames ``(H, W, 3)`` in [0, 1]: resampling, PSNR,
block PSNR (where a frame is worst), detail and frame-difference energy.

Every function is pure numpy (float32 arithmetic, float64 sums) and works on one frame or one pair of
frames, so the report streams. :class:`Resampler` is MATLAB's bicubic ``imresize`` of
:mod:`edvr_cli.lab.imresize` (the very same matrices), cached per size so a long video builds them once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A PSNR of identical images is infinite; the report counts it as this many dB (finite JSON, finite means).
PSNR_CAP = 100.0
#: Frame-difference energies below this (half an 8-bit step, squared) count as "no change": the flicker
#: ratio of two still frames is then about 1, not 0/0.
ENERGY_FLOOR = (0.5 / 255.0) ** 2

# BT.709 luma weights: the detail measure looks at brightness, as people see sharpness
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _banded(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A resize matrix ``(out, in)`` as its few taps per output: source indices and weights ``(taps, out)``
    (bicubic touches 4 inputs per output, more when shrinking; rows with fewer taps get zero weights)."""
    nz = m != 0
    first = np.where(nz.any(axis=1), nz.argmax(axis=1), 0)
    last = np.where(nz.any(axis=1), m.shape[1] - 1 - nz[:, ::-1].argmax(axis=1), 0)
    taps = max(1, int((last - first).max()) + 1)  # the span of each row (a tap inside it may weigh 0)
    idx = np.minimum(first[None, :] + np.arange(taps)[:, None], m.shape[1] - 1)
    w = np.take_along_axis(m, idx.T, axis=1).T.astype(np.float32)
    w[first[None, :] + np.arange(taps)[:, None] > m.shape[1] - 1] = 0.0
    return idx, w


class Resampler:
    """MATLAB-bicubic resize of ``(H, W, 3)`` frames from one size to another (antialiased when shrinking).

    The axis weights are those of :func:`edvr_cli.lab.imresize.resize_matrix`, built once and kept as
    their few taps per output pixel (the matrices are banded), so a resize costs a few multiply-adds per
    output value. Results are clipped to [0, 1] (frames are images).

    Args:
        in_hw: input ``(height, width)``.
        out_hw: output ``(height, width)``.
    """

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        from edvr_cli.lab.imresize import resize_matrix

        self.in_hw, self.out_hw = in_hw, out_hw
        self._rows = _banded(resize_matrix(in_hw[0], out_hw[0], out_hw[0] / in_hw[0]).numpy())
        self._cols = _banded(resize_matrix(in_hw[1], out_hw[1], out_hw[1] / in_hw[1]).numpy())

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if img.shape[:2] != self.in_hw:
            raise ValueError(f"expected a {self.in_hw[1]}x{self.in_hw[0]} frame, got {img.shape[1]}x{img.shape[0]}")
        x = np.asarray(img, dtype=np.float32)
        idx, w = self._rows
        rows = np.zeros((self.out_hw[0], x.shape[1], 3), dtype=np.float32)
        for k in range(idx.shape[0]):
            rows += w[k][:, None, None] * x[idx[k]]
        idx, w = self._cols
        out = np.zeros((self.out_hw[0], self.out_hw[1], 3), dtype=np.float32)
        for k in range(idx.shape[0]):
            out += w[k][None, :, None] * rows[:, idx[k]]
        return np.clip(out, 0.0, 1.0)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of two same-shaped images (values in [0, 1]), as float64."""
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    d = (np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).ravel()
    return float(np.einsum("i,i->", d, d, dtype=np.float64)) / d.size


def psnr_of_mse(value: float) -> float:
    """PSNR in dB of a mean squared error on the [0, 1] scale (:func:`edvr_cli.lab.metrics.psnr_of_mse`
    with peak 1), capped at :data:`PSNR_CAP` (identical images)."""
    from edvr_cli.lab.metrics import psnr_of_mse as lab_psnr

    return min(PSNR_CAP, lab_psnr(value, peak=1.0))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two RGB images in [0, 1] over all channels (the same number as
    :func:`edvr_cli.lab.metrics.calculate_psnr` on the 0-255 scale), capped at :data:`PSNR_CAP`."""
    return psnr_of_mse(mse(a, b))


@dataclass(frozen=True)
class Block:
    """The worst block of a frame: top-left ``(x, y)`` and edge ``size`` on the compared grid, its PSNR."""

    x: int
    y: int
    size: int
    psnr: float


def block_edge(height: int, width: int) -> int:
    """Edge of the square blocks :func:`worst_block` scores: a third of the smaller side, 8 to 32 pixels
    (never more than the frame)."""
    return max(1, min(32, max(8, min(height, width) // 3), height, width))


def _starts(length: int, size: int) -> np.ndarray:
    """Block starts covering ``length``: a grid of step ``size``, the last block flush with the edge."""
    starts = list(range(0, length - size + 1, size))
    if starts[-1] != length - size:
        starts.append(length - size)
    return np.array(starts)


def block_mse(a: np.ndarray, b: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean squared difference of every ``size x size`` block of two images (grid of step ``size``, last
    row and column of blocks flush with the edges): ``(mse (rows, cols), row starts, column starts)``."""
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    d = np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)
    err = (d * d).sum(axis=-1, dtype=np.float64) if d.ndim == 3 else (d * d).astype(np.float64)
    h, w = err.shape
    integral = np.zeros((h + 1, w + 1), dtype=np.float64)
    integral[1:, 1:] = err.cumsum(0).cumsum(1)
    ys, xs = _starts(h, size), _starts(w, size)
    y0, x0 = ys[:, None], xs[None, :]
    sums = (integral[y0 + size, x0 + size] - integral[y0, x0 + size] - integral[y0 + size, x0]
            + integral[y0, x0])
    channels = d.shape[-1] if d.ndim == 3 else 1
    return sums / (size * size * channels), ys, xs


def worst_block(a: np.ndarray, b: np.ndarray, size: int) -> Block:
    """The block where two images differ most (lowest local PSNR)."""
    values, ys, xs = block_mse(a, b, size)
    r, c = np.unravel_index(int(np.argmax(values)), values.shape)
    return Block(int(xs[c]), int(ys[r]), size, psnr_of_mse(float(values[r, c])))


def luma(img: np.ndarray) -> np.ndarray:
    """BT.709 luma ``(H, W)`` float32 of an RGB image in [0, 1]."""
    return np.asarray(img, dtype=np.float32) @ _LUMA


def detail(img: np.ndarray) -> float:
    """Mean absolute luma gradient (horizontal plus vertical neighbour differences), per pixel: how much
    fine detail (or noise) an image holds. 0 for a flat image."""
    y = luma(img)
    gx = np.abs(np.diff(y, axis=1)).sum(dtype=np.float64) if y.shape[1] > 1 else 0.0
    gy = np.abs(np.diff(y, axis=0)).sum(dtype=np.float64) if y.shape[0] > 1 else 0.0
    return float(gx + gy) / y.size


def diff_energy(prev: np.ndarray, cur: np.ndarray) -> float:
    """Frame-difference energy: the mean squared difference of two consecutive frames (no motion
    compensation)."""
    return mse(prev, cur)


def energy_ratio(out_energy: float, ref_energy: float, pairs: int = 1) -> float:
    """``(out + pairs * floor) / (ref + pairs * floor)``: how much more a clip changes from frame to frame
    than its reference (1.0 = as much), with :data:`ENERGY_FLOOR` per frame pair so still frames compare
    as 1 rather than 0/0. ``out_energy`` and ``ref_energy`` are sums over ``pairs`` frame pairs."""
    floor = pairs * ENERGY_FLOOR
    return (out_energy + floor) / (ref_energy + floor)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, None when the denominator is 0."""
    return numerator / denominator if denominator > 0 else None
