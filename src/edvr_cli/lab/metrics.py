"""PSNR and SSIM computed the way BasicSR reports them (so numbers compare with published tables).

Images are ``(H, W)`` or ``(H, W, C)`` arrays (numpy or torch) with values on the 0-255 scale, RGB
channel order. ``crop_border`` pixels are removed on each side first. With ``y_channel`` both images
become the Y of ITU-R BT.601 YCbCr in MATLAB's studio range (16-235), as ``rgb2ycbcr`` does. SSIM is
Wang et al.'s with an 11x11 gaussian window (sigma 1.5), valid region only, averaged over channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# MATLAB rgb2ycbcr, Y row, for RGB in [0, 1]: Y in [16, 235]
_Y_FROM_RGB = np.array([65.481, 128.553, 24.966])


def rgb2y(img: np.ndarray) -> np.ndarray:
    """Y channel (16-235 scale) of an RGB image given on the 0-255 scale; float64 ``(H, W)``."""
    return np.asarray(img, dtype=np.float64) / 255.0 @ _Y_FROM_RGB + 16.0


def bgr2y(img: np.ndarray) -> np.ndarray:
    """Y channel (16-235 scale) of a BGR image (OpenCV order) given on the 0-255 scale."""
    return rgb2y(np.asarray(img)[..., ::-1])


def _prepare(img, img2, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a = _as_float64(img)
    b = _as_float64(img2)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
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
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _ssim_channels(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per channel of ``(C, H, W)`` float64 tensors (0-255), gaussian window, valid region."""
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    channels = a.shape[0]
    window = _gaussian_window().expand(channels, 1, 11, 11).contiguous()

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x[None], window, groups=channels)[0]

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filt(a * a) - mu1_sq
    sigma2_sq = filt(b * b) - mu2_sq
    sigma12 = filt(a * b) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean(dim=(1, 2))


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
    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))
    return float(_ssim_channels(ta, tb).mean())
