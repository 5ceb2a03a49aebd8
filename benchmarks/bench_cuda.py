"""GPU throughput: EDVR-M and EDVR-L (random weights of the published layouts), 180x320 -> 720x1280,
fp32 / fp16 / bf16, eager and ``torch.compile``; ms/frame, frames/s, compile time, peak GPU memory,
and PSNR of every output against eager fp32. Also the deformable-conv backends on CUDA.

Skipped, with one line saying so, without a CUDA device.

    python benchmarks/bench_cuda.py [--frames 40 --batch 4 --layouts M,L --no-compile]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from common import print_header, random_edvr, table

from edvr_cli.model.arch import dcn as dcn_module
from edvr_cli.model.arch import set_dcn_backend, torchvision_ops_available
from edvr_cli.engine.restorer import StreamRestorer


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def clip_frames(n: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth moving content as decoded uint8 frames (H, W, 3) on the host, as the pipeline gives them."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, height // 8 + 2, width // 8 + 2, generator=gen)
    big = torch.nn.functional.interpolate(base, scale_factor=8, mode="bicubic", align_corners=False)
    return [(big[0, :, 4 + (i % 8):4 + (i % 8) + height, 4 + i % 12:4 + i % 12 + width].clamp(0, 1) * 255)
            .round().to(torch.uint8).permute(1, 2, 0).numpy().copy() for i in range(n)]


def run_one(model, frames, precision: str, compile: bool, batch: int, skip: int, device: str = "cuda") -> dict:
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if compile:
        torch._dynamo.reset()
    r = StreamRestorer(model, device=device, precision=precision, tile=0, batch=batch, compile=compile)
    stamps, outs = [], []
    t0 = time.perf_counter()
    for out in r.run(frames):
        stamps.append(time.perf_counter() - t0)
        outs.append(out)
    n = len(stamps)
    lo, hi = skip, n - batch  # leave out start-up (and compilation) and the clip's last batch
    per_frame = (stamps[hi - 1] - stamps[lo - 1]) / (hi - lo)
    return dict(per_frame=per_frame, first=stamps[0], outs=np.stack(outs),
                peak_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"))


def dcn_backends(layout: str, frames, batch: int, device: str = "cuda") -> list[list]:
    """EDVR eager fp16 with each deformable-conv backend: which one 'auto' should pick on CUDA."""
    rows = []
    previous = dcn_module._backend
    try:
        for be in (["torchvision"] if torchvision_ops_available() else []) + ["pure"]:
            set_dcn_backend(be)
            model = random_edvr(layout).to(device)
            res = run_one(model, frames, "fp16", False, batch, 2 * batch, device)
            rows.append([f"EDVR-{layout}", be, res["per_frame"] * 1e3, 1 / res["per_frame"]])
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
    finally:
        dcn_module._backend = previous
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--layouts", default="M,L")
    ap.add_argument("--precisions", default="fp32,fp16,bf16")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # 'cpu': dry run of this script
    args = ap.parse_args(argv)
    title = (f"(d) GPU: EDVR random weights, {args.height}x{args.width} -> {4 * args.height}x{4 * args.width}, "
             f"batch {args.batch}, {args.frames} frames")
    if args.device == "cuda" and not torch.cuda.is_available():
        print_header(title)
        print("   skipped: no CUDA device on this machine (run on a GPU machine for EDVR-M/L fp32/fp16/bf16 figures)")
        return
    torch.backends.cudnn.benchmark = True  # fixed shapes per stream
    frames = clip_frames(args.frames, args.height, args.width)
    rows = []
    for layout in args.layouts.split(","):
        model = random_edvr(layout).to(args.device)
        reference = None
        for compile in (False,) if args.no_compile else (False, True):
            for precision in args.precisions.split(","):
                res = run_one(model, frames, precision, compile, args.batch, 2 * args.batch, args.device)
                if reference is None:
                    reference = res["outs"]
                # the first output comes once two batches are computed (one batch in flight)
                compile_s = max(0.0, res["first"] - 2 * args.batch * res["per_frame"]) if compile else None
                rows.append([f"EDVR-{layout}", precision, "yes" if compile else "no", res["per_frame"] * 1e3,
                             1 / res["per_frame"], "-" if compile_s is None else f"{compile_s:.0f}",
                             f"{res['peak_gib']:.1f}", f"{psnr(res['outs'], reference):.1f}"])
        del model
        if args.device == "cuda":
            torch.cuda.empty_cache()
    print_header(title)
    print(table(["model", "precision", "compile", "ms/frame", "frames/s", "compile s", "peak GPU GiB",
                 "PSNR vs fp32 eager dB"], rows, ".1f"))
    print("   deformable-conv sampling coordinates, sampling and mask in fp32 under autocast; channels-last "
          "for fp16/bf16; pinned uploads, quantisation on the GPU, one batch in flight")
    rows = []
    for layout in args.layouts.split(","):
        rows += dcn_backends(layout, frames, args.batch, args.device)
    print_header("Deformable-conv backends on CUDA, fp16 eager (auto picks torchvision on CUDA)")
    print(table(["model", "DCN backend", "ms/frame", "frames/s"], rows, ".1f"))


if __name__ == "__main__":
    main()
