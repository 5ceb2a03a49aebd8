"""Modulated deformable convolution (DCNv2) with two backends: torchvision's op and a fast pure-PyTorch one.

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
from torch.nn import functional as F

BACKENDS = ("auto", "torchvision", "pure", "fast")
_backend = "auto"


def set_dcn_backend(name: str) -> None:
    """Choose the deformable-conv backend for every model.

    'pure' (alias 'fast'): the vectorised pure-PyTorch formulation (:func:`deform_conv2d_pure`), the
    fastest on CPU; 'torchvision': torchvision's compiled op; 'auto': torchvision's op on CUDA,
    the pure one elsewhere (see :func:`get_dcn_backend`).
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"unknown deformable-conv backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "torchvision" and not torchvision_ops_available():
        raise RuntimeError("torchvision's compiled deform_conv2d cannot be loaded in this environment")
    _backend = name


def get_dcn_backend(device: torch.device | str | None = None) -> str:
    """The backend that runs on ``device`` (default: the CPU), with 'auto' resolved.

    'auto' picks per device: torchvision's op on CUDA (when it loads), the pure formulation elsewhere.
    On CPU the pure one is about twice as fast as torchvision's op on EDVR's layers (torchvision's CPU
    kernel interpolates one value at a time in scalar code; ``benchmarks/bench_dcn.py`` measures both).
    """
    if _backend != "auto":
        return _backend
    device_type = torch.device(device).type if device is not None else "cpu"
    if device_type != "cuda":
        return "pure"
    return "torchvision" if _torchvision_ops_constant("cuda") else "pure"  # probed on CUDA, once


@functools.lru_cache(maxsize=4)
def torchvision_ops_available(device_type: str = "cpu") -> bool:
    """Whether torchvision's compiled ``deform_conv2d`` loads and runs on ``device_type`` (a CPU-only build
    of torchvision runs on the CPU but not on CUDA); warns once per device type when it does not."""
    try:
        from torchvision.ops import deform_conv2d

        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, device=device_type)

        deform_conv2d(z(1, 1, 3, 3), z(1, 18, 3, 3), z(1, 1, 3, 3), padding=1, mask=z(1, 9, 3, 3) + 1)
        return True
    except Exception as exc:  # noqa: BLE001 - ImportError, or any error of a mismatched torch/torchvision build
        warnings.warn(
            f"torchvision's deform_conv2d is unavailable on {device_type} ({type(exc).__name__}: {exc}); "
            "using the pure-PyTorch deformable convolution",
            RuntimeWarning,
            stacklevel=2,
        )
        return False


def _torchvision_ops_constant(device_type: str) -> bool:
    """:func:`torchvision_ops_available` for use inside models (see :func:`prepare_for_compile`)."""
    return torchvision_ops_available(device_type)


def prepare_for_compile() -> None:
    """Before ``torch.compile``: have the compiler call the torchvision probe while tracing and keep the
    answer as a constant, instead of tracing the probe into the graph. Done here rather than as a
    decorator, because marking it imports torch's compiler stack (1.5 s, in every worker process)."""
    global _torchvision_ops_constant
    if not getattr(_torchvision_ops_constant, "_edvr_constant", False):
        marked = torch.compiler.assume_constant_result(_torchvision_ops_constant)
        marked._edvr_constant = True
        _torchvision_ops_constant = marked


