"""The speed paths give the same results: the fast deformable conv, feature reuse, channels-last,
torch.compile, batching, and the guarded CUDA-only paths (pinned memory)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edvr_cli import load_model
from edvr_cli.model.arch import dcn as dcn_module
from edvr_cli.model.arch.dcn import (
    deform_conv2d_pure,
    deform_conv2d_reference,
    get_dcn_backend,
    set_dcn_backend,
    torchvision_ops_available,
)
from reference import restore_clip_plain
from edvr_cli.engine.restorer import StreamRestorer

from conftest import GOLDEN, golden_cases

CASES = golden_cases()



def _dcn_inputs(seed=0, b=2, c=16, h=9, w=11, g=4, cout=8, ho=None, wo=None, spread=3.0):
    gen = torch.Generator().manual_seed(seed)
    ho, wo = ho or h, wo or w
    x = torch.rand(b, c, h, w, generator=gen)
    offset = torch.randn(b, 2 * g * 9, ho, wo, generator=gen) * spread  # many samples fall outside
    mask = torch.rand(b, g * 9, ho, wo, generator=gen)
    weight = torch.randn(cout, c, 3, 3, generator=gen)
    bias = torch.randn(cout, generator=gen)
    return x, offset, weight, bias, mask


# -- the fast deformable conv -----------------------------------------------------------------------

@pytest.mark.parametrize("padding,stride,dilation", [(1, 1, 1), (0, 1, 1), (1, 2, 1), (2, 1, 2)])
def test_fast_dcn_matches_reference_and_torchvision(padding, stride, dilation):
    h, w = 9, 11
    ho = (h + 2 * padding - 2 * dilation - 1) // stride + 1
    wo = (w + 2 * padding - 2 * dilation - 1) // stride + 1
    x, offset, weight, bias, mask = _dcn_inputs(h=h, w=w, ho=ho, wo=wo)
    args = (padding, stride, dilation)
    ref = deform_conv2d_reference(x, offset, weight, bias, mask, *args)
    out = deform_conv2d_pure(x, offset, weight, bias, mask, *args)
    assert (out - ref).abs().max().item() < 1e-4
    if torchvision_ops_available():
        from torchvision.ops import deform_conv2d

        tv = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
        assert (out - tv).abs().max().item() < 1e-4


def test_fast_dcn_integer_offsets_and_borders():
    """Samples exactly on pixels, on the border and just outside it (the zero-padding edge cases)."""
    x, _, weight, bias, mask = _dcn_inputs(seed=3, h=6, w=7)
    offset = torch.randint(-7, 8, (2, 2 * 4 * 9, 6, 7)).float()
    offset[0, :, 0, 0] = -1.0  # corner taps land exactly one pixel outside
    ref = deform_conv2d_reference(x, offset, weight, bias, mask)
    assert (deform_conv2d_pure(x, offset, weight, bias, mask) - ref).abs().max().item() < 1e-4


def test_fast_dcn_channels_last_in_channels_last_out():
    x, offset, weight, bias, mask = _dcn_inputs(seed=4)
    ref = deform_conv2d_pure(x, offset, weight, bias, mask)
    out = deform_conv2d_pure(x.contiguous(memory_format=torch.channels_last), offset, weight, bias, mask)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert (out - ref).abs().max().item() < 1e-5


def test_fast_dcn_gradients_match_reference():
    """Training on CPU uses this backend: its gradients are the reference formulation's."""
    inputs = _dcn_inputs(seed=5, b=1, c=8, h=5, w=6, g=2, cout=4, spread=1.3)
    grads = []
    for fn in (deform_conv2d_pure, deform_conv2d_reference):
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        out = fn(*leaves)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append([t.grad for t in leaves])
    for a, b in zip(*grads):
        assert (a - b).abs().max().item() < 1e-3 * max(1.0, b.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fast_dcn_half_precision_keeps_coordinates_exact(dtype):
    """On a wide image, a coordinate in half precision would be off by pixels (bf16 spacing is 2 at
    300-512); the sampling grid is built in float32, so only the values' rounding remains."""
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(1, 8, 4, 400, generator=gen)
    offset = torch.rand(1, 2 * 2 * 9, 4, 400, generator=gen) * 0.8 + 0.1
    mask = torch.ones(1, 2 * 9, 4, 400)
    weight = torch.randn(4, 8, 3, 3, generator=gen) / 8
    ref = deform_conv2d_pure(x, offset, weight, None, mask)
    with torch.autocast("cpu", dtype=dtype):
        half = deform_conv2d_pure(x.to(dtype), offset.to(dtype), weight, None, mask.to(dtype))
    assert half.dtype == dtype
    rel = (half.float() - ref).abs().max() / ref.abs().max()
    assert rel.item() < 0.03


def test_backend_names_and_auto_per_device(backend):
    backend("fast")
    assert get_dcn_backend() == "fast"
    backend("auto")
    assert get_dcn_backend("cpu") == "pure"
    assert get_dcn_backend(torch.device("cpu")) == "pure"
    expected_cuda = "torchvision" if torchvision_ops_available("cuda") else "pure"
    assert get_dcn_backend("cuda") == expected_cuda  # resolution only: no CUDA device needed


# 'fast' is 'pure' by another name (test_model_golden.py runs 'pure' on every case): one case per kind
FAST_CASES = [c for c in CASES if c["name"] in ("basicsr_sr_tsa", "basicsr_srblur_predeblur", "original_stage2_hrin")]


@pytest.mark.parametrize("case", FAST_CASES, ids=[c["name"] for c in FAST_CASES])
def test_golden_case_fast_backend(case, backend):
    backend("fast")
    model = load_model(GOLDEN / f"{case['name']}.pth")
    io = torch.load(GOLDEN / f"{case['name']}.io.pt", weights_only=True)
    with torch.no_grad():
        out = model(io["input"])
        assert (out - io["output"]).abs().max().item() < 1e-4
        model.to(memory_format=torch.channels_last)
        out_cl = model(io["input"])
    assert (out_cl - io["output"]).abs().max().item() < 1e-4


# -- the streaming restorer's speed paths -----------------------------------------------------------

class _CountingExtract:
    """Wraps ``model.extract_features``; identifies each crop's frame by its constant value."""

    def __init__(self, model):
        self.inner = model.extract_features
        self.frames: list[int] = []
        self.calls = 0

    def __call__(self, crops):
        self.calls += 1
        self.frames += [round(float(c[0, 0, 0]) * 255) for c in crops]
        return self.inner(crops)


def _frames(n, h, w, seed=0):
    """Frames whose top-left pixel of every tile says which frame it is (value i / 255)."""
    gen = torch.Generator().manual_seed(seed)
    frames = torch.rand(n, h, w, 3, generator=gen)
    for i in range(n):
        frames[i, ::8, ::8, 0] = i / 255  # every 8th pixel: each tile's corner too
    return [f.numpy() for f in frames]


@pytest.mark.parametrize("tile,batch", [(0, 1), (0, 3), (16, 2)])
def test_each_frame_extracted_once_per_tile(tile, batch):
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    counter = _CountingExtract(model)
    model.extract_features = counter
    n = 6
    r = StreamRestorer(model, tile=tile, tile_overlap=8, batch=batch)
    outs = list(r.run(_frames(n, 24, 32)))
    assert len(outs) == n
    tiles = len(r.tiles)
    assert tiles == (1 if tile == 0 else 6)
    assert sorted(counter.frames) == sorted(list(range(n)) * tiles)  # each frame once per tile
    assert r.extracted == n * tiles


def test_without_cache_features_are_recomputed():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    counter = _CountingExtract(model)
    model.extract_features = counter
    list(StreamRestorer(model, cache_features=False, batch=1).run(_frames(4, 24, 32)))
    assert len(counter.frames) > 4 * 3


def _plain_float(model, frames, padding="reflection_circle"):
    t = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames])
    return restore_clip_plain(t, model, padding).clamp(0, 1).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("kw", [
    dict(),                                          # defaults on CPU: cache, channels-last
    dict(channels_last=False, batch=3),
    dict(cache_features=False, channels_last=False),
    dict(pin_memory=True),                           # CUDA only: ignored on CPU
])
def test_stream_equals_plain_loop_in_float(kw, backend):
    """With 16-bit output the comparison is at 1/65535: the streaming result is the plain loop's in float32."""
    backend("pure")
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames = _frames(5, 24, 32, seed=1)
    ref = _plain_float(model, frames)
    out = np.stack(list(StreamRestorer(model, out_bits=16, **kw).run(frames))).astype(np.float64) / 65535
    assert np.abs(out - ref).max() < 0.5 / 65535 + 1e-5


