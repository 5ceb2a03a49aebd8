"""Spatial tiling: overlapping tile plans and the smooth weights that blend tiles without seams."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tile:
    """A rectangle of the (padded) input frame: rows y0:y1, columns x0:x1."""

    y0: int
    y1: int
    x0: int
    x1: int


def _starts(size: int, tile: int, step: int) -> list[int]:
    if tile >= size:
        return [0]
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return sorted(set(starts))


def smallest_useful_tile(overlap: int, multiple_of: int) -> int:
    """The smallest tile edge that leaves room for more than overlap: twice the overlap plus the model's
    size multiple, and at least :data:`~edvr_cli.engine.names.MIN_TILE`."""
    from edvr_cli.engine.names import MIN_TILE

    need = 2 * overlap + multiple_of
    return max(MIN_TILE, need + (-need) % multiple_of)


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple_of: int = 1) -> list[Tile]:
    """Overlapping tiles covering a ``height`` x ``width`` frame; ``tile`` <= 0 means one whole-frame tile.

    Tile sides are multiples of ``multiple_of`` (the frame's sides must be too); neighbouring tiles
    share at least ``overlap`` pixels where the frame is larger than a tile.
    """
    if height % multiple_of or width % multiple_of:
        raise ValueError(f"frame {height}x{width} is not padded to a multiple of {multiple_of}")
    if tile <= 0 or (tile >= height and tile >= width):
        return [Tile(0, height, 0, width)]
    tile = max(multiple_of, tile - tile % multiple_of)
    overlap = max(0, min(overlap, tile - multiple_of))
    step = tile - overlap
    th, tw = min(tile, height), min(tile, width)
    return [Tile(y, y + th, x, x + tw) for y in _starts(height, th, step) for x in _starts(width, tw, step)]


def _profile(start: int, stop: int, size: int, lo_ramp: int, hi_ramp: int) -> torch.Tensor:
    """1-D weights of a tile along one axis: raised-cosine ramps where it overlaps a neighbour, 1 elsewhere."""
    n = stop - start
    w = torch.ones(n, dtype=torch.float32)
    if start > 0 and lo_ramp > 0:
        p = torch.arange(lo_ramp, dtype=torch.float32)
        w[:lo_ramp] = torch.sin(0.5 * math.pi * (p + 0.5) / lo_ramp) ** 2
    if stop < size and hi_ramp > 0:
        p = torch.arange(hi_ramp, dtype=torch.float32).flip(0)
        w[n - hi_ramp:] = torch.minimum(w[n - hi_ramp:], torch.sin(0.5 * math.pi * (p + 0.5) / hi_ramp) ** 2)
    return w


def _shared(tiles_starts: list[tuple[int, int]], start: int, stop: int) -> tuple[int, int]:
    """Pixels this tile shares with its lower and upper neighbours along one axis."""
    lo = max((s2 - start for s1, s2 in tiles_starts if s1 < start < s2), default=0)
    hi = max((stop - s1 for s1, s2 in tiles_starts if start < s1 < stop), default=0)
    return lo, hi


def blend_weights(tiles: list[Tile], height: int, width: int, scale: int = 1) -> list[torch.Tensor]:
    """Per-tile (1, s*h, s*w) weights at output scale; a weighted sum over tiles divided by the summed
    weights reassembles the frame, fading each tile out over the region it shares with a neighbour."""
    ys = sorted({(t.y0, t.y1) for t in tiles})
    xs = sorted({(t.x0, t.x1) for t in tiles})
    out = []
    for t in tiles:
        lo_y, hi_y = _shared(ys, t.y0, t.y1)
        lo_x, hi_x = _shared(xs, t.x0, t.x1)
        wy = _profile(t.y0 * scale, t.y1 * scale, height * scale, lo_y * scale, hi_y * scale)
        wx = _profile(t.x0 * scale, t.x1 * scale, width * scale, lo_x * scale, hi_x * scale)
        out.append((wy[:, None] * wx[None, :]).unsqueeze(0))
    return out
