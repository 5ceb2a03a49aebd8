"""The EDVR implementation reproduces every upstream reference case from the checkpoint file alone."""

from __future__ import annotations

import pytest
import torch

from edvr_cli import load_model
from edvr_cli.model.arch import deform_conv2d_pure, get_dcn_backend, torchvision_ops_available
from edvr_cli.model.arch import dcn as dcn_module

from conftest import GOLDEN, golden_cases

CASES = golden_cases()



@pytest.mark.parametrize("be", ["torchvision", "pure"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case, be, backend):
    if be == "torchvision" and not torchvision_ops_available():
        pytest.skip("torchvision's compiled ops are not loadable here")
    backend(be)
    model = load_model(GOLDEN / f"{case['name']}.pth")
    io = torch.load(GOLDEN / f"{case['name']}.io.pt", weights_only=True)
    with torch.no_grad():
        out = model(io["input"])
    assert tuple(out.shape) == tuple(case["output_shape"])
    assert (out - io["output"]).abs().max().item() < 1e-4


def test_offsets_matter():
    """The fixtures exercise deformable sampling: zeroing the predicted offsets moves the output."""
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    io = torch.load(GOLDEN / "basicsr_sr_tsa.io.pt", weights_only=True)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "conv_offset"):
                m.conv_offset.weight.zero_()
                m.conv_offset.bias.zero_()
        out = model(io["input"])
    assert (out - io["output"]).abs().max().item() > 1e-3


def _random_dcn_inputs(seed=0, b=2, c=16, h=9, w=11, g=4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen)
    offset = torch.randn(b, 2 * g * 9, h, w, generator=gen) * 3  # large: many samples fall outside
    mask = torch.rand(b, g * 9, h, w, generator=gen)
    weight = torch.randn(8, c, 3, 3, generator=gen)
    bias = torch.randn(8, generator=gen)
    return x, offset, weight, bias, mask


@pytest.mark.skipif(not torchvision_ops_available(), reason="torchvision ops unavailable")
def test_pure_dcn_matches_torchvision_on_random_inputs():
    from torchvision.ops import deform_conv2d

    x, offset, weight, bias, mask = _random_dcn_inputs()
    ref = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    ours = deform_conv2d_pure(x, offset, weight, bias, mask, padding=1)
    assert (ref - ours).abs().max().item() < 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_pure_dcn_under_autocast(dtype):
    x, offset, weight, bias, mask = _random_dcn_inputs(seed=1)
    ref = deform_conv2d_pure(x, offset, weight, bias, mask, padding=1)
    with torch.autocast("cpu", dtype=dtype):
        half = deform_conv2d_pure(x.to(dtype), offset.to(dtype), weight, bias, mask.to(dtype), padding=1)
    assert half.dtype == dtype
    rel = (half.float() - ref).abs().max() / ref.abs().max()
    assert rel.item() < 0.05


def test_model_under_cpu_autocast_bf16(backend):
    backend("pure")
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    io = torch.load(GOLDEN / "basicsr_sr_tsa.io.pt", weights_only=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(io["input"]).float()
    assert (out - io["output"]).abs().max().item() < 0.1


@pytest.mark.slow
def test_pure_dcn_under_torch_compile(backend):
    backend("pure")
    x, offset, weight, bias, mask = _random_dcn_inputs(seed=2, b=1, c=8, h=6, w=7, g=2)
    compiled = torch.compile(deform_conv2d_pure, fullgraph=True)  # inductor: really compiles
    ref = deform_conv2d_pure(x, offset, weight, bias, mask, padding=1)
    out = compiled(x, offset, weight, bias, mask, padding=1)
    assert (ref - out).abs().max().item() < 1e-5


def test_backend_choice(backend):
    backend("pure")
    assert get_dcn_backend() == "pure"
    with pytest.raises(ValueError):
        backend("cuda-magic")


def test_fallback_to_pure_when_torchvision_ops_fail(monkeypatch, backend):
    """When torchvision's compiled ops cannot load, 'auto' on CUDA picks the pure backend with one warning."""
    import builtins

    real_import = builtins.__import__

    def broken_import(name, *args, **kwargs):
        if name.startswith("torchvision"):
            raise ImportError("simulated: torchvision ops do not match this torch")
        return real_import(name, *args, **kwargs)

    dcn_module.torchvision_ops_available.cache_clear()
    monkeypatch.setattr(builtins, "__import__", broken_import)
    try:
        backend("auto")
        assert get_dcn_backend() == "pure"  # the CPU's choice: no probe needed
        with pytest.warns(RuntimeWarning, match="pure-PyTorch"):
            assert get_dcn_backend("cuda") == "pure"  # probed on the device it answers for
        model = load_model(GOLDEN / "basicsr_sr_notsa.pth")
        io = torch.load(GOLDEN / "basicsr_sr_notsa.io.pt", weights_only=True)
        with torch.no_grad():
            assert (model(io["input"]) - io["output"]).abs().max().item() < 1e-4
    finally:
        monkeypatch.undo()
        dcn_module.torchvision_ops_available.cache_clear()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case_cuda(case, monkeypatch):
    """Full float32 on the GPU: TF32 convolutions and matmuls (cuDNN's default on Ampere and later) are
    switched off for the comparison, as they round to 10-bit mantissas (errors of 1e-4 to 2e-3)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    model = load_model(GOLDEN / f"{case['name']}.pth", device="cuda")
    io = torch.load(GOLDEN / f"{case['name']}.io.pt", weights_only=True)
    with torch.no_grad():
        out = model(io["input"].cuda()).cpu()
    assert (out - io["output"]).abs().max().item() < 1e-4


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES[:2], ids=[c["name"] for c in CASES[:2]])
def test_golden_case_cuda_under_tf32(case, monkeypatch):
    """With TF32 on (what users get by default), within the emulated error."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    model = load_model(GOLDEN / f"{case['name']}.pth", device="cuda")
    io = torch.load(GOLDEN / f"{case['name']}.io.pt", weights_only=True)
    with torch.no_grad():
        out = model(io["input"].cuda()).cpu()
    assert (out - io["output"]).abs().max().item() < 5e-3
