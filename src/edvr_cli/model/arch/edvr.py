"""The full EDVR network and its configuration (every published variant)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from edvr_cli.model.arch.blocks import lrelu, make_layer
from edvr_cli.model.arch.pcd import PCDAlignment
from edvr_cli.model.arch.predeblur import PredeblurModule
from edvr_cli.model.arch.tsa import TSAFusion


@dataclass(frozen=True)
class EDVRConfig:
    """Hyper-parameters of an EDVR network; every one can be read off a checkpoint's tensors.

    Args:
        num_feat: channels of the features (64 for M, 128 for L).
        num_frame: frames in a window (odd; 5 for REDS models, 7 for Vimeo-90K).
        deformable_groups: offset groups of the deformable convs.
        num_extract_block: residual blocks of feature extraction.
        num_reconstruct_block: residual blocks of reconstruction.
        with_tsa: TSA fusion (else a 1x1 conv fuses the aligned frames).
        with_predeblur: pre-deblur module before feature extraction (SRblur, deblur, deblurcomp).
        hr_in: input at output resolution, brought to 1/4 size by stride-2 convs (deblur models, Stage 2).
        center_frame_idx: reference frame in the window; None means the middle.
    """

    num_feat: int = 64
    num_frame: int = 5
    deformable_groups: int = 8
    num_extract_block: int = 5
    num_reconstruct_block: int = 10
    with_tsa: bool = True
    with_predeblur: bool = False
    hr_in: bool = False
    center_frame_idx: int | None = None

    def __post_init__(self) -> None:
        if self.num_frame < 1 or self.num_frame % 2 == 0:
            raise ValueError(f"num_frame must be odd and positive, got {self.num_frame}")
        if self.num_feat % self.deformable_groups:
            raise ValueError("num_feat must be a multiple of deformable_groups")
        if self.center_frame_idx is not None and not 0 <= self.center_frame_idx < self.num_frame:
            raise ValueError("center_frame_idx must index a frame of the window")

    @property
    def center(self) -> int:
        """Index of the reference frame in the window."""
        return self.num_frame // 2 if self.center_frame_idx is None else self.center_frame_idx

    @property
    def scale(self) -> int:
        """Output size / input size: 4 for SR, 1 with high-resolution input."""
        return 1 if self.hr_in else 4

    @property
    def multiple_of(self) -> int:
        """Input height and width must be multiples of this (the network downsamples internally)."""
        return 16 if self.hr_in else 4

    @property
    def stage2_form(self) -> bool:
        """High-resolution input without pre-deblur: the original repository's Stage-2 models."""
        return self.hr_in and not self.with_predeblur

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EDVRConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown EDVR config fields: {sorted(unknown)}")
        return cls(**d)