def test_channels_last_default_and_guarded_pinned_memory():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    r = StreamRestorer(model, device="cpu", pin_memory=True)
    assert r.channels_last and not r.pin_memory  # pinned host memory only with a CUDA device
    assert model.conv_first.weight.is_contiguous(memory_format=torch.channels_last)
    assert not StreamRestorer(model, channels_last=False).channels_last


def test_profile_counts_stage_seconds():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    r = StreamRestorer(model, profile=True)
    list(r.run(_frames(3, 24, 32)))
    assert all(r.stage_seconds[k] > 0 for k in ("upload", "extract", "fuse", "quantise"))


def test_compiled_halves_equal_eager(monkeypatch, backend):
    """``compile=True`` goes through torch.compile (dynamo graph capture of both halves, the
    deformable conv included); the 'aot_eager' backend keeps the test fast (inductor compiles the
    deformable conv in test_model_golden.py). 'auto' resolves the backend inside the traced graph."""
    backend("auto")
    real_compile = torch.compile
    compiled = []

    def compile_aot_eager(fn, **kw):
        compiled.append(fn.__name__)
        return real_compile(fn, backend="aot_eager", fullgraph=True, **kw)

    monkeypatch.setattr(torch, "compile", compile_aot_eager)
    torch._dynamo.reset()
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames = _frames(5, 24, 32, seed=2)
    eager = np.stack(list(StreamRestorer(model, out_bits=16).run(frames)))
    out = np.stack(list(StreamRestorer(model, out_bits=16, compile=True).run(frames)))
    assert compiled == ["extract_features", "fuse_and_reconstruct"]
    assert np.abs(out.astype(int) - eager.astype(int)).max() <= 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_paths_equal_cpu(precision):
    """Pinned memory, non-blocking copies, one batch in flight, channels-last, autocast: close to CPU fp32."""
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames = _frames(6, 24, 32, seed=4)
    ref = np.stack(list(StreamRestorer(model, channels_last=False).run(frames))).astype(int)
    gpu_model = load_model(GOLDEN / "basicsr_sr_tsa.pth", device="cuda")
    r = StreamRestorer(gpu_model, device="cuda", precision=precision, batch=2, tile=16, tile_overlap=8)
    assert r.pin_memory
    out = np.stack(list(r.run(frames))).astype(int)
    assert np.abs(out - ref).max() <= (1 if precision == "fp32" else 8)


