"""Colour: which YUV matrix and range a stream uses, and exact YUV <-> RGB conversion in numpy.

Codes are FFmpeg's own enums (``AVColorSpace``, ``AVColorRange``, ``AVColorPrimaries``,
``AVColorTransferCharacteristic``), so they can be copied straight onto codec contexts and frames.

Rule for streams without a matrix tag (the same heuristic as mpv, VLC and browsers):

* ``height >= 720`` or ``width >= 1280``: BT.709;
* smaller streams, and still images at any size (JPEG/WebP sequences, MJPEG): BT.601.

Rule for streams without a range tag: full range for ``yuvj*`` pixel formats and JPEG-family
codecs, limited (TV) range otherwise. RGB and grey formats need no matrix.

Rule for untagged primaries / transfer of YUV streams: those that go with the matrix (BT.709 for
BT.709; SMPTE 170M, or BT.470BG for 576-line PAL, for BT.601). Tagging them on the 4x larger
output keeps players from guessing HD primaries for what was SD footage.

The output is encoded with the matrix and range that were used. It is tagged as the source was
(:func:`output_tags`): what the source tagged is tagged; what it left untagged stays untagged, as
``ffmpeg`` leaves it, unless a reader of the output would by the rules above assume something else
than was used (a 576-line untagged source made 2304 lines would be read as BT.709; a JPEG-range
source written by a non-JPEG codec as limited range): then it is tagged, so that a player shows
exactly what we computed.

Why numpy rather than swscale, both ways: in this FFmpeg build swscale's >8-bit RGB outputs
(rgb48, gbrp16, gbrpf32) carry a ~0.4 % gain error (white comes out as 65280/65535), its 8-bit
YUV -> RGB path is off by up to 3 levels unless special flags are set, and its chroma siting for
untagged frames is not the H.264 default, so mixing it with a standard decoder moves chroma
(measured: 3x the round-trip error). The float formulas below are exact and symmetric; chroma is resampled
bilinearly with MPEG-2/H.264 siting (horizontally co-sited, vertically centred for 4:2:0), the
default for H.264/HEVC streams without a chroma-location tag. Cost: ~25 ms to decode a 1080p
frame, ~200 ms to encode a 4K one, on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# AVColorSpace
SPC_RGB, SPC_BT709, SPC_UNSPECIFIED = 0, 1, 2
SPC_FCC, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 4, 5, 6, 7
SPC_BT2020_NCL, SPC_BT2020_CL = 9, 10
# AVColorRange
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
# AVColorPrimaries / AVColorTransferCharacteristic: 2 means unspecified for both.
PRI_UNSPECIFIED = TRC_UNSPECIFIED = 2
PRI_BT709 = TRC_BT709 = 1
PRI_BT470BG, PRI_SMPTE170M, TRC_SMPTE170M = 5, 6, 6

#: (Kr, Kb) luma coefficients per AVColorSpace code. BT.2020 CL is approximated by NCL.
LUMA_COEFFS: dict[int, tuple[float, float]] = {
    SPC_BT709: (0.2126, 0.0722),
    SPC_FCC: (0.30, 0.11),
    SPC_BT470BG: (0.299, 0.114),
    SPC_SMPTE170M: (0.299, 0.114),
    SPC_SMPTE240M: (0.212, 0.087),
    SPC_BT2020_NCL: (0.2627, 0.0593),
    SPC_BT2020_CL: (0.2627, 0.0593),
}

MATRIX_NAMES: dict[int, str] = {
    SPC_RGB: "rgb",
    SPC_BT709: "bt709",
    SPC_UNSPECIFIED: "unspecified",
    SPC_FCC: "fcc",
    SPC_BT470BG: "bt470bg",
    SPC_SMPTE170M: "smpte170m",
    SPC_SMPTE240M: "smpte240m",
    SPC_BT2020_NCL: "bt2020nc",
    SPC_BT2020_CL: "bt2020c",
}

#: swscale's SWS_CS_* code for each AVColorSpace we support (used by the 8-bit encode path).
SWS_COLORSPACE: dict[int, int] = {
    SPC_BT709: 1,
    SPC_FCC: 4,
    SPC_BT470BG: 5,
    SPC_SMPTE170M: 5,
    SPC_SMPTE240M: 7,
    SPC_BT2020_NCL: 9,
    SPC_BT2020_CL: 9,
}

_STILL_IMAGE_CODECS = frozenset({"mjpeg", "jpegls", "png", "webp", "bmp", "tiff", "gif", "jpeg2000"})


@dataclass(frozen=True)
class ColorInfo:
    """Colour description of a stream, with the unknowns already resolved by the rules above.

    Args:
        matrix: AVColorSpace code used for YUV <-> RGB (never unspecified for YUV streams;
            ``SPC_RGB`` for RGB/grey sources).
        range: AVColorRange code, ``RANGE_LIMITED`` or ``RANGE_FULL``.
        primaries: AVColorPrimaries code (tagged, or resolved by the rule above; 2 = unspecified).
        trc: AVColorTransferCharacteristic code (likewise).
        matrix_tagged: whether ``matrix`` came from the stream rather than the rule.
        range_tagged: whether ``range`` came from the stream rather than the rule.
        primaries_tagged, trc_tagged: whether ``primaries`` / ``trc`` came from the stream (default: yes,
            for colours made up rather than read).
    """

    matrix: int
    range: int
    primaries: int = PRI_UNSPECIFIED
    trc: int = TRC_UNSPECIFIED
    matrix_tagged: bool = False
    range_tagged: bool = False
    primaries_tagged: bool = True
    trc_tagged: bool = True

    @property
    def matrix_name(self) -> str:
        return MATRIX_NAMES.get(self.matrix, str(self.matrix))

    @property
    def full_range(self) -> bool:
        return self.range == RANGE_FULL


def resolve_color(
    *,
    matrix: int,
    color_range: int,
    primaries: int,
    trc: int,
    pix_fmt: str,
    codec_name: str,
    width: int,
    height: int,
    is_rgb: bool,
) -> ColorInfo:
    """Apply the module's rules to a stream's raw tags (see the module docstring)."""
    if is_rgb:
        return ColorInfo(SPC_RGB, RANGE_FULL, primaries, trc, matrix_tagged=True, range_tagged=True)
    matrix_tagged = matrix in LUMA_COEFFS
    if not matrix_tagged:
        still = codec_name in _STILL_IMAGE_CODECS
        matrix = SPC_BT709 if not still and (height >= 720 or width >= 1280) else SPC_SMPTE170M
    range_tagged = color_range in (RANGE_LIMITED, RANGE_FULL)
    if not range_tagged:
        jpeg_like = pix_fmt.startswith("yuvj") or codec_name in _STILL_IMAGE_CODECS
        color_range = RANGE_FULL if jpeg_like else RANGE_LIMITED
    if matrix == SPC_BT709:
        implied_primaries = implied_trc = PRI_BT709
    elif matrix in (SPC_BT470BG, SPC_SMPTE170M):
        implied_primaries = PRI_BT470BG if height == 576 else PRI_SMPTE170M
        implied_trc = TRC_SMPTE170M
    else:
        implied_primaries, implied_trc = PRI_UNSPECIFIED, TRC_UNSPECIFIED
    primaries_tagged = primaries not in (PRI_UNSPECIFIED, 0, None)
    trc_tagged = trc not in (TRC_UNSPECIFIED, 0, None)
    primaries = primaries if primaries_tagged else implied_primaries
    trc = trc if trc_tagged else implied_trc
    return ColorInfo(matrix, color_range, primaries, trc, matrix_tagged, range_tagged, primaries_tagged, trc_tagged)


def output_tags(used: ColorInfo, *, codec_name: str, pix_fmt: str, width: int, height: int
                ) -> tuple[int, int, int, int]:
    """``(matrix, range, primaries, trc)`` codes to tag an output encoded with ``used`` (see the module doc):
    the tagged ones, and the untagged ones a reader of the output (``codec_name`` at ``width`` x ``height``
    in ``pix_fmt``) would assume otherwise; the others unspecified."""
    guess = resolve_color(matrix=SPC_UNSPECIFIED, color_range=RANGE_UNSPECIFIED, primaries=PRI_UNSPECIFIED,
                          trc=TRC_UNSPECIFIED, pix_fmt=pix_fmt, codec_name=codec_name, width=width, height=height,
                          is_rgb=False)
    matrix = used.matrix if used.matrix_tagged or guess.matrix != used.matrix else SPC_UNSPECIFIED
    color_range = used.range if used.range_tagged or guess.range != used.range else RANGE_UNSPECIFIED
    primaries = used.primaries if used.primaries_tagged or guess.primaries != used.primaries else PRI_UNSPECIFIED
    trc = used.trc if used.trc_tagged or guess.trc != used.trc else TRC_UNSPECIFIED
    return matrix, color_range, primaries, trc


def levels(bits: int, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma scale, chroma offset, chroma scale) in code values for ``bits``."""
    if full_range:
        peak = float((1 << bits) - 1)
        return 0.0, peak, float(1 << (bits - 1)), peak
    s = float(1 << (bits - 8))
    return 16.0 * s, 219.0 * s, 128.0 * s, 224.0 * s


