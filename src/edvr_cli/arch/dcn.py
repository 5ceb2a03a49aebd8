"""Modulated deformable convolution (DCNv2) with two backends: torchvision's op and pure PyTorch.

The offset/mask convention is the one both upstream codebases use: a plain conv on the *other*
feature map gives ``3 * groups * kh * kw`` channels, split into ``o1, o2, mask``; the offset is
``cat(o1, o2)`` read in torchvision's layout (per group and kernel tap: ``dy, dx``) and the mask
is ``sigmoid(mask)``.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

BACKENDS = ("auto", "torchvision", "pure")
_backend = "auto"


def set_dcn_backend(name: str) -> None:
    """Choose the deformable-conv backend for every model: 'auto', 'torchvision' or 'pure'."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"unknown deformable-conv backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "torchvision" and not torchvision_ops_available():
        raise RuntimeError("torchvision's compiled deform_conv2d cannot be loaded in this environment")
    _backend = name


def get_dcn_backend() -> str:
    """The backend that runs now ('torchvision' or 'pure'; 'auto' resolved)."""
    if _backend == "auto":
        return "torchvision" if torchvision_ops_available() else "pure"
    return _backend


@functools.lru_cache(maxsize=1)
def torchvision_ops_available() -> bool:
    """Whether torchvision's compiled ``deform_conv2d`` loads and runs; warns once when it does not."""
    try:
        from torchvision.ops import deform_conv2d

        x = torch.zeros(1, 1, 3, 3)
        deform_conv2d(x, torch.zeros(1, 18, 3, 3), torch.zeros(1, 1, 3, 3), padding=1, mask=torch.ones(1, 9, 3, 3))
        return True
    except Exception as exc:  # ImportError, or a RuntimeError from a mismatched torch/torchvision build
        warnings.warn(
            f"torchvision's deform_conv2d is unavailable ({type(exc).__name__}: {exc}); "
            "using the pure-PyTorch deformable convolution",
            RuntimeWarning,
            stacklevel=2,
        )
        return False


def deform_conv2d_pure(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    mask: torch.Tensor,
    padding: int = 1,
    stride: int = 1,
    dilation: int = 1,
) -> torch.Tensor:
    """Modulated deformable conv in plain PyTorch ops, matching ``torchvision.ops.deform_conv2d``.

    Shapes: x (b, c, h, w); offset (b, 2*g*k, ho, wo) with (dy, dx) per group and tap; mask (b, g*k, ho, wo);
    weight (cout, c, kh, kw). Sampling is bilinear with zeros outside the image; sampling positions are
    computed in float32 whatever the input dtype, so half precision stays accurate.
    """
    b, c, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    k = kh * kw
    ho, wo = offset.shape[-2:]
    g = offset.shape[1] // (2 * k)
    cg = c // g
    n = k * ho * wo

    off = offset.float().reshape(b, g, k, 2, ho, wo)
    dev = x.device
    ky = (torch.arange(kh, device=dev, dtype=torch.float32) * dilation).repeat_interleave(kw)
    kx = (torch.arange(kw, device=dev, dtype=torch.float32) * dilation).repeat(kh)
    gy = torch.arange(ho, device=dev, dtype=torch.float32) * stride - padding
    gx = torch.arange(wo, device=dev, dtype=torch.float32) * stride - padding
    py = off[:, :, :, 0] + ky.view(1, 1, k, 1, 1) + gy.view(1, 1, 1, ho, 1)  # (b, g, k, ho, wo)
    px = off[:, :, :, 1] + kx.view(1, 1, k, 1, 1) + gx.view(1, 1, 1, 1, wo)

    y0 = torch.floor(py)
    x0 = torch.floor(px)
    ly = py - y0
    lx = px - x0
    y0 = y0.long()
    x0 = x0.long()

    src = x.reshape(b, g, cg, h * w)
    cols = None
    for dy, dx, wy, wx in ((0, 0, 1 - ly, 1 - lx), (0, 1, 1 - ly, lx), (1, 0, ly, 1 - lx), (1, 1, ly, lx)):
        yy = y0 + dy
        xx = x0 + dx
        valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        corner_w = (wy * wx * valid).to(x.dtype).reshape(b, g, 1, n)
        idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(b, g, 1, n).expand(b, g, cg, n)
        term = src.gather(3, idx) * corner_w
        cols = term if cols is None else cols + term
    cols = cols * mask.to(x.dtype).reshape(b, g, 1, n)
    # (b, g, cg, k, ho*wo) -> (b, c*k, ho*wo): channel-major, tap-minor, as weight.view(cout, c*k)
    cols = cols.reshape(b, c * k, ho * wo)
    out = torch.matmul(weight.reshape(cout, cin * k).to(cols.dtype), cols)
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, cout, 1)
    return out.reshape(b, cout, ho, wo)


def modulated_deform_conv(
    x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor,
    padding: int = 1, stride: int = 1, dilation: int = 1, backend: str | None = None,
) -> torch.Tensor:
    """Dispatch to the chosen backend (default: the global one)."""
    backend = backend or get_dcn_backend()
    if backend == "pure":
        return deform_conv2d_pure(x, offset, weight, bias, mask, padding, stride, dilation)
    from torchvision.ops import deform_conv2d

    # torchvision's op has no autocast rule: run it in one dtype (the input's)
    dtype = x.dtype
    return deform_conv2d(
        x, offset.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype),
        stride=stride, padding=padding, dilation=dilation, mask=mask.to(dtype),
    )


class DCNv2Pack(nn.Module):
    """Modulated deformable conv whose offsets and mask come from another feature map.

    Keys: ``weight``, ``bias`` (the deformable conv) and ``conv_offset.weight/bias`` (the offset conv).

    Args:
        in_channels / out_channels: channels of the deformable conv.
        kernel_size: square kernel size. Default: 3.
        padding: zero padding. Default: 1.
        deformable_groups: offset groups. Default: 8.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1,
                 deformable_groups: int = 8) -> None:
        super().__init__()
        self.padding = padding
        self.deformable_groups = deformable_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.conv_offset = nn.Conv2d(in_channels, 3 * deformable_groups * kernel_size * kernel_size,
                                     kernel_size, 1, padding)
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        # upstream initialisation: start from zero offsets and mask 0.5
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        """Sample ``x`` (n, c, h, w) at offsets predicted from ``feat`` (n, c, h, w)."""
        o1, o2, mask = torch.chunk(self.conv_offset(feat), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        return modulated_deform_conv(x, offset, self.weight, self.bias, torch.sigmoid(mask), padding=self.padding)
