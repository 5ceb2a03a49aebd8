"""Frame conversion: decoded ``av.VideoFrame`` -> planes or RGB float32; planes or RGB integers -> encoder frames."""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from edvr_cli.video.colour import SWS_COLORSPACE, ColorInfo, rgb_to_yuv, yuv_to_rgb
from edvr_cli.video.formats import describe_pix_fmt, yuv_pix_fmt
from edvr_cli.video.planes import PlaneLayout, YUVFrame

# Only for layouts numpy does not write (NV12, packed, RGB encoders): ACCURATE_RND makes
# swscale's RGB -> YUV round like the float formulas; without it levels drift by up to 3.
_SWS_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND


def plane_array(plane: av.video.plane.VideoPlane, bits: int) -> np.ndarray:
    """View of one plane's samples as ``(height, width)`` (uint8, or little-endian uint16)."""
    dtype = np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")
    stride = plane.line_size // dtype.itemsize
    flat = np.frombuffer(memoryview(plane), dtype=dtype, count=stride * plane.height)
    return flat.reshape(plane.height, stride)[:, : plane.width]


def frame_to_planes(frame: av.VideoFrame, color: ColorInfo) -> YUVFrame | None:
    """The planes of a planar YUV or grey frame (views of its buffers), or ``None`` for other layouts."""
    fmt = describe_pix_fmt(frame.format.name)
    if not fmt.planar_le or fmt.is_rgb:
        return None
    planes = [plane_array(p, fmt.bit_depth) for p in frame.planes]
    u, v = (None, None) if fmt.chroma == "gray" else (planes[1], planes[2])
    return YUVFrame(planes[0], u, v, fmt.bit_depth, color.matrix, color.full_range)


def plane_layout(pix_fmt: str, color: ColorInfo) -> PlaneLayout | None:
    """The layout :func:`planes_to_frame` fills for ``pix_fmt`` (planar YUV), or ``None`` (others take RGB)."""
    out = describe_pix_fmt(pix_fmt)
    if not (out.is_yuv and out.planar_le):
        return None
    return PlaneLayout(out.bit_depth, out.sub_x, out.sub_y, color.matrix, color.full_range)


def planes_to_frame(yuv: YUVFrame, pix_fmt: str, color: ColorInfo) -> av.VideoFrame:
    """Encoder-ready frame in ``pix_fmt`` from planes in its :func:`plane_layout`, tagged with ``color``."""
    out = describe_pix_fmt(pix_fmt)
    frame = av.VideoFrame(yuv.shape[1], yuv.shape[0], pix_fmt)
    planes = yuv.planes
    if len(planes) != len(frame.planes) or yuv.bits != out.bit_depth:
        raise ValueError(f"{len(planes)} planes of {yuv.bits} bits do not fill a {pix_fmt} frame")
    for plane, values in zip(frame.planes, planes, strict=True):
        view = plane_array(plane, out.bit_depth)
        if view.shape != values.shape:
            raise ValueError(f"a {values.shape[1]}x{values.shape[0]} plane does not fill a {pix_fmt} frame's "
                             f"{view.shape[1]}x{view.shape[0]} one")
        view[...] = values
    frame.colorspace = color.matrix
    frame.color_range = color.range
    return frame


def frame_to_rgb(frame: av.VideoFrame, color: ColorInfo, reformatter: VideoReformatter | None = None) -> np.ndarray:
    """RGB float32 ``(H, W, 3)`` in ``[0, 1]`` from any decoded frame.

    Planar YUV / GBR / grey of any depth go through the exact numpy formulas; 8-bit RGB sources
    give exactly ``k / 255`` and 16-bit ones ``k / 65535``. Other layouts (NV12, P010, packed or
    alpha formats) are first repacked by swscale without a colour conversion.
    """
    fmt = describe_pix_fmt(frame.format.name)
    if fmt.planar_le:
        planes = [plane_array(p, fmt.bit_depth) for p in frame.planes]
        if fmt.is_rgb:  # gbrp: planes are G, B, R
            peak = np.float32((1 << fmt.bit_depth) - 1)
            return np.stack([planes[2], planes[0], planes[1]], axis=-1).astype(np.float32) / peak
        u, v = (None, None) if fmt.chroma == "gray" else (planes[1], planes[2])
        return yuv_to_rgb(planes[0], u, v, bits=fmt.bit_depth, matrix=color.matrix, full_range=color.full_range)
    reformatter = reformatter or VideoReformatter()
    if fmt.is_yuv:
        chroma = fmt.chroma if fmt.chroma in ("420", "422", "444", "440") else "444"
        bits = next(b for b in (8, 10, 12, 16) if b >= fmt.bit_depth)
        planar = reformatter.reformat(frame, format=yuv_pix_fmt(chroma, bits), interpolation=Interpolation.POINT)
        return frame_to_rgb(planar, color, reformatter)
    if fmt.chroma == "gray":
        planar = reformatter.reformat(frame, format="gray" if fmt.bit_depth <= 8 else "gray16le")
        return frame_to_rgb(planar, color, reformatter)
    # Division (not multiplication by 1/255) gives the float32 nearest to k / 255.
    if fmt.bit_depth <= 8:
        return reformatter.reformat(frame, format="rgb24").to_ndarray().astype(np.float32) / np.float32(255)
    rgb48 = reformatter.reformat(frame, format="rgb48le").to_ndarray()
    return rgb48.astype(np.float32) / np.float32(65535)


def rgb_to_frame(
    rgb: np.ndarray,
    pix_fmt: str,
    color: ColorInfo,
    reformatter: VideoReformatter | None = None,
) -> av.VideoFrame:
    """Encoder-ready frame in ``pix_fmt`` from RGB ``uint8`` or ``uint16`` ``(H, W, 3)``.

    Planar YUV outputs use the numpy formulas of :mod:`edvr_cli.video.colour`, whose chroma
    siting matches the decoder side (swscale assumes another siting for untagged frames, which
    would move chroma by a quarter sample on every round trip). Other layouts go through
    swscale. The frame is tagged with ``color``'s matrix and range.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected uint8 or uint16 RGB, got {rgb.dtype}; quantise before writing")
    out = describe_pix_fmt(pix_fmt)
    rgb = np.ascontiguousarray(rgb)
    if out.is_yuv and out.planar_le:
        planes = rgb_to_yuv(
            rgb,
            bits=out.bit_depth,
            matrix=color.matrix,
            full_range=color.full_range,
            sub_x=out.sub_x,
            sub_y=out.sub_y,
        )
        frame = av.VideoFrame(rgb.shape[1], rgb.shape[0], pix_fmt)
        for plane, values in zip(frame.planes, planes, strict=False):
            plane_array(plane, out.bit_depth)[...] = values
    else:
        src = av.VideoFrame.from_ndarray(rgb, format="rgb24" if rgb.dtype == np.uint8 else "rgb48le")
        reformatter = reformatter or VideoReformatter()
        if out.is_yuv:
            frame = reformatter.reformat(
                src,
                format=pix_fmt,
                src_color_range=ColorRange.JPEG,
                dst_colorspace=SWS_COLORSPACE[color.matrix],
                dst_color_range=color.range,
                interpolation=_SWS_FLAGS,
            )
        else:
            frame = reformatter.reformat(src, format=pix_fmt, interpolation=_SWS_FLAGS)
    if out.is_yuv:
        frame.colorspace = color.matrix
        frame.color_range = color.range
    return frame