def upsample_chroma(c: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear chroma upsampling to ``(height, width)``, float32.

    2x horizontally: co-sited (luma column 2i sits on chroma column i). 2x vertically: centred
    (luma rows 2j, 2j+1 sit a quarter sample either side of chroma row j). Other factors (4:1:1,
    4:1:0) fall back to sample repetition. Edges replicate.
    """
    c = c.astype(np.float32, copy=False)
    ch, cw = c.shape
    if cw * 2 >= width and cw < width:
        out = np.empty((ch, 2 * cw), np.float32)
        out[:, 0::2] = c
        out[:, 1:-1:2] = (c[:, :-1] + c[:, 1:]) * 0.5
        out[:, -1] = c[:, -1]
        c = out[:, :width]
    elif cw < width:
        c = np.repeat(c, -(-width // cw), axis=1)[:, :width]
    if ch * 2 >= height and ch < height:
        prev = np.concatenate([c[:1], c[:-1]])
        nxt = np.concatenate([c[1:], c[-1:]])
        out = np.empty((2 * ch, c.shape[1]), np.float32)
        out[0::2] = 0.75 * c + 0.25 * prev
        out[1::2] = 0.75 * c + 0.25 * nxt
        c = out[:height]
    elif ch < height:
        c = np.repeat(c, -(-height // ch), axis=0)[:height]
    return c


def downsample_chroma(c: np.ndarray, sub_x: int, sub_y: int) -> np.ndarray:
    """Chroma decimation matching :func:`upsample_chroma`'s siting, float32.

    2x horizontally: ``[1, 2, 1] / 4`` centred on even columns; 2x vertically: mean of row pairs.
    Odd sizes are padded by edge replication first.
    """
    c = c.astype(np.float32, copy=False)
    if sub_y == 2:
        if c.shape[0] % 2:
            c = np.concatenate([c, c[-1:]])
        c = (c[0::2] + c[1::2]) * 0.5
    elif sub_y > 1:
        c = c[::sub_y]
    if sub_x == 2:
        if c.shape[1] % 2:
            c = np.concatenate([c, c[:, -1:]], axis=1)
        even, odd = c[:, 0::2], c[:, 1::2]
        left = np.concatenate([odd[:, :1], odd[:, :-1]], axis=1)  # column 2i-1, mirrored at 0
        c = (2.0 * even + odd + left) * 0.25
    elif sub_x > 1:
        c = c[:, ::sub_x]
    return c


def yuv_to_rgb(
    y: np.ndarray,
    u: np.ndarray | None,
    v: np.ndarray | None,
    *,
    bits: int,
    matrix: int,
    full_range: bool,
) -> np.ndarray:
    """Planar YUV code values -> RGB float32 ``(H, W, 3)`` in ``[0, 1]``.

    Args:
        y: luma plane ``(H, W)``, integer code values.
        u, v: chroma planes at any subsampling, or ``None`` for grey.
        bits: bit depth of the code values (8..16).
        matrix: AVColorSpace code (a key of :data:`LUMA_COEFFS`).
        full_range: JPEG (full) rather than MPEG (limited) levels.
    """
    y_off, y_scale, c_off, c_scale = levels(bits, full_range)
    height, width = y.shape
    luma = (y.astype(np.float32) - y_off) * np.float32(1.0 / y_scale)
    rgb = np.empty((height, width, 3), np.float32)
    if u is None or v is None:
        rgb[...] = luma[..., None]
    else:
        kr, kb = LUMA_COEFFS[matrix]
        kg = 1.0 - kr - kb
        cb = (upsample_chroma(u, height, width) - c_off) * np.float32(1.0 / c_scale)
        cr = (upsample_chroma(v, height, width) - c_off) * np.float32(1.0 / c_scale)
        rgb[..., 0] = luma + np.float32(2.0 * (1.0 - kr)) * cr
        rgb[..., 2] = luma + np.float32(2.0 * (1.0 - kb)) * cb
        rgb[..., 1] = (
            luma
            - np.float32(2.0 * kb * (1.0 - kb) / kg) * cb
            - np.float32(2.0 * kr * (1.0 - kr) / kg) * cr
        )
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


def rgb_to_yuv(
    rgb: np.ndarray,
    *,
    bits: int,
    matrix: int,
    full_range: bool,
    sub_x: int,
    sub_y: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB ``(H, W, 3)`` in ``[0, 1]`` (float, or uint8/uint16 on their full scale) -> planar YUV.

    Returns rounded code values ``(y, u, v)``, uint8 for ``bits == 8`` and uint16 otherwise;
    chroma planes are decimated by ``(sub_x, sub_y)`` (``(2, 2)`` for 4:2:0) with
    :func:`downsample_chroma`. Chroma is linear in RGB, so R, G, B are decimated first and the
    matrix applied at chroma resolution (same result, a quarter of the work for 4:2:0).
    """
    kr, kb = LUMA_COEFFS[matrix]
    kg = 1.0 - kr - kb
    scale = 1.0
    if rgb.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif rgb.dtype == np.uint16:
        scale = 1.0 / 65535.0
    y_off, y_scale, c_off, c_scale = levels(bits, full_range)
    peak = (1 << bits) - 1
    dtype = np.uint8 if bits <= 8 else np.uint16

    def quantise(x: np.ndarray, off: float) -> np.ndarray:
        x += np.float32(off)
        np.rint(x, out=x)
        np.clip(x, 0, peak, out=x)
        return x.astype(dtype)

    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    ys = y_scale * scale
    luma = r * np.float32(kr * ys) + g * np.float32(kg * ys) + b * np.float32(kb * ys)
    r, g, b = (downsample_chroma(c, sub_x, sub_y) for c in (r, g, b))
    cs = c_scale * scale
    luma_c = r * np.float32(kr) + g * np.float32(kg) + b * np.float32(kb)
    cb = (b - luma_c) * np.float32(0.5 / (1.0 - kb) * cs)
    cr = (r - luma_c) * np.float32(0.5 / (1.0 - kr) * cs)
    return quantise(luma, y_off), quantise(cb, c_off), quantise(cr, c_off)
