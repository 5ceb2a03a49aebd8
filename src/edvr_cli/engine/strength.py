"""``--strength``: the restored frames blended with a plain upscale of the input, in linear light.

The baseline is the bicubic upscale of the input frame to the model's output size (torch's bicubic,
a = -0.75, edges replicated; the frame itself for x1 models). Both are decoded from the sRGB / BT.709
transfer curve (the sRGB formula: the display curve the output is viewed with), mixed as
``strength * restored + (1 - strength) * baseline``, and encoded back. Strength 0 returns the baseline
unchanged and 1 the restored frames unchanged (no round trip through the curve).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bicubic_upscale(frames: torch.Tensor, scale: int) -> torch.Tensor:
    """(b, 3, H, W) -> (b, 3, scale*H, scale*W) by bicubic interpolation (the x1 frames themselves)."""
    if scale == 1:
        return frames
    return F.interpolate(frames, scale_factor=scale, mode="bicubic", align_corners=False)


def to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values in [0, 1] to linear light."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def from_linear(x: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] to sRGB-encoded values."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def blend(restored: torch.Tensor, baseline: torch.Tensor, strength: float) -> torch.Tensor:
    """``strength`` of ``restored`` over ``baseline`` (same shapes), mixed in linear light."""
    if strength >= 1.0:
        return restored
    if strength <= 0.0:
        return baseline.to(restored.dtype)
    mixed = strength * to_linear(restored.float()) + (1.0 - strength) * to_linear(baseline.float())
    return from_linear(mixed).to(restored.dtype)
