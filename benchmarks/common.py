"""Shared helpers of the benchmarks: the machine line, tables, timing, and random-weight EDVR models."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from edvr_cli.model.arch import EDVR, EDVRConfig  # noqa: E402

#: The published layouts (BasicSR / MMagic): feature width and reconstruction blocks.
LAYOUTS = {"M": dict(num_feat=64, num_reconstruct_block=10), "L": dict(num_feat=128, num_reconstruct_block=40)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """CPU model, cores, torch threads, torch version (and the GPU when there is one)."""
    parts = [
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        f"torch {torch.__version__}",
    ]
    try:
        import torchvision

        parts.append(f"torchvision {torchvision.__version__}")
    except ImportError:
        pass
    if torch.cuda.is_available():
        parts.append(f"GPU: {torch.cuda.get_device_name()} (CUDA {torch.version.cuda})")
    else:
        parts.append("GPU: none")
    try:
        parts.append(f"load average {os.getloadavg()[0]:.1f}")
    except OSError:
        pass
    return "; ".join(parts)


def print_header(title: str) -> None:
    print()
    print(f"== {title}")
    print(f"   {machine_line()}")


def table(headers: list[str], rows: list[list], floatfmt: str = ".2f") -> str:
    """A GitHub-flavoured markdown table."""

    def fmt(v) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def median(values: list[float]) -> float:
    return statistics.median(values)


def sync(device: torch.device | str = "cpu") -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, device="cpu") -> dict[str, list[float]]:
    """Seconds per call of each function, calls alternating (a, b, c, a, b, c ...) so that a shared
    machine's load affects every candidate alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


def random_edvr(layout: str = "M", seed: int = 0, **overrides) -> EDVR:
    """EDVR with random weights of a published layout, in eval mode.

    The offset convs get weights large enough that predicted offsets are around a pixel (upstream
    initialises them to zero, which would make every deformable conv sample on the integer grid).
    """
    torch.manual_seed(seed)
    model = EDVR(EDVRConfig(**{**LAYOUTS[layout], **overrides})).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "conv_offset"):
                m.conv_offset.weight.copy_(torch.randn(m.conv_offset.weight.shape, generator=gen) * 1.5)
    return model


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20
