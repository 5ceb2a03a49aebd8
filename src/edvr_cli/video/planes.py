"""Frames as planar YUV code values: what the decoder hands to the device and the device hands to the encoder.

Colour conversion runs where the model runs (:mod:`edvr_cli.engine.colour`), so the host only moves
planes: 1.5 bytes a pixel for 8-bit 4:2:0 against 12 for float RGB on the way in and 3 for 8-bit RGB
on the way out. The numpy formulas of :mod:`edvr_cli.video.colour` stay the reference (and the path
for everything else that wants RGB: :meth:`YUVFrame.to_rgb`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edvr_cli.video.colour import yuv_to_rgb


@dataclass(frozen=True)
class PlaneLayout:
    """How RGB becomes a planar YUV frame: bit depth, chroma subsampling, matrix and range.

    Args:
        bits: code value depth (8 -> uint8 planes, more -> uint16).
        sub_x, sub_y: chroma subsampling factors ((2, 2) for 4:2:0, (1, 1) for 4:4:4).
        matrix: AVColorSpace code (a key of :data:`~edvr_cli.video.colour.LUMA_COEFFS`).
        full_range: JPEG (full) rather than MPEG (limited) levels.
    """

    bits: int
    sub_x: int
    sub_y: int
    matrix: int
    full_range: bool

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.bits <= 8 else np.dtype(np.uint16)

    def chroma_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of each chroma plane of a ``width`` x ``height`` frame."""
        return -(-height // self.sub_y), -(-width // self.sub_x)


@dataclass(frozen=True)
class YUVFrame:
    """One frame's planes of code values and how to read them as RGB.

    Args:
        y: luma ``(H, W)``, uint8 or uint16.
        u, v: chroma planes at the stream's subsampling, or ``None`` for grey.
        bits: bit depth of the code values.
        matrix: AVColorSpace code; full_range: levels (see :class:`PlaneLayout`).
    """

    y: np.ndarray
    u: np.ndarray | None
    v: np.ndarray | None
    bits: int
    matrix: int
    full_range: bool

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, 3)``: the shape of the RGB frame it stands for."""
        return int(self.y.shape[0]), int(self.y.shape[1]), 3

    @property
    def planes(self) -> list[np.ndarray]:
        return [self.y] if self.u is None or self.v is None else [self.y, self.u, self.v]

    def to_rgb(self) -> np.ndarray:
        """RGB float32 ``(H, W, 3)`` in ``[0, 1]`` by the numpy formulas."""
        return yuv_to_rgb(self.y, self.u, self.v, bits=self.bits, matrix=self.matrix, full_range=self.full_range)
