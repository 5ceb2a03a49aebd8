"""Building blocks shared by the EDVR modules: residual blocks without batch norm."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlockNoBN(nn.Module):
    """Residual block without batch norm: ``x + conv2(relu(conv1(x)))``.

    Args:
        num_feat: channel number of the features. Default: 64.
    """

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) -> (n, c, h, w)."""
        return x + self.conv2(torch.relu(self.conv1(x)))


def make_layer(num_blocks: int, num_feat: int) -> nn.Sequential:
    """A stack of ``num_blocks`` residual blocks (keys ``N.conv1`` / ``N.conv2``)."""
    return nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_blocks)))


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.1), the activation used everywhere outside residual blocks."""
    return nn.functional.leaky_relu(x, 0.1)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling (align_corners=False), as both upstream codebases use."""
    return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
