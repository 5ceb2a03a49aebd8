"""MATLAB-style bicubic imresize: properties and agreement with a direct loop implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edvr_cli.lab.imresize import cubic, imresize, resize_matrix


def _reference_resize_1d(signal: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB's algorithm written out sample by sample (slow, obviously correct)."""
    n = len(signal)
    out_n = math.ceil(n * scale)
    width = 4.0 / scale if (scale < 1 and antialias) else 4.0
    out = np.zeros(out_n)
    for i in range(1, out_n + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + j for j in range(math.ceil(width) + 2)]
        ws = []
        for t in taps:
            d = u - t
            if scale < 1 and antialias:
                ws.append(scale * float(cubic(torch.tensor(d * scale, dtype=torch.float64))))
            else:
                ws.append(float(cubic(torch.tensor(d, dtype=torch.float64))))
        total = sum(ws)
        acc = 0.0
        for t, wgt in zip(taps, ws, strict=True):
            k = t - 1
            while k < 0 or k >= n:  # symmetric padding
                k = -k - 1 if k < 0 else 2 * n - 1 - k
            acc += wgt / total * signal[k]
        out[i - 1] = acc
    return out


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 2.0, 4.0])
def test_matches_loop_reference(scale):
    rng = np.random.default_rng(1)
    x = rng.random(23)
    m = resize_matrix(len(x), math.ceil(len(x) * scale), scale)
    np.testing.assert_allclose(m.numpy() @ x, _reference_resize_1d(x, scale), atol=1e-12)


def test_constant_stays_constant_and_shapes():
    img = torch.full((2, 3, 37, 50), 0.3)
    down = imresize(img, 0.25)
    assert down.shape == (2, 3, 10, 13)  # ceil, as MATLAB
    assert torch.allclose(down, torch.full_like(down, 0.3), atol=1e-6)
    up = imresize(img, 4)
    assert up.shape == (2, 3, 148, 200)
    assert torch.allclose(up, torch.full_like(up, 0.3), atol=1e-6)
    assert imresize(img, size=(20, 30)).shape == (2, 3, 20, 30)


def test_numpy_hwc_round_trip_layout():
    img = np.random.default_rng(0).random((16, 24, 3)).astype(np.float32)
    out = imresize(img, 0.5)
    assert out.shape == (8, 12, 3) and out.dtype == np.float32
    ref = imresize(torch.from_numpy(img).permute(2, 0, 1), 0.5).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, ref)
    assert imresize(img[..., 0], 0.5).shape == (8, 12)


def test_linear_ramp_preserved_in_interior():
    # a symmetric, normalised kernel reproduces linear functions: x4 down of 0..n-1 samples at u - 1
    x = torch.arange(64, dtype=torch.float64)
    out = resize_matrix(64, 16, 0.25) @ x
    u = torch.arange(1, 17, dtype=torch.float64) * 4 - 1.5  # 1-based input positions
    assert torch.allclose(out[3:-3], (u - 1)[3:-3], atol=1e-9)


def test_antialiasing_suppresses_aliasing():
    # a period-3 stripe pattern: x4 down with antialiasing is almost flat (its mean), without it aliases
    stripes = torch.tensor([0.0, 0.0, 1.0] * 22)[None]
    aa = imresize(stripes, 0.25)
    raw = imresize(stripes, 0.25, antialiasing=False)
    assert (aa[:, 2:-2] - 1 / 3).abs().max() < 0.01
    assert (raw[:, 2:-2] - 1 / 3).abs().max() > 0.3


def test_matrix_rows_sum_to_one():
    for n_in, n_out, s in [(10, 3, 0.25), (7, 28, 4.0), (5, 2, 0.4)]:
        m = resize_matrix(n_in, n_out, s)
        assert torch.allclose(m.sum(1), torch.ones(n_out, dtype=torch.float64))


def test_known_value_x4_down():
    # x4 down with antialiasing: the first output sample of a ramp 0..15, derived by hand from the
    # kernel (positions 1..8 about u=2.5 mirrored into the signal) equals the loop reference
    x = np.arange(16, dtype=np.float64)
    value = float(resize_matrix(16, 4, 0.25)[0] @ torch.from_numpy(x))
    assert value == pytest.approx(_reference_resize_1d(x, 0.25)[0], abs=1e-12)
    assert 0.9 < value < 1.6  # pulled up from the ramp's 1.5 by the mirrored edge