def test_auto_batch_and_its_fallbacks():
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    several = torch.get_num_threads() > 1  # several windows per forward when there are threads to share them
    assert StreamRestorer(model).batch == (4 if several else 1)
    assert StreamRestorer(model, batch=1).batch == 1
    r = StreamRestorer(model, tile=None)
    r._plan(4320, 7680)  # 8K input: four windows would not fit whole, nor does one
    assert r.batch == 1 and r.tile_size > 0


def test_out_of_memory_with_several_windows_continues_one_by_one(monkeypatch, backend):
    """A CUDA out-of-memory error with several windows per forward drops to one window per forward
    (simulated on CPU: the handler only acts for CUDA, so the fake error says it came from there)."""
    backend("pure")
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames = _frames(5, 24, 32, seed=5)
    ref = np.stack(list(StreamRestorer(model, batch=1).run(frames)))
    r = StreamRestorer(model, batch=3)
    real = r._run_windows
    calls = []

    def flaky(slots, windows):
        calls.append(len(windows))
        r.device = torch.device("cpu")
        if len(windows) > 1:
            r.device = torch.device("cuda")
            raise torch.OutOfMemoryError("simulated")
        return real(slots, windows)

    monkeypatch.setattr(r, "_run_windows", flaky)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    out = np.stack(list(r.run(frames)))
    assert calls[0] == 3 and set(calls[1:]) == {1}
    assert r.batch == 1 and r.oom_retries == 1
    assert np.array_equal(out, ref)


