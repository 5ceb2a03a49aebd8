"""Modulated deformable conv backends on EDVR-M's layer shapes: the fast pure-PyTorch formulation,
torchvision's compiled op, and the previous pure formulation (four gathers), with their agreement.

    python benchmarks/bench_dcn.py [--height 48 --width 64 --repeats 5]
"""

from __future__ import annotations

import argparse

import torch

from common import median, print_header, table, time_interleaved

from edvr_cli.model.arch.dcn import deform_conv2d_pure, deform_conv2d_reference, torchvision_ops_available


def layer_inputs(b: int, c: int, h: int, w: int, groups: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen)
    offset = torch.randn(b, 2 * groups * 9, h, w, generator=gen) * 1.5  # about a pixel, as trained models
    mask = torch.rand(b, groups * 9, h, w, generator=gen)
    weight = torch.randn(c, c, 3, 3, generator=gen) * (1 / (9 * c) ** 0.5)
    bias = torch.randn(c, generator=gen) * 0.1
    return x, offset, weight, bias, mask


def run(height: int = 48, width: int = 64, repeats: int = 5, device: str = "cpu", old: bool = True) -> list[dict]:
    """One row per pyramid level of one window (5 frames aligned at once, 64 features, 8 groups)."""
    rows = []
    have_tv = torchvision_ops_available()
    levels = [("L1 (and cascade)", height, width), ("L2", height // 2, width // 2), ("L3", height // 4, width // 4)]
    for name, h, w in levels:
        x, offset, weight, bias, mask = (t.to(device) for t in layer_inputs(5, 64, h, w, 8))
        x_cl = x.contiguous(memory_format=torch.channels_last)
        fns = {"fast": lambda: deform_conv2d_pure(x, offset, weight, bias, mask),
               "fast_cl": lambda: deform_conv2d_pure(x_cl, offset, weight, bias, mask)}
        if have_tv:
            from torchvision.ops import deform_conv2d

            fns["torchvision"] = lambda: deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
        if old:
            fns["old_pure"] = lambda: deform_conv2d_reference(x, offset, weight, bias, mask)
        with torch.inference_mode():
            for fn in fns.values():  # warm-up
                fn()
            times = time_interleaved(fns, repeats, device)
            ref = fns["torchvision"]() if have_tv else deform_conv2d_reference(x, offset, weight, bias, mask)
            err = (deform_conv2d_pure(x, offset, weight, bias, mask) - ref).abs().max().item()
        ms = {k: median(v) * 1e3 for k, v in times.items()}
        rows.append(dict(level=f"{name} {h}x{w}", max_abs_diff=err, **ms))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-old", action="store_true", help="skip the slow previous formulation")
    args = ap.parse_args(argv)
    rows = run(args.height, args.width, args.repeats, args.device, old=not args.no_old)
    print_header(f"Deformable conv, EDVR-M layers (batch 5, 64 ch, 8 groups, 3x3), {args.device}, "
                 f"median of {args.repeats} interleaved calls")
    names = [k for k in ("torchvision", "fast", "fast_cl", "old_pure") if k in rows[0]]
    headers = ["level"] + [f"{n} ms" for n in names]
    if "torchvision" in names:
        headers += ["fast vs torchvision"]
    headers += ["max |fast - ref|"]
    out = []
    for r in rows:
        line = [r["level"]] + [r[n] for n in names]
        if "torchvision" in names:
            line.append(f"{r['torchvision'] / min(r['fast'], r['fast_cl']):.2f}x")
        line.append(f"{r['max_abs_diff']:.1e}")
        out.append(line)
    # a window's worth: L3 + L2 + 2 x L1 (the L1 conv and the cascading one)
    total = {n: rows[2][n] + rows[1][n] + 2 * rows[0][n] for n in names}
    line = ["one window (L3+L2+2xL1)"] + [total[n] for n in names]
    if "torchvision" in names:
        line.append(f"{total['torchvision'] / min(total['fast'], total['fast_cl']):.2f}x")
    out.append(line + [""])
    print(table(headers, out, ".1f"))
    print("   fast = deform_conv2d_pure (grid_sample + in-place mask + one matmul); fast_cl: channels-last input;"
          " old_pure = the previous four-gather formulation (deform_conv2d_reference)")
    return rows


if __name__ == "__main__":
    main()
