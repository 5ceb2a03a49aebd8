"""PCD alignment: Pyramid, Cascading and Deformable convolution (EDVR, Wang et al. 2019)."""

from __future__ import annotations

import torch
from torch import nn

from edvr_cli.model.arch.blocks import lrelu, upsample2x
from edvr_cli.model.arch.dcn import DCNv2Pack


class PCDAlignment(nn.Module):
    """Align a neighbour's feature pyramid to the reference frame's, coarse to fine.

    Levels: l3 (1/4 size), l2 (1/2 size), l1 (full size), then one cascading deformable conv at l1.

    Args:
        num_feat: channel number of the features. Default: 64.
        deformable_groups: offset groups of the deformable convs. Default: 8.
    """

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8) -> None:
        super().__init__()
        self.offset_conv1 = nn.ModuleDict()
        self.offset_conv2 = nn.ModuleDict()
        self.offset_conv3 = nn.ModuleDict()
        self.dcn_pack = nn.ModuleDict()
        self.feat_conv = nn.ModuleDict()
        for i in (3, 2, 1):
            level = f"l{i}"
            self.offset_conv1[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
            if i == 3:
                self.offset_conv2[level] = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            else:
                self.offset_conv2[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
                self.offset_conv3[level] = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.dcn_pack[level] = DCNv2Pack(num_feat, num_feat, 3, padding=1, deformable_groups=deformable_groups)
            if i < 3:
                self.feat_conv[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.cas_offset_conv1 = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.cas_offset_conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.cas_dcnpack = DCNv2Pack(num_feat, num_feat, 3, padding=1, deformable_groups=deformable_groups)

    def forward(self, nbr: list[torch.Tensor], ref: list[torch.Tensor]) -> torch.Tensor:
        """Align ``nbr`` to ``ref``; both are [l1, l2, l3] lists of (n, c, h/2^k, w/2^k). Returns (n, c, h, w)."""
        # the coarser level's offset and features, upsampled: set at level 3, used at levels 2 and 1
        up_offset: torch.Tensor | None = None
        up_feat: torch.Tensor | None = None
        feat = nbr[0]
        for i in (3, 2, 1):
            level = f"l{i}"
            offset = lrelu(self.offset_conv1[level](torch.cat((nbr[i - 1], ref[i - 1]), dim=1)))
            if i == 3:
                offset = lrelu(self.offset_conv2[level](offset))
            else:
                assert up_offset is not None and up_feat is not None  # set by the coarser level
                offset = lrelu(self.offset_conv2[level](torch.cat((offset, up_offset), dim=1)))
                offset = lrelu(self.offset_conv3[level](offset))
            feat = self.dcn_pack[level](nbr[i - 1], offset)
            if up_feat is not None:
                feat = self.feat_conv[level](torch.cat((feat, up_feat), dim=1))
            if i > 1:
                feat = lrelu(feat)
                # x2: when we upsample the offset, we also enlarge its magnitude
                up_offset = upsample2x(offset) * 2
                up_feat = upsample2x(feat)
        offset = torch.cat((feat, ref[0]), dim=1)
        offset = lrelu(self.cas_offset_conv2(lrelu(self.cas_offset_conv1(offset))))
        return lrelu(self.cas_dcnpack(feat, offset))
