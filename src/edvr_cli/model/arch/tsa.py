"""TSA fusion: temporal and spatial attention over aligned frame features (EDVR)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edvr_cli.model.arch.blocks import lrelu, upsample2x


class TSAFusion(nn.Module):
    """Fuse aligned features with temporal attention (per-pixel similarity to the reference frame)
    and spatial attention (a small max/avg pooling pyramid giving a multiplicative and an additive map).

    Args:
        num_feat: channel number of the features. Default: 64.
        num_frame: frames in a window. Default: 5.
        center_frame_idx: index of the reference frame in the window. Default: 2.
    """

    def __init__(self, num_feat: int = 64, num_frame: int = 5, center_frame_idx: int = 2) -> None:
        super().__init__()
        self.center_frame_idx = center_frame_idx
        self.temporal_attn1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.temporal_attn2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.feat_fusion = nn.Conv2d(num_frame * num_feat, num_feat, 1, 1)
        self.spatial_attn1 = nn.Conv2d(num_frame * num_feat, num_feat, 1)
        self.spatial_attn2 = nn.Conv2d(num_feat * 2, num_feat, 1)
        self.spatial_attn3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.spatial_attn4 = nn.Conv2d(num_feat, num_feat, 1)
        self.spatial_attn5 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.spatial_attn_l1 = nn.Conv2d(num_feat, num_feat, 1)
        self.spatial_attn_l2 = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.spatial_attn_l3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.spatial_attn_add1 = nn.Conv2d(num_feat, num_feat, 1)
        self.spatial_attn_add2 = nn.Conv2d(num_feat, num_feat, 1)

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        return torch.cat((F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)), dim=1)

    def forward(self, aligned: torch.Tensor) -> torch.Tensor:
        """(b, t, c, h, w) aligned features -> (b, c, h, w) fused features."""
        b, t, c, h, w = aligned.shape
        embedding_ref = self.temporal_attn1(aligned[:, self.center_frame_idx])
        embedding = self.temporal_attn2(aligned.reshape(b * t, c, h, w)).reshape(b, t, -1, h, w)
        corr = torch.sigmoid((embedding * embedding_ref.unsqueeze(1)).sum(dim=2, keepdim=True))  # (b, t, 1, h, w)
        aligned = (aligned * corr).reshape(b, t * c, h, w)

        feat = lrelu(self.feat_fusion(aligned))

        attn = lrelu(self.spatial_attn1(aligned))
        attn = lrelu(self.spatial_attn2(self._pool(attn)))
        attn_level = lrelu(self.spatial_attn_l1(attn))
        attn_level = lrelu(self.spatial_attn_l2(self._pool(attn_level)))
        attn_level = upsample2x(lrelu(self.spatial_attn_l3(attn_level)))
        attn = lrelu(self.spatial_attn3(attn)) + attn_level
        attn = upsample2x(lrelu(self.spatial_attn4(attn)))
        attn = self.spatial_attn5(attn)
        attn_add = self.spatial_attn_add2(lrelu(self.spatial_attn_add1(attn)))
        # after initialisation, attn * 2 is close to 1
        return feat * torch.sigmoid(attn) * 2 + attn_add
