"""Colour conversion in torch on the model's device: decoded YUV planes -> RGB, restored RGB -> YUV planes.

The arithmetic is that of the numpy reference (:mod:`edvr_cli.video.colour`), operation for operation
in float32 (the same chroma siting, the same rounding), so on the CPU the results are identical to
it: YUV -> RGB gives the reference's float32 values, and RGB -> YUV quantises the network's output to
8 (or 16) bit RGB first, as the frames the reference encodes are, then converts. On CUDA the
elementwise kernels round the same way; any difference stays within one code value.

On the CPU the output conversion runs over a few rows at a time, so its dozen elementwise passes
stay in cache instead of each reading and writing the whole (e.g. 100 MB for 4K) frame.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from edvr_cli.video.colour import LUMA_COEFFS, levels
from edvr_cli.video.planes import PlaneLayout, YUVFrame

#: Bytes of float RGB one chunk of the CPU output conversion holds (fits a core's L2 cache).
_CHUNK_BYTES = 3 << 20


def _f32(x: float) -> float:
    """``x`` rounded to float32, as the reference's ``np.float32(x)`` constants are."""
    return float(np.float32(x))


# ----------------------------------------------------------------------------------------- YUV -> RGB


def upsample_chroma(c: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Float32 chroma ``(ch, cw)`` -> ``(height, width)``, as :func:`edvr_cli.video.colour.upsample_chroma`."""
    ch, cw = c.shape
    if cw * 2 >= width and cw < width:
        out = torch.empty(ch, 2 * cw, dtype=c.dtype, device=c.device)
        out[:, 0::2] = c
        out[:, 1:-1:2] = (c[:, :-1] + c[:, 1:]) * 0.5
        out[:, -1] = c[:, -1]
        c = out[:, :width]
    elif cw < width:
        c = c.repeat_interleave(-(-width // cw), dim=1)[:, :width]
    if ch * 2 >= height and ch < height:
        prev = torch.cat([c[:1], c[:-1]])
        nxt = torch.cat([c[1:], c[-1:]])
        out = torch.empty(2 * ch, c.shape[1], dtype=c.dtype, device=c.device)
        out[0::2] = 0.75 * c + 0.25 * prev
        out[1::2] = 0.75 * c + 0.25 * nxt
        c = out[:height]
    elif ch < height:
        c = c.repeat_interleave(-(-height // ch), dim=0)[:height]
    return c


def _codes(plane: torch.Tensor) -> torch.Tensor:
    """Code values as float32 (uint16 planes travel as int16: read back without the sign)."""
    if plane.dtype == torch.int16:
        return plane.to(torch.int32).bitwise_and_(0xFFFF).float()
    return plane.float()


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor | None, v: torch.Tensor | None, *, bits: int, matrix: int,
               full_range: bool) -> torch.Tensor:
    """Planes of code values (uint8, or uint16 carried as int16) -> RGB float32 ``(3, H, W)`` in ``[0, 1]``."""
    y_off, y_scale, c_off, c_scale = levels(bits, full_range)
    height, width = y.shape
    luma = (_codes(y) - y_off) * _f32(1.0 / y_scale)
    if u is None or v is None:
        return luma.clamp_(0.0, 1.0).expand(3, height, width).clone()
    kr, kb = LUMA_COEFFS[matrix]
    kg = 1.0 - kr - kb
    cb = (upsample_chroma(_codes(u), height, width) - c_off) * _f32(1.0 / c_scale)
    cr = (upsample_chroma(_codes(v), height, width) - c_off) * _f32(1.0 / c_scale)
    rgb = torch.empty(3, height, width, dtype=torch.float32, device=y.device)
    rgb[0] = luma + _f32(2.0 * (1.0 - kr)) * cr
    rgb[2] = luma + _f32(2.0 * (1.0 - kb)) * cb
    rgb[1] = luma - _f32(2.0 * kb * (1.0 - kb) / kg) * cb - _f32(2.0 * kr * (1.0 - kr) / kg) * cr
    return rgb.clamp_(0.0, 1.0)


def frame_to_device(frame: YUVFrame, device: torch.device, pin_memory: bool = False) -> torch.Tensor:
    """A decoded frame's planes, copied to ``device`` in one transfer and converted there: ``(3, H, W)``."""
    planes = frame.planes
    flat = np.concatenate([np.ascontiguousarray(p).reshape(-1) for p in planes])
    if flat.dtype == np.uint16:
        flat = flat.view(np.int16)
    t = torch.from_numpy(flat)
    if pin_memory:
        t = t.pin_memory()
    t = t.to(device, non_blocking=True)
    views, at = [], 0
    for p in planes:
        views.append(t[at:at + p.size].view(p.shape))
        at += p.size
    y, u, v = (views[0], None, None) if len(views) == 1 else views
    return yuv_to_rgb(y, u, v, bits=frame.bits, matrix=frame.matrix, full_range=frame.full_range)


# ----------------------------------------------------------------------------------------- RGB -> YUV


def _downsample(c: torch.Tensor, sub_x: int, sub_y: int) -> torch.Tensor:
    """(b, 3, h, w) float32 -> chroma resolution, as :func:`edvr_cli.video.colour.downsample_chroma`.

    The 2x horizontal filter runs at every column over contiguous shifted views (strided views are
    several times slower in torch's CPU kernels), then even columns are kept: the same sums in the
    same order.
    """
    if sub_y == 2:
        if c.shape[2] % 2:
            c = torch.cat([c, c[:, :, -1:]], dim=2)
        c = c[:, :, 0::2] + c[:, :, 1::2]
        c *= 0.5
    elif sub_y > 1:
        c = c[:, :, ::sub_y]
    if sub_x == 2:
        if c.shape[3] % 2:
            c = torch.cat([c, c[..., -1:]], dim=3)
        out = c * 2.0
        out[..., :-1] += c[..., 1:]  # column 2i+1
        out[..., 1:] += c[..., :-1]  # column 2i-1
        out[..., :1] += c[..., 1:2]  # mirrored at 0
        c = out[..., 0::2] * 0.25
    elif sub_x > 1:
        c = c[..., ::sub_x]
    return c


def _quantise_into(dst: torch.Tensor, x: torch.Tensor, off: float, peak: int) -> None:
    x += off
    x.round_().clamp_(0, peak)
    dst.copy_(x if dst.dtype == torch.uint8 else x.to(torch.int32))  # int16 keeps uint16's bits


def packed_size(layout: PlaneLayout, height: int, width: int) -> int:
    """Samples of one packed frame: luma, then the two chroma planes."""
    ch, cw = layout.chroma_size(height, width)
    return height * width + 2 * ch * cw


def rgb_to_planes(rgb: torch.Tensor, layout: PlaneLayout, rows: int | None = None,
                  rgb_bits: int | None = None) -> torch.Tensor:
    """Restored RGB ``(b, 3, H, W)`` (float, clamped here) -> packed planes ``(b, Y + U + V)`` of code values.

    RGB is first quantised to ``rgb_bits`` (8 or 16; default: 16 for layouts deeper than 8 bits),
    as the frames the numpy reference converts are, then converted as it converts them. uint8 for
    8-bit layouts; int16 holding uint16's bits otherwise.
    ``rows``: convert one frame and this many rows at a time (rounded down to a multiple of 4;
    ``None``: the whole batch at once).
    """
    b, _, h, w = rgb.shape
    ch, cw = layout.chroma_size(h, w)
    dtype = torch.uint8 if layout.bits <= 8 else torch.int16
    packed = torch.empty(b, packed_size(layout, h, w), dtype=dtype, device=rgb.device)
    y_plane = packed[:, :h * w].view(b, h, w)
    u_plane = packed[:, h * w:h * w + ch * cw].view(b, ch, cw)
    v_plane = packed[:, h * w + ch * cw:].view(b, ch, cw)
    if rgb_bits is None:
        rgb_bits = 8 if layout.bits <= 8 else 16
    rgb_peak = 255 if rgb_bits <= 8 else 65535
    scale = 1.0 / rgb_peak
    kr, kb = LUMA_COEFFS[layout.matrix]
    kg = 1.0 - kr - kb
    y_off, y_scale, c_off, c_scale = levels(layout.bits, layout.full_range)
    ys, cs = y_scale * scale, c_scale * scale
    peak = (1 << layout.bits) - 1
    step = h if rows is None else max(4, rows - rows % 4)
    frames = [slice(None)] if rows is None else [slice(i, i + 1) for i in range(b)]
    for f, r0 in ((f, r0) for f in frames for r0 in range(0, h, step)):
        r1 = min(h, r0 + step)
        # planar and contiguous: every later pass reads whole rows
        q = torch.empty((1 if rows else b, 3, r1 - r0, w), dtype=torch.float32, device=rgb.device)
        torch.clamp(rgb[f, :, r0:r1], 0.0, 1.0, out=q)
        q *= rgb_peak
        q.round_()
        r, g, bl = q.unbind(1)
        luma = r * _f32(kr * ys)
        luma += g * _f32(kg * ys)
        luma += bl * _f32(kb * ys)
        _quantise_into(y_plane[f, r0:r1], luma, y_off, peak)
        r, g, bl = _downsample(q, layout.sub_x, layout.sub_y).unbind(1)
        luma_c = r * _f32(kr)
        luma_c += g * _f32(kg)
        luma_c += bl * _f32(kb)
        c0, c1 = r0 // layout.sub_y, -(-r1 // layout.sub_y)
        _quantise_into(u_plane[f, c0:c1], (bl - luma_c) * _f32(0.5 / (1.0 - kb) * cs), c_off, peak)
        _quantise_into(v_plane[f, c0:c1], (r - luma_c) * _f32(0.5 / (1.0 - kr) * cs), c_off, peak)
    return packed


def cpu_rows(width: int) -> int:
    """Rows per chunk of the CPU output conversion: about :data:`_CHUNK_BYTES` of float RGB."""
    return max(4, _CHUNK_BYTES // max(1, 3 * width * 4))


def unpack(packed: np.ndarray, layout: PlaneLayout, height: int, width: int) -> YUVFrame:
    """One frame of :func:`rgb_to_planes`'s output on the host -> a :class:`YUVFrame` of views."""
    if packed.dtype == np.int16:
        packed = packed.view(np.uint16)
    ch, cw = layout.chroma_size(height, width)
    n = height * width
    y = packed[:n].reshape(height, width)
    u = packed[n:n + ch * cw].reshape(ch, cw)
    v = packed[n + ch * cw:].reshape(ch, cw)
    return YUVFrame(y, u, v, layout.bits, layout.matrix, layout.full_range)


def pad_frame(t: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(3, h, w) -> (3, height, width) by edge replication (the model's size multiple)."""
    h, w = t.shape[-2:]
    if (h, w) == (height, width):
        return t
    return F.pad(t.unsqueeze(0), (0, width - w, 0, height - h), mode="replicate").squeeze(0)
