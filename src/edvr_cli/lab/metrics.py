"""PSNR and SSIM computed the way BasicSR reports them (so numbers compare with published tables).

Images are ``(H, W)`` or ``(H, W, C)`` arrays (numpy or torch) with values on the 0-255 scale, RGB
channel order. ``crop_border`` pixels are removed on each side first. With ``y_channel`` both images
become the Y of ITU-R BT.601 YCbCr in MATLAB's studio range (16-235), as ``rgb2ycbcr`` does. SSIM is
Wang et al.'s with an 11x11 gaussian window (sigma 1.5), valid region only, averaged over channels.

:func:`calculate_psnr` is the package's one PSNR: :func:`mean_psnr` averages it over frames and
:func:`psnr_tensor` applies it to network outputs in [0, 1] (quantised to 8 bits first, as the
restoration pipeline writes them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from edvr_cli.errors import UsageError

# MATLAB rgb2ycbcr, Y row, for RGB in [0, 1]: Y in [16, 235]
_Y_FROM_RGB = np.array([65.481, 128.553, 24.966])


def rgb2y(img: np.ndarray) -> np.ndarray:
    """Y channel (16-235 scale) of an RGB image given on the 0-255 scale; float64 ``(H, W)``."""
    return np.asarray(img, dtype=np.float64) / 255.0 @ _Y_FROM_RGB + 16.0


def _prepare(img, img2, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a = _as_float64(img)
    b = _as_float64(img2)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if crop_border and 2 * crop_border >= min(a.shape[0], a.shape[1]):
        raise UsageError(f"--crop-border {crop_border} would remove the whole {a.shape[1]}x{a.shape[0]} frame")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[2] == 3:
        a, b = rgb2y(a)[..., None], rgb2y(b)[..., None]
    return a, b


def _as_float64(img) -> np.ndarray:
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu().numpy()
    return np.asarray(img, dtype=np.float64)


def calculate_psnr(img, img2, crop_border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB between two 0-255 images (``inf`` when identical).

    Args:
        img, img2: ``(H, W)`` or ``(H, W, C)`` RGB images on the 0-255 scale.
        crop_border: pixels removed on each side before measuring.
        y_channel: measure on the BT.601 Y channel (16-235) instead of RGB.
    """
    a, b = _prepare(img, img2, crop_border, y_channel)
    return psnr_of_mse(float(np.mean((a - b) ** 2)))


def psnr_of_mse(mse: float, peak: float = 255.0) -> float:
    """PSNR in dB of a mean squared error of values whose peak is ``peak`` (``inf`` for 0)."""
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak**2 / mse)


def mean_psnr(preds: Iterable, gts: Iterable, crop_border: int = 0, y_channel: bool = False) -> float:
    """Mean over frames of :func:`calculate_psnr` (frames paired in order; 0-255 images)."""
    scores = [calculate_psnr(p, g, crop_border, y_channel) for p, g in zip(preds, gts, strict=True)]
    if not scores:
        raise ValueError("no frames to score")
    return float(np.mean(scores))


def psnr_tensor(pred: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> float:
    """:func:`calculate_psnr` of a network output against a target, both ``(3, H, W)`` in [0, 1].

    ``pred`` is quantised to 8 bits first (``round(clamp(x, 0, 1) * 255)``, as the pipeline writes
    frames); ``gt`` is taken as it is (on the 0-255 scale once multiplied by 255).
    """
    if pred.shape != gt.shape:
        raise ValueError(f"image shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    p = (pred.detach().float().clamp(0, 1) * 255).round()
    g = gt.detach().double() * 255
    if p.dim() == 3:
        p, g = p.permute(1, 2, 0), g.permute(1, 2, 0)
    return calculate_psnr(p, g, crop_border, y_channel)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """The normalised 1-D gaussian whose outer product is BasicSR's 11x11 SSIM window."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` float64 filtered by the separable window ``g x g``, valid region only
    (equal to the 2-D convolution up to float64 rounding, ~20x faster)."""
    k = len(g)
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    rows = g[0] * x[:h]
    for i in range(1, k):
        rows += g[i] * x[i : i + h]
    out = g[0] * rows[:, :w]
    for i in range(1, k):
        out += g[i] * rows[:, i : i + w]
    return out


def _ssim_channels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean SSIM per channel of ``(H, W, C)`` float64 arrays (0-255), gaussian window, valid region."""
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    g = _gaussian_1d()
    mu1, mu2 = _filter_valid(a, g), _filter_valid(b, g)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(a * a, g) - mu1_sq
    sigma2_sq = _filter_valid(b * b, g) - mu2_sq
    sigma12 = _filter_valid(a * b, g) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean(axis=(0, 1))


def calculate_ssim(img, img2, crop_border: int = 0, y_channel: bool = False) -> float:
    """SSIM between two 0-255 images: BasicSR's gaussian-window SSIM, averaged over channels.

    Args:
        img, img2: ``(H, W)`` or ``(H, W, C)`` RGB images on the 0-255 scale (at least 11x11 after cropping).
        crop_border: pixels removed on each side before measuring.
        y_channel: measure on the BT.601 Y channel (16-235) instead of RGB.
    """
    a, b = _prepare(img, img2, crop_border, y_channel)
    if a.shape[0] < 11 or a.shape[1] < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(_ssim_channels(a, b).mean())