class EDVR(nn.Module):
    """EDVR: feature extraction -> PCD alignment -> TSA fusion -> reconstruction -> upsampling.

    The output is a residual added to the bilinear x4 upsampling of the centre frame (SR), or to the
    centre frame itself (``hr_in``). Forward is split in two so that a sliding window can extract each
    frame's features once (:meth:`extract_features`) and reuse them (:meth:`fuse_and_reconstruct`).

    Args:
        config: the network's hyper-parameters.
    """

    def __init__(self, config: EDVRConfig | None = None, **kwargs) -> None:
        super().__init__()
        config = config if config is not None else EDVRConfig(**kwargs)
        self.config = config
        nf = config.num_feat
        if config.with_predeblur:
            self.predeblur = PredeblurModule(num_feat=nf, hr_in=config.hr_in)
            self.conv_1x1 = nn.Conv2d(nf, nf, 1, 1)
        elif config.hr_in:
            self.conv_first_1 = nn.Conv2d(3, nf, 3, 1, 1)
            self.conv_first_2 = nn.Conv2d(nf, nf, 3, 2, 1)
            self.conv_first_3 = nn.Conv2d(nf, nf, 3, 2, 1)
        else:
            self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.feature_extraction = make_layer(config.num_extract_block, nf)
        self.conv_l2_1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.conv_l2_2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_l3_1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.conv_l3_2 = nn.Conv2d(nf, nf, 3, 1, 1)

        self.pcd_align = PCDAlignment(nf, config.deformable_groups)
        if config.with_tsa:
            self.fusion: nn.Module = TSAFusion(nf, config.num_frame, config.center)
        else:
            self.fusion = nn.Conv2d(config.num_frame * nf, nf, 1, 1)

        self.reconstruction = make_layer(config.num_reconstruct_block, nf)
        self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, 64 * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    # what callers need to know, without parsing anything
    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def num_frame(self) -> int:
        return self.config.num_frame

    @property
    def center_frame_idx(self) -> int:
        return self.config.center

    @property
    def multiple_of(self) -> int:
        return self.config.multiple_of

    def check_input_size(self, h: int, w: int) -> None:
        """Raise ValueError unless h and w are multiples of :attr:`multiple_of`."""
        m = self.multiple_of
        if h % m or w % m:
            raise ValueError(f"input height and width must be multiples of {m}, got {h}x{w} (pad, run, crop)")

    def extract_features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-frame feature pyramid: (n, 3, H, W) frames -> l1 (n, c, h, w), l2 (.., h/2, w/2), l3 (.., h/4, w/4).

        h, w = H, W for SR and H/4, W/4 with ``hr_in``.
        """
        self.check_input_size(*frames.shape[-2:])
        if self.config.with_predeblur:
            feat_l1 = self.conv_1x1(self.predeblur(frames))
        elif self.config.hr_in:
            feat_l1 = lrelu(self.conv_first_1(frames))
            feat_l1 = lrelu(self.conv_first_2(feat_l1))
            feat_l1 = lrelu(self.conv_first_3(feat_l1))
        else:
            feat_l1 = lrelu(self.conv_first(frames))
        feat_l1 = self.feature_extraction(feat_l1)
        feat_l2 = lrelu(self.conv_l2_2(lrelu(self.conv_l2_1(feat_l1))))
        feat_l3 = lrelu(self.conv_l3_2(lrelu(self.conv_l3_1(feat_l2))))
        return feat_l1, feat_l2, feat_l3

    def fuse_and_reconstruct(
        self, feats: tuple[torch.Tensor, torch.Tensor, torch.Tensor], x_center: torch.Tensor
    ) -> torch.Tensor:
        """Align, fuse and reconstruct one window.

        Args:
            feats: l1/l2/l3 features of the window's frames, each (b, t, c, h', w').
            x_center: the centre input frame (b, 3, H, W).

        Returns:
            (b, 3, s*H, s*W) restored centre frame (not clamped).
        """
        l1, l2, l3 = feats
        b, t = l1.shape[:2]
        c = self.config.center
        ref = [l1[:, c], l2[:, c], l3[:, c]]
        # all t alignments (the reference to itself too) in one batch
        nbr = [lv.flatten(0, 1) for lv in (l1, l2, l3)]
        ref_rep = [r.repeat_interleave(t, dim=0) for r in ref]
        aligned = self.pcd_align(nbr, ref_rep)
        aligned = aligned.reshape(b, t, *aligned.shape[1:])
        if self.config.with_tsa:
            feat = self.fusion(aligned)
        else:
            feat = self.fusion(aligned.flatten(1, 2))

        out = self.reconstruction(feat)
        out = lrelu(F.pixel_shuffle(self.upconv1(out), 2))
        out = lrelu(F.pixel_shuffle(self.upconv2(out), 2))
        out = self.conv_last(lrelu(self.conv_hr(out)))
        # the residual is small, the base is the picture: the sum in float32 even under half-precision
        # autocast (in bfloat16 a value near 1 has steps of 1/256, one 8-bit code)
        with torch.autocast(device_type=out.device.type, enabled=False):
            if self.config.hr_in:
                base = x_center.float()
            else:
                base = F.interpolate(x_center.float(), scale_factor=4, mode="bilinear", align_corners=False)
            return out.float() + base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, 3, H, W) RGB in [0, 1] -> (b, 3, s*H, s*W) restored centre frame."""
        b, t, ch, h, w = x.shape
        if t != self.config.num_frame:
            raise ValueError(f"this model takes windows of {self.config.num_frame} frames, got {t}")
        l1, l2, l3 = self.extract_features(x.reshape(b * t, ch, h, w))
        feats = (l1.reshape(b, t, *l1.shape[1:]), l2.reshape(b, t, *l2.shape[1:]), l3.reshape(b, t, *l3.shape[1:]))
        return self.fuse_and_reconstruct(feats, x[:, self.config.center])
