"""Pixel formats: bit depth and chroma layout of a format, and the output format an encoder gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import av

_PLANAR = re.compile(r"^(yuvj?(?P<chroma>420|422|444|440|411|410)p|gray|gbrp)(?P<bits>\d+)?(?P<endian>le|be)?$")
_CHROMA_BY_SUBSAMPLING = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411", (4, 4): "410"}
SUBSAMPLING_BY_CHROMA = {c: s for s, c in _CHROMA_BY_SUBSAMPLING.items()}


@dataclass(frozen=True)
class PixFmtInfo:
    """What a pixel format holds.

    Args:
        name: FFmpeg name (``yuv420p10le``).
        bit_depth: bits per component (largest component).
        chroma: ``'420' | '422' | '444' | '440' | '411' | '410'`` for YUV, ``'rgb'``, or ``'gray'``.
        sub_x, sub_y: chroma decimation factors (1 for RGB/grey).
        planar_le: planes we can read/write directly with numpy (planar, native little-endian).
    """

    name: str
    bit_depth: int
    chroma: str
    sub_x: int
    sub_y: int
    planar_le: bool

    @property
    def is_rgb(self) -> bool:
        return self.chroma == "rgb"

    @property
    def is_yuv(self) -> bool:
        return self.chroma not in ("rgb", "gray")


@cache
def describe_pix_fmt(name: str) -> PixFmtInfo:
    """Bit depth and chroma layout of an FFmpeg pixel format (``av.VideoFormat`` does the parsing)."""
    fmt = av.VideoFormat(name)
    colour = [c for c in fmt.components if not c.is_alpha]
    bits = max((c.bits for c in colour), default=8)
    if fmt.is_rgb or name.startswith(("gbr", "pal")):
        chroma, sub_x, sub_y = "rgb", 1, 1
    elif len(colour) == 1:
        chroma, sub_x, sub_y = "gray", 1, 1
    else:
        probe_w, probe_h = 64, 64
        sub_x = max(1, -(-probe_w // fmt.chroma_width(probe_w)))
        sub_y = max(1, -(-probe_h // fmt.chroma_height(probe_h)))
        chroma = _CHROMA_BY_SUBSAMPLING.get((sub_x, sub_y), "420")
    m = _PLANAR.match(name)
    planar_le = m is not None and (bits == 8 or m.group("endian") == "le")
    return PixFmtInfo(name, bits, chroma, sub_x, sub_y, planar_le)


def yuv_pix_fmt(chroma: str, bits: int) -> str:
    """FFmpeg name of planar YUV with this layout: ``('420', 10) -> 'yuv420p10le'``."""
    return f"yuv{chroma}p" if bits <= 8 else f"yuv{chroma}p{bits}le"


def choose_pix_fmt(
    supported: list[str] | None,
    bit_depth: int,
    chroma: str,
    *,
    odd_size: bool = False,
) -> str:
    """Planar YUV output format closest to the source layout that the encoder accepts.

    Order of preference: the source bit depth, then lower depths (deepest first), then higher
    ones; within a depth, the source chroma layout, then 4:2:0, 4:2:2, 4:4:4. RGB and grey
    sources ask for 4:2:0 (what players expect). ``odd_size`` rules out subsampled layouts, which
    encoders refuse for odd widths/heights. ``supported=None`` means the encoder accepts anything.
    """
    if chroma not in SUBSAMPLING_BY_CHROMA:
        chroma = "420"
    chromas = [chroma] + [c for c in ("420", "422", "444") if c != chroma]
    if odd_size:
        chromas = ["444"]
    depths = [bit_depth] + sorted((d for d in (8, 10, 12) if d < bit_depth), reverse=True)
    depths += [d for d in (10, 12) if d > bit_depth]
    for depth in dict.fromkeys(depths):
        for c in chromas:
            name = yuv_pix_fmt(c, depth)
            if supported is None or name in supported:
                return name
    if supported:
        return supported[0]
    return yuv_pix_fmt("420", 8)


def encoder_pix_fmts(codec_name: str) -> list[str] | None:
    """Pixel formats an encoder accepts (``None`` when FFmpeg does not list them)."""
    formats = av.codec.Codec(codec_name, "w").video_formats
    return [f.name for f in formats] if formats else None


#: Pixel formats the YUV4MPEG2 muxer writes (the >8-bit ones as FFmpeg's ``strict -1`` extension,
#: which ffmpeg, x264, x265 and SVT-AV1 read).
Y4M_PIX_FMTS: tuple[str, ...] = (
    "yuv420p", "yuv422p", "yuv444p", "yuv411p", "gray",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le", "yuv422p12le", "yuv444p12le",
    "yuv420p16le", "yuv422p16le", "yuv444p16le", "gray10le", "gray12le", "gray16le",
)  # fmt: skip

#: Y4M header chroma tag of 4:2:0 by FFmpeg chroma location (as FFmpeg's muxer writes it).
Y4M_420_TAG: dict[str, str] = {"topleft": "420paldv", "left": "420mpeg2"}
