"""The streaming restorer equals the plain per-window loop, with and without feature reuse and batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edvr_cli import load_model
from reference import restore_frames_plain
from edvr_cli.engine.memory import auto_tile
from edvr_cli.engine.restorer import StreamRestorer

from conftest import GOLDEN


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _plain(model, frames: torch.Tensor, padding: str) -> np.ndarray:
    return restore_frames_plain(frames, model, padding).numpy()


def _stream(model, frames: torch.Tensor, **kw) -> np.ndarray:
    r = StreamRestorer(model, **kw)
    return np.stack(list(r.run(f.permute(1, 2, 0).numpy() for f in frames)))


@pytest.mark.parametrize("name,padding,n,size", [
    ("basicsr_sr_tsa", "reflection_circle", 9, (24, 32)),
    ("basicsr_sr_tsa", "replicate", 3, (22, 30)),     # sides not multiples of 4: padded and cropped
    ("basicsr_sr_7frames", "reflection", 2, (16, 24)),  # clip shorter than the window
    ("basicsr_deblur_hrin", "replicate", 6, (40, 56)),  # hr_in: multiples of 16
])
@pytest.mark.parametrize("batch,cache", [(1, True), (3, True), (1, False)])
def test_stream_equals_plain_loop(name, padding, n, size, batch, cache):
    model = load_model(GOLDEN / f"{name}.pth")
    gen = torch.Generator().manual_seed(n)
    frames = torch.rand(n, 3, *size, generator=gen)
    ref = _plain(model, frames, padding)
    out = _stream(model, frames, padding=padding, batch=batch, cache_features=cache)
    assert out.shape == (n, size[0] * model.scale, size[1] * model.scale, 3)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_uint8_and_uint16_inputs_and_outputs():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames8 = np.random.default_rng(0).integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    out8 = list(StreamRestorer(model).run(frames8))
    ref = _plain(model, torch.from_numpy(frames8).permute(0, 3, 1, 2).float() / 255, "reflection_circle")
    assert np.abs(np.stack(out8).astype(int) - ref.astype(int)).max() <= 1
    out16 = list(StreamRestorer(model, out_bits=16).run(frames8.astype(np.uint16) * 257))
    assert out16[0].dtype == np.uint16
    assert np.abs(np.stack(out16).astype(int) // 257 - ref.astype(int)).max() <= 1


def test_tiled_close_to_untiled():
    """Tiles with a decent overlap blend to nearly the untiled result (no seams)."""
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    gen = torch.Generator().manual_seed(3)
    base = torch.rand(1, 3, 12, 16, generator=gen)
    frames = torch.nn.functional.interpolate(base, size=(64, 96), mode="bicubic", align_corners=False).clamp(0, 1)
    frames = torch.cat([frames.roll(k, dims=-1) for k in range(5)])  # smooth content moving sideways
    full = _stream(model, frames, tile=0)
    tiled = _stream(model, frames, tile=48, tile_overlap=24)
    narrow = _stream(model, frames, tile=32, tile_overlap=4)
    assert psnr(tiled, full) > 40
    assert psnr(tiled, full) > psnr(narrow, full)


def test_mismatched_frame_size_is_an_error():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames = [np.zeros((24, 32, 3), np.float32), np.zeros((28, 32, 3), np.float32)]
    with pytest.raises(ValueError, match="stream began"):
        list(StreamRestorer(model).run(frames))


def test_empty_stream():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    assert list(StreamRestorer(model).run([])) == []


def test_auto_tile_cpu():
    from edvr_cli.model.descriptor import ModelDescriptor

    model = ModelDescriptor.of(load_model(GOLDEN / "basicsr_sr_tsa.pth"))
    assert auto_tile(64, 64, model, torch.device("cpu")) == 0
    big = auto_tile(4320, 7680, model, torch.device("cpu"))
    assert 0 < big < 4320 and big % model.multiple_of == 0


@pytest.mark.parametrize("batch", [2, 3])
def test_batches_follow_a_grid_of_clip_indices(batch):
    """Batches hold the centres of one block of clip indices: a stream resumed on the grid gives the whole
    clip's outputs bitwise; resumed off it, its first batch is cut short and the rest are the whole clip's."""
    from edvr_cli.model.descriptor import ModelDescriptor

    model = ModelDescriptor.of(load_model(GOLDEN / "basicsr_sr_tsa.pth"))
    frames = [f for f in np.random.default_rng(7).random((11, 24, 32, 3), dtype=np.float32)]
    whole = list(StreamRestorer(model, batch=batch, out_bits=16).run(frames))
    for start in (2 * batch, 2 * batch + 1):
        first = start - 4
        part = list(StreamRestorer(model, batch=batch, out_bits=16).run(frames[first:], first_index=first,
                                                                        start=start))
        assert len(part) == len(whole) - start
        grid = -(-start // batch) * batch  # the first grid point at or after start
        assert all(np.array_equal(a, b) for a, b in zip(part[grid - start:], whole[grid:], strict=True))


def test_the_restorer_takes_the_descriptors_facts():
    from edvr_cli.model.descriptor import ModelDescriptor

    d = ModelDescriptor.of(load_model(GOLDEN / "basicsr_deblur_hrin.pth"))
    r = StreamRestorer(d)
    assert (r.scale, r.multiple_of, r.window, r.padding) == (d.scale, d.multiple_of, d.num_frame, d.padding)
    assert StreamRestorer(d, padding="circle").padding == "circle"
    import dataclasses

    with pytest.raises(ValueError, match="half precision"):
        StreamRestorer(dataclasses.replace(d, supports_half=False), precision="bf16")
