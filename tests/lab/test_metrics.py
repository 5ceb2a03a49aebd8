"""PSNR / SSIM as BasicSR computes them, checked against scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edvr_cli.lab.metrics import calculate_psnr, calculate_ssim, rgb2y

skimage_metrics = pytest.importorskip("skimage.metrics")


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (40, 52, 3)).astype(np.uint8)
    noisy = np.clip(gt.astype(np.int32) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    return gt, noisy


def test_psnr_matches_skimage(pair):
    gt, pred = pair
    ref = skimage_metrics.peak_signal_noise_ratio(gt, pred, data_range=255)
    assert calculate_psnr(pred, gt) == pytest.approx(ref, abs=1e-9)


def test_psnr_identical_is_inf_and_known_value():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert calculate_psnr(a, a) == math.inf
    b = a.copy()
    b[...] = 110  # mse 100
    assert calculate_psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))


def test_ssim_matches_skimage_gaussian(pair):
    gt, pred = pair
    ref = skimage_metrics.structural_similarity(
        gt, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2
    )
    assert calculate_ssim(pred, gt) == pytest.approx(ref, abs=1e-6)
    assert calculate_ssim(gt, gt) == pytest.approx(1.0)


def test_crop_border_and_torch_input(pair):
    gt, pred = pair
    ref = skimage_metrics.peak_signal_noise_ratio(gt[4:-4, 4:-4], pred[4:-4, 4:-4], data_range=255)
    assert calculate_psnr(torch.from_numpy(pred), gt, crop_border=4) == pytest.approx(ref)
    ref_ssim = skimage_metrics.structural_similarity(
        gt[4:-4, 4:-4], pred[4:-4, 4:-4], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=2,
    )
    assert calculate_ssim(pred, gt, crop_border=4) == pytest.approx(ref_ssim, abs=1e-6)


def test_y_channel_is_matlab_bt601():
    # MATLAB: rgb2ycbcr of pure white/black -> Y 235 / 16
    assert rgb2y(np.array([[255.0, 255.0, 255.0]]))[0] == pytest.approx(235.0, abs=1e-3)
    assert rgb2y(np.array([[0.0, 0.0, 0.0]]))[0] == pytest.approx(16.0)
    red = np.array([[255.0, 0.0, 0.0]])
    assert rgb2y(red)[0] == pytest.approx(16 + 65.481)
    assert rgb2y(red[..., ::-1][..., ::-1])[0] == pytest.approx(rgb2y(red)[0])  # BGR input: flip it first


def test_y_channel_psnr(pair):
    gt, pred = pair
    ref = skimage_metrics.peak_signal_noise_ratio(rgb2y(gt), rgb2y(pred), data_range=255)
    assert calculate_psnr(pred, gt, y_channel=True) == pytest.approx(ref)
    assert 0 < calculate_ssim(pred, gt, y_channel=True) < 1


def test_shape_mismatch_is_an_error(pair):
    gt, _ = pair
    with pytest.raises(ValueError):
        calculate_psnr(gt, gt[:-1])
