"""Pure logic: temporal window indices and tile plans / blending weights."""

from __future__ import annotations

import pytest
import torch

from edvr_cli.engine.tiling import Tile, blend_weights, plan_tiles
from edvr_cli.model.padding import PADDINGS, lookahead, window_indices


@pytest.mark.parametrize(
    "padding,start,end",
    [
        ("replicate", [0, 0, 0, 1, 2], [7, 8, 9, 9, 9]),
        ("reflection", [2, 1, 0, 1, 2], [7, 8, 9, 8, 7]),
        ("reflection_circle", [4, 3, 0, 1, 2], [7, 8, 9, 6, 5]),
        ("circle", [3, 4, 0, 1, 2], [7, 8, 9, 5, 6]),
    ],
)
def test_published_edge_padding(padding, start, end):
    assert window_indices(0, 10, 5, padding) == start
    assert window_indices(9, 10, 5, padding) == end
    assert window_indices(5, 10, 5, padding) == [3, 4, 5, 6, 7]


def test_seven_frame_window():
    assert window_indices(0, 20, 7, "reflection_circle") == [6, 5, 4, 0, 1, 2, 3]
    assert window_indices(1, 20, 7, "replicate") == [0, 0, 0, 1, 2, 3, 4]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_short_clips_stay_in_range(padding, n):
    for c in range(n):
        idx = window_indices(c, n, 5, padding)
        assert len(idx) == 5 and idx[2] == c
        assert all(0 <= i < n for i in idx)


@pytest.mark.parametrize("padding", PADDINGS)
def test_lookahead_bounds_every_window(padding):
    """A window never needs a frame more than lookahead() past its centre, nor before centre - lookahead()."""
    for window in (3, 5, 7):
        for n in range(1, 15):
            for c in range(n):
                idx = window_indices(c, n, window, padding)
                assert max(idx) <= c + lookahead(window) and min(idx) >= c - lookahead(window)
                # before the end is known, a lower bound on the length gives the same window
                if c + lookahead(window) < n:
                    assert window_indices(c, c + lookahead(window) + 1, window, padding) == idx


def test_bad_arguments():
    with pytest.raises(ValueError):
        window_indices(0, 10, 5, "mirror")
    with pytest.raises(ValueError):
        window_indices(0, 10, 4)
    with pytest.raises(ValueError):
        window_indices(10, 10, 5)


def test_single_tile_when_frame_fits():
    assert plan_tiles(48, 64, 0, 8, 4) == [Tile(0, 48, 0, 64)]
    assert plan_tiles(48, 64, 64, 8, 4) == [Tile(0, 48, 0, 64)]


@pytest.mark.parametrize("h,w,tile,overlap,m", [(48, 64, 24, 8, 4), (64, 96, 32, 16, 16), (100, 36, 20, 6, 4), (8, 200, 16, 4, 4)])
def test_tiles_cover_frame_with_overlap(h, w, tile, overlap, m):
    tiles = plan_tiles(h, w, tile, overlap, m)
    cover = torch.zeros(h, w, dtype=torch.int32)
    for t in tiles:
        assert (t.y1 - t.y0) % m == 0 and (t.x1 - t.x0) % m == 0
        assert t.y1 - t.y0 <= tile and t.x1 - t.x0 <= tile
        cover[t.y0:t.y1, t.x0:t.x1] += 1
    assert cover.min() >= 1
    xs = sorted({(t.x0, t.x1) for t in tiles})
    for (a0, a1), (b0, b1) in zip(xs, xs[1:]):
        assert a1 - b0 >= min(overlap, tile - m)


@pytest.mark.parametrize("scale", [1, 4])
def test_blend_weights_partition_of_unity(scale):
    h, w = 48, 72
    tiles = plan_tiles(h, w, 24, 8, 4)
    weights = blend_weights(tiles, h, w, scale)
    acc = torch.zeros(1, h * scale, w * scale)
    for t, wt in zip(tiles, weights):
        assert wt.shape == (1, (t.y1 - t.y0) * scale, (t.x1 - t.x0) * scale)
        assert wt.min() > 0
        acc[:, t.y0 * scale:t.y1 * scale, t.x0 * scale:t.x1 * scale] += wt
    assert torch.allclose(acc, torch.ones_like(acc), atol=1e-5)


def test_blending_is_smooth():
    """Weights fade gradually across an overlap: no step larger than a few percent per pixel."""
    tiles = plan_tiles(32, 64, 32, 16, 4)
    weights = blend_weights(tiles, 32, 64, 4)
    row = weights[0][0, 0]
    assert (row[1:] - row[:-1]).abs().max() < 0.05


def test_frame_must_be_padded():
    with pytest.raises(ValueError):
        plan_tiles(30, 64, 16, 4, 4)
