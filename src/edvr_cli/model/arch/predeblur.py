"""Pre-deblur module: a small residual pyramid that cleans blurred frames before feature extraction."""

from __future__ import annotations

import torch
from torch import nn

from edvr_cli.model.arch.blocks import ResidualBlockNoBN, lrelu, upsample2x


class PredeblurModule(nn.Module):
    """Residual pyramid over 3 levels; with high-resolution input, two stride-2 convs first bring it to 1/4 size.

    Args:
        num_in_ch: channels of the input image. Default: 3.
        num_feat: channel number of the features. Default: 64.
        hr_in: whether the input is at output resolution (deblur models). Default: False.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, hr_in: bool = False) -> None:
        super().__init__()
        self.hr_in = hr_in
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        if hr_in:
            self.stride_conv_hr1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
            self.stride_conv_hr2 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.stride_conv_l2 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.stride_conv_l3 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.resblock_l3 = ResidualBlockNoBN(num_feat)
        self.resblock_l2_1 = ResidualBlockNoBN(num_feat)
        self.resblock_l2_2 = ResidualBlockNoBN(num_feat)
        self.resblock_l1 = nn.ModuleList(ResidualBlockNoBN(num_feat) for _ in range(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) -> (n, c, h, w), or (n, c, h/4, w/4) with ``hr_in``."""
        feat_l1 = lrelu(self.conv_first(x))
        if self.hr_in:
            feat_l1 = lrelu(self.stride_conv_hr1(feat_l1))
            feat_l1 = lrelu(self.stride_conv_hr2(feat_l1))
        feat_l2 = lrelu(self.stride_conv_l2(feat_l1))
        feat_l3 = lrelu(self.stride_conv_l3(feat_l2))

        feat_l3 = upsample2x(self.resblock_l3(feat_l3))
        feat_l2 = upsample2x(self.resblock_l2_2(self.resblock_l2_1(feat_l2) + feat_l3))
        feat_l1 = self.resblock_l1[1](self.resblock_l1[0](feat_l1)) + feat_l2
        for block in self.resblock_l1[2:]:
            feat_l1 = block(feat_l1)
        return feat_l1
