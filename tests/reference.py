"""The plain sliding-window loop of the upstream test scripts: one full forward per centre frame.

It is the yardstick the streaming pipeline is tested and benchmarked against.
"""

from __future__ import annotations

import torch

from edvr_cli.model.arch import EDVR
from edvr_cli.model.padding import window_indices


@torch.no_grad()
def restore_clip_plain(frames: torch.Tensor, model: EDVR, padding: str = "reflection_circle") -> torch.Tensor:
    """(n, 3, H, W) float frames in [0, 1] -> (n, 3, s*H, s*W) network outputs (not clamped).

    H and W must already be multiples of ``model.multiple_of``.
    """
    n = frames.shape[0]
    out = []
    for c in range(n):
        idx = window_indices(c, n, model.num_frame, padding)
        out.append(model(frames[idx].unsqueeze(0))[0])
    return torch.stack(out)


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Upstream quantisation: clamp to [0, 1], ``round(x * 255)``, uint8."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


@torch.no_grad()
def restore_frames_plain(frames: torch.Tensor, model: EDVR, padding: str = "reflection_circle") -> torch.Tensor:
    """The upstream recipe end to end on any frame size: pad to the model's multiple (replicate),
    the plain loop, crop to ``scale`` x input, quantise. (n, 3, H, W) -> (n, s*H, s*W, 3) uint8."""
    n, _, h, w = frames.shape
    m, s = model.multiple_of, model.scale
    hp, wp = -(-h // m) * m, -(-w // m) * m
    padded = torch.nn.functional.pad(frames, (0, wp - w, 0, hp - h), mode="replicate")
    out = restore_clip_plain(padded, model, padding)[:, :, : h * s, : w * s]
    return quantize8(out).permute(0, 2, 3, 1)