def _sampling_grid(offset: torch.Tensor, h: int, w: int, kh: int, kw: int,
                   padding: int, stride: int, dilation: int) -> torch.Tensor:
    """Where every (group, tap, output pixel) samples, as a ``grid_sample`` grid: (b*g, k*ho, wo, 2), float32.

    Pixel position p (y or x) = out * stride - padding + tap * dilation + offset, normalised for
    ``align_corners=False`` as (2p + 1) / size - 1. All of it in float32 whatever the offsets' dtype:
    in half precision a coordinate near 300 would be off by up to 1/8 pixel (fp16) or 1 pixel (bf16).
    """
    b, _, ho, wo = offset.shape
    k = kh * kw
    g = offset.shape[1] // (2 * k)
    dev = offset.device
    f32 = torch.float32
    off = offset.float().reshape(b, g, k, 2, ho, wo)
    ky = (torch.arange(kh, device=dev, dtype=f32) * dilation).repeat_interleave(kw).view(k, 1, 1)
    kx = (torch.arange(kw, device=dev, dtype=f32) * dilation).repeat(kh).view(k, 1, 1)
    oy = (torch.arange(ho, device=dev, dtype=f32) * stride - padding).view(1, ho, 1)
    ox = (torch.arange(wo, device=dev, dtype=f32) * stride - padding).view(1, 1, wo)
    base_y = (2 * (ky + oy) + 1) / h - 1  # (k, ho, 1)
    base_x = (2 * (kx + ox) + 1) / w - 1  # (k, 1, wo)
    gx = torch.add(base_x, off[:, :, :, 1], alpha=2.0 / w)  # (b, g, k, ho, wo)
    gy = torch.add(base_y, off[:, :, :, 0], alpha=2.0 / h)
    return torch.stack((gx, gy), dim=-1).view(b * g, k * ho, wo, 2)


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
    weight (cout, c, kh, kw). Sampling is bilinear with zeros outside the image.

    One ``grid_sample`` (bilinear, zero padding: a vectorised kernel on every device) gathers the
    columns of all groups and taps at once, one in-place multiply applies the mask, one matrix
    multiply applies the weights. Coordinates, sampling and mask are float32 whatever the input
    dtype; the matrix multiply runs in the input's dtype (or autocast's), so half precision is both
    accurate and fast. A channels-last input gives a channels-last output (no layout round trip).
    """
    b, c, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    k = kh * kw
    ho, wo = offset.shape[-2:]
    g = offset.shape[1] // (2 * k)
    cg = c // g
    grid = _sampling_grid(offset, h, w, kh, kw, padding, stride, dilation)
    src = x.float().reshape(b * g, cg, h, w)  # a copy only when x is channels-last or half
    cols = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    cols = cols.view(b, g, cg, k, ho * wo)
    m = mask.float().reshape(b, g, 1, k, ho * wo)
    cols = cols * m if cols.requires_grad or m.requires_grad else cols.mul_(m)
    # (b, g, cg, k, ho*wo) -> (b, c*k, ho*wo): channel-major, tap-minor, as weight.view(cout, c*k)
    cols = cols.view(b, c * k, ho * wo).to(x.dtype)
    wmat = weight.reshape(cout, cin * k).to(x.dtype)
    if x.dim() == 4 and c > 1 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = torch.matmul(cols.transpose(1, 2), wmat.t())  # (b, ho*wo, cout): channels-last
        if bias is not None:
            out = out + bias.to(out.dtype)
        return out.view(b, ho, wo, cout).permute(0, 3, 1, 2)
    out = torch.matmul(wmat, cols)
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, cout, 1)
    return out.view(b, cout, ho, wo)


def deform_conv2d_reference(
    x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor,
    padding: int = 1, stride: int = 1, dilation: int = 1,
) -> torch.Tensor:
    """The same operation written the obvious way (four gathers with explicit validity masks).

    Slow and memory-hungry; kept only as an independent check of :func:`deform_conv2d_pure`.
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
    src = x.float().reshape(b, g, cg, h * w)
    cols: torch.Tensor | None = None
    for dy, dx, wy, wx in ((0, 0, 1 - ly, 1 - lx), (0, 1, 1 - ly, lx), (1, 0, ly, 1 - lx), (1, 1, ly, lx)):
        yy = y0 + dy
        xx = x0 + dx
        valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        corner_w = (wy * wx * valid).reshape(b, g, 1, n)
        idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(b, g, 1, n).expand(b, g, cg, n)
        term = src.gather(3, idx) * corner_w
        cols = term if cols is None else cols + term
    assert cols is not None  # four corners were added
    cols = (cols * mask.float().reshape(b, g, 1, n)).reshape(b, c * k, ho * wo)
    out = torch.matmul(weight.reshape(cout, cin * k).float(), cols)
    if bias is not None:
        out = out + bias.float().view(1, cout, 1)
    return out.reshape(b, cout, ho, wo).to(x.dtype)


def modulated_deform_conv(
    x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor,
    padding: int = 1, stride: int = 1, dilation: int = 1, backend: str | None = None,
) -> torch.Tensor:
    """Dispatch to the chosen backend (default: the global one, resolved for ``x``'s device)."""
    backend = backend or get_dcn_backend(x.device)
    if backend in ("pure", "fast"):
        return deform_conv2d_pure(x, offset, weight, bias, mask, padding, stride, dilation)
    from torchvision.ops import deform_conv2d

    # torchvision's kernels compute sampling coordinates in the input's dtype (in half precision a
    # coordinate near 300 would be off by 1/8 pixel in fp16, 1 pixel in bf16): run it in float32, as
    # its own CUDA autocast rule does, without first rounding the offsets to half; hand back x's dtype
    out = deform_conv2d(
        x.float(), offset.float(), weight.float(), None if bias is None else bias.float(),
        stride=stride, padding=padding, dilation=dilation, mask=mask.float(),
    )
    return out.to(x.dtype)


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
        if self.conv_offset.bias is not None:
            nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        """Sample ``x`` (n, c, h, w) at offsets predicted from ``feat`` (n, c, h, w)."""
        out = self.conv_offset(feat)
        # chunk(3) gives o1, o2, mask and the offset is cat(o1, o2): the first two thirds, as a view
        n = out.shape[1] // 3
        offset, mask = out[:, :2 * n], torch.sigmoid(out[:, 2 * n:].float())
        return modulated_deform_conv(x, offset, self.weight, self.bias, mask, padding=self.padding)
