"""GPU checks that only a GPU can answer, in one run (under 5 minutes on one GPU); one line per check.

    python benchmarks/gpu_check.py            # every check; exit 1 when one fails

Checks: the copy event on the restorer's own device (pinned, non-blocking copies equal blocking ones, also
on cuda:1 when there is one), the golden cases in float32 with TF32 off and on, half precision against
float32, non-finite outputs counted, torchvision's deform_conv2d on CUDA, peak memory against the memory
plan (EDVR-L shape, 1080p input, fp16), and many frame sizes under torch.compile without falling back.
Without a CUDA device every check says so and the script exits 0.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
GOLDEN = ROOT / "tests" / "fixtures" / "golden"

from edvr_cli import load_model  # noqa: E402
from edvr_cli.engine.memory import memory_budget, resolve_tile_and_batch  # noqa: E402
from edvr_cli.engine.restorer import StreamRestorer  # noqa: E402
from edvr_cli.model.arch import EDVR, EDVRConfig  # noqa: E402
from edvr_cli.model.descriptor import ModelDescriptor  # noqa: E402

failed: list[str] = []


def check(name: str, fn: Callable[[], str]) -> None:
    t = time.perf_counter()
    try:
        said = fn()
        print(f"ok    {name}: {said} ({time.perf_counter() - t:.1f} s)", flush=True)
    except Exception as exc:  # noqa: BLE001 - every failure is one line
        failed.append(name)
        print(f"FAIL  {name}: {type(exc).__name__}: {exc}", flush=True)


def frames(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    return list(np.random.default_rng(seed).random((n, h, w, 3), dtype=np.float32))


def copies_on_each_device() -> str:
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    said = []
    for i in range(min(2, torch.cuda.device_count())):
        dev = torch.device(f"cuda:{i}")
        torch.cuda.set_device(dev)
        d = ModelDescriptor.of(load_model(GOLDEN / "basicsr_sr_tsa.pth", device=dev))
        clip = frames(12, 96, 128)
        pinned = np.stack(list(StreamRestorer(d, device=dev, batch=2, pin_memory=True).run(clip)))
        plain = np.stack(list(StreamRestorer(d, device=dev, batch=2, pin_memory=False).run(clip)))
        if not np.array_equal(pinned, plain):
            raise AssertionError(f"{dev}: pinned copies differ from blocking ones (stale frames)")
        said.append(f"{dev} identical")
    del model
    return ", ".join(said)


def golden_tf32() -> str:
    import json

    worst = {}
    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        err = 0.0
        for case in json.loads((GOLDEN / "cases.json").read_text()):
            model = load_model(GOLDEN / f"{case['name']}.pth", device="cuda")
            io = torch.load(GOLDEN / f"{case['name']}.io.pt", weights_only=True)
            with torch.no_grad():
                err = max(err, (model(io["input"].cuda()).cpu() - io["output"]).abs().max().item())
        worst[tf32] = err
    torch.backends.cudnn.allow_tf32 = True
    if worst[False] >= 1e-4:
        raise AssertionError(f"float32 without TF32 off by {worst[False]:.2e}")
    return f"max error {worst[False]:.1e} without TF32, {worst[True]:.1e} with it"


def half_precision() -> str:
    d = ModelDescriptor.of(load_model(GOLDEN / "basicsr_sr_tsa.pth", device="cuda"))
    clip = frames(8, 180, 320)
    ref = np.stack(list(StreamRestorer(d, device="cuda", precision="fp32").run(clip))).astype(int)
    said = []
    for p in ("fp16", "bf16"):
        r = StreamRestorer(d, device="cuda", precision=p)
        out = np.stack(list(r.run(clip))).astype(int)
        diff = np.abs(out - ref)
        share = float(np.mean(diff <= 1))
        if share < 0.99:
            raise AssertionError(f"{p}: only {share:.2%} of values within one code")
        mse = np.mean(diff.astype(float) ** 2)
        psnr = 10 * np.log10(255**2 / mse) if mse else float("inf")
        said.append(f"{p} {share:.2%} within 1 code, {psnr:.1f} dB vs fp32, {r.nonfinite} non-finite")
    return "; ".join(said)


def torchvision_dcn() -> str:
    from edvr_cli.model.arch.dcn import get_dcn_backend, torchvision_ops_available

    torchvision_ops_available.cache_clear()
    return f"torchvision on cuda: {torchvision_ops_available('cuda')}, auto backend: {get_dcn_backend('cuda')}"


def peak_memory() -> str:
    d = ModelDescriptor.of(EDVR(EDVRConfig(num_feat=128, num_reconstruct_block=40)).to("cuda").eval())
    h, w = 1080, 1920
    plan = resolve_tile_and_batch(h, w, d, torch.device("cuda"), "fp16", None, 4, False)
    budget = memory_budget(torch.device("cuda"))
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    r = StreamRestorer(d, device="cuda", precision="fp16", tile=plan.tile, batch=plan.batch,
                       cache_features=plan.cache_features)
    for _ in r.run(frames(6, h, w)):
        pass
    peak = torch.cuda.max_memory_allocated() - base
    line = (f"tile {plan.tile}, batch {plan.batch}, cache {plan.cache_features}: peak {peak / 2**30:.1f} GiB "
            f"of a {budget / 2**30:.1f} GiB plan")
    if peak > budget / 0.6:  # past the free memory itself
        raise AssertionError(line)
    return line


def compile_sizes() -> str:
    import torch._dynamo

    d = ModelDescriptor.of(load_model(GOLDEN / "basicsr_sr_tsa.pth", device="cuda"))
    torch._dynamo.reset()
    sizes = [(64, 96), (72, 96), (80, 112), (96, 128), (104, 136), (112, 144)]
    for h, w in sizes:
        list(StreamRestorer(d, device="cuda", batch=2, compile=True).run(frames(5, h, w)))
    counters = torch._dynamo.utils.counters
    limit_hits = sum(v for k, v in counters.get("stats", {}).items() if "limit" in str(k))
    return f"{len(sizes)} frame sizes compiled, recompile-limit hits: {limit_hits}"


def main() -> int:
    if not torch.cuda.is_available():
        print("skipped: no CUDA device (every check needs one)")
        return 0
    print(f"device: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}, torch {torch.__version__}")
    for name, fn in (("copy event per device", copies_on_each_device), ("golden cases and TF32", golden_tf32),
                     ("half precision", half_precision), ("deform_conv2d on CUDA", torchvision_dcn),
                     ("peak memory vs plan", peak_memory), ("torch.compile, many sizes", compile_sizes)):
        check(name, fn)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