def test_out_of_memory_frees_the_failed_attempt_before_emptying_the_cache(monkeypatch, backend):
    """The cache is emptied once the failed attempt's tensors are gone (inside the handler its traceback
    still holds them, and empty_cache could not return their memory)."""
    import weakref

    backend("pure")
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    r = StreamRestorer(model, batch=3)
    real = r._run_windows
    held: list[weakref.ref] = []

    def flaky(slots, windows):
        r.device = torch.device("cpu")
        if len(windows) > 1:
            activations = torch.zeros(1000)  # what the failed forward had allocated
            held.append(weakref.ref(activations))
            r.device = torch.device("cuda")
            raise torch.OutOfMemoryError("simulated")
        return real(slots, windows)

    alive: list[bool] = []
    monkeypatch.setattr(r, "_run_windows", flaky)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: alive.append(held[-1]() is not None))
    list(r.run(_frames(5, 24, 32, seed=5)))
    assert alive == [False]


def test_compiling_leaves_room_for_many_frame_sizes(monkeypatch):
    """dynamo keeps 8 graphs per function by default, shared by every model and frame size: a batch of
    files of a few sizes would silently fall back to eager; compiling raises the limit."""
    import torch._dynamo

    from edvr_cli.engine.restorer import COMPILED_GRAPHS

    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    monkeypatch.setattr(config, name, 8)
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    StreamRestorer(load_model(GOLDEN / "basicsr_sr_tsa.pth"), compile=True)
    assert getattr(config, name) >= COMPILED_GRAPHS


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback where torchvision cannot run on CUDA")
def test_the_torchvision_probe_runs_on_the_device_it_answers_for(recwarn):
    """'auto' on CUDA asks whether torchvision's op runs there (a CPU-only torchvision build runs on the
    CPU only): where it cannot, the pure formulation is used, with one warning, instead of failing."""
    from edvr_cli.model.arch import dcn

    dcn.torchvision_ops_available.cache_clear()
    try:
        assert get_dcn_backend("cuda") == "pure"
        assert any("unavailable on cuda" in str(w.message) for w in recwarn)
    finally:
        dcn.torchvision_ops_available.cache_clear()


def test_out_of_memory_moving_frames_is_retried_once(monkeypatch, backend):
    """An upload or a quantisation that runs out of GPU memory is tried once more with the cache emptied."""
    backend("pure")
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    frames = _frames(4, 24, 32, seed=3)
    ref = np.stack(list(StreamRestorer(model).run(frames)))
    r = StreamRestorer(model)
    emptied: list[int] = []
    for name in ("_to_device", "_quantize"):
        real = getattr(r, name)
        failed: list[bool] = []

        def once(arg, real=real, failed=failed):
            if not failed:
                failed.append(True)
                r.device = torch.device("cuda")
                raise torch.OutOfMemoryError("simulated")
            r.device = torch.device("cpu")
            return real(arg)

        monkeypatch.setattr(r, name, once)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    out = np.stack(list(r.run(frames)))
    assert np.array_equal(out, ref) and len(emptied) == 2 and r.oom_retries == 2
