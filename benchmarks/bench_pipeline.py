"""End-to-end throughput, per-stage times and memory of the streaming pipeline.

(a) steady-state throughput of ``restore_video`` (decode -> restore -> encode, threads and all) against
    the plain per-window loop (``restore_clip_plain``: one full forward per centre frame, NCHW,
    torchvision's deformable conv: what the upstream test scripts do) on the same model and frames,
    measured alternately in one run, and the two outputs compared in 8-bit levels;
(b) per-stage time of one frame: decode, upload, feature extraction, align+fuse+reconstruct,
    quantise, encode;
(c) peak host RSS (and GPU memory on CUDA) for a 100-frame and a 1,000-frame clip of the same size,
    each in a fresh process.

    python benchmarks/bench_pipeline.py [--frames 12 --rounds 2 --height 48 --width 64]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import ROOT, machine_line, median, peak_rss_mib, print_header, random_edvr, table

sys.path.insert(0, str(ROOT / "tests"))
from clips import make_clip  # noqa: E402

from edvr_cli.model.arch import set_dcn_backend, torchvision_ops_available  # noqa: E402
from edvr_cli.jobs.models import Models  # noqa: E402
from edvr_cli.model.descriptor import ModelDescriptor  # noqa: E402
from edvr_cli.jobs.run import restore_video  # noqa: E402
from edvr_cli.jobs.settings import RestoreSettings  # noqa: E402
from reference import quantize8  # noqa: E402
from edvr_cli.engine.restorer import StreamRestorer  # noqa: E402
from edvr_cli.video import FrameReader, open_writer, probe, read_frames  # noqa: E402

#: Lossless RGB output, so the pipeline's frames can be compared with the plain loop's exactly.
LOSSLESS = dict(codec="ffv1", pix_fmt="bgr0")


def _models(model, device: str, precision: str = "fp32") -> Models:
    return Models(ModelDescriptor.of(model, "random-weights", "reflection_circle"), None, torch.device(device), precision)


def decode_all(path: Path) -> torch.Tensor:
    """(n, 3, H, W) float frames, decoded the way the pipeline decodes them."""
    return torch.stack([torch.from_numpy(f.rgb).permute(2, 0, 1) for f in read_frames(path)])


def run_pipeline(clip: Path, out: Path, model, device: str, batch: int | None = None,
                 on_frame=None, **encoder) -> tuple[list[float], float]:
    """Timestamps of every output frame, and the total wall time; ``on_frame(i)`` runs after output i
    and its time is left out of both (so another workload can be interleaved frame by frame)."""
    stamps: list[float] = []
    paused = 0.0
    settings = RestoreSettings(device=device, precision="fp32", tile=0, batch=batch, overwrite=True, quiet=True,
                               **encoder)

    def progress(done: int, total) -> None:
        nonlocal paused
        if done == 0:  # the total, said before the first frame
            return
        now = time.perf_counter()
        stamps.append(now - paused)
        if on_frame is not None:
            on_frame(done - 1)
            paused += time.perf_counter() - now

    t0 = time.perf_counter()
    restore_video(clip, out, settings, models=_models(model, device), on_progress=progress)
    return [s - t0 for s in stamps], time.perf_counter() - t0 - paused


class PlainLoop:
    """The plain per-window loop (``restore_clip_plain``'s body), one centre frame per call, timed."""

    def __init__(self, frames: torch.Tensor, model, device: str, backend: str) -> None:
        self.frames, self.model, self.device, self.backend = frames.to(device), model, device, backend
        self.times: list[float] = []
        self.outputs: list[torch.Tensor] = []

    @torch.no_grad()
    def __call__(self, c: int) -> None:
        from edvr_cli.model.arch.dcn import _backend as previous
        from edvr_cli.model.padding import window_indices

        set_dcn_backend(self.backend)
        try:
            sync = torch.cuda.synchronize if torch.device(self.device).type == "cuda" else (lambda: None)
            sync()
            t0 = time.perf_counter()
            idx = window_indices(c, self.frames.shape[0], self.model.num_frame, "reflection_circle")
            q = quantize8(self.model(self.frames[idx].unsqueeze(0))[0]).cpu()
            self.times.append(time.perf_counter() - t0)
            self.outputs.append(q)
        finally:
            set_dcn_backend(previous)


def steady(stamps: list[float], batch: int) -> float:
    """Seconds per frame in the middle of the clip.

    The restorer hands on batch i once batch i+1 is computed, so its outputs come in bursts of
    ``batch``: from the first output (batches 0 and 1 computed) to the first output of batch m-3
    (batch m-2 computed), batches 2 .. m-2 were computed, ``n - 3 * batch`` frames for a clip of n
    frames in m full batches: start-up (the first batch extracts ``batch + 4`` frames) and the clip's
    end (nothing left to extract) are left out.
    """
    n = len(stamps)
    hi = n - 3 * batch
    if hi < 1:
        raise ValueError(f"a {n}-frame clip is too short to measure batches of {batch}")
    return (stamps[hi] - stamps[0]) / hi


def throughput(frames_n: int, rounds: int, height: int, width: int, device: str, batch: int | None) -> dict:
    """(a): the pipeline against the plain loop on one clip, interleaved frame by frame: after each
    output frame of the pipeline, the plain loop restores the same centre frame (its time is taken
    out of the pipeline's), so a shared machine's changing load falls on both alike."""
    model = random_edvr("M").to(device)
    baseline = copy.deepcopy(model)  # the pipeline switches its model to channels-last; the plain loop keeps NCHW
    plain_backend = "torchvision" if torchvision_ops_available() else "pure"
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", width=width, height=height, frames=frames_n)
        out = Path(tmp) / "out.mkv"
        frames = decode_all(clip)
        # warm-up both (allocators, oneDNN primitive caches) on a short clip of the same size
        warm = make_clip(Path(tmp) / "warm.mp4", width=width, height=height, frames=6)
        PlainLoop(frames, baseline, device, plain_backend)(0)
        run_pipeline(warm, out, model, device, batch, **LOSSLESS)
        ours, plain, ratios = [], [], []
        used = batch or StreamRestorer(copy.deepcopy(baseline), device=device).batch
        for _ in range(rounds):
            loop = PlainLoop(frames, baseline, device, plain_backend)
            stamps, _ = run_pipeline(clip, out, model, device, batch, on_frame=loop, **LOSSLESS)
            s_ours = steady(stamps, used)
            # the plain frames run just before and after that stretch (in the callbacks of its
            # first and last bursts): the same span of time, so the same load
            span = loop.times[:frames_n - 2 * used]
            s_plain = sum(span) / len(span)
            ours.append(s_ours)
            plain.append(s_plain)
            ratios.append(s_plain / s_ours)
        plain_q = torch.stack(loop.outputs)
        ours_q = torch.stack([torch.from_numpy(np.round(f.rgb * 255).astype(np.uint8)).permute(2, 0, 1)
                              for f in read_frames(out)])
    diff = (ours_q.int() - plain_q.int()).abs()
    return dict(ours=median(ours), plain=median(plain), ratio=median(ratios), ratios=ratios, batch=used,
                max_diff=int(diff.max()), frac_diff=float((diff > 0).float().mean()), plain_backend=plain_backend)


def stages(frames_n: int, height: int, width: int, device: str, batch: int | None) -> dict:
    """(b): milliseconds per frame of each stage, each measured on its own."""
    model = random_edvr("M").to(device)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", width=width, height=height, frames=frames_n)
        t0 = time.perf_counter()
        rgb = [f.rgb for f in read_frames(clip)]
        res["decode"] = (time.perf_counter() - t0) / len(rgb)
        r = StreamRestorer(model, device=device, batch=batch, profile=True)
        outs = list(r.run(rgb))
        for k, v in r.stage_seconds.items():
            res[k] = v / len(rgb)
        res["extract_calls"] = r.extracted
        info = probe(clip)
        for name, enc in (("encode (ffv1, lossless)", LOSSLESS), ("encode (x264, default)", {})):
            t0 = time.perf_counter()
            with open_writer(Path(tmp) / f"enc{len(res)}.mkv", info, width * 4, height * 4, copy_streams=False,
                             **enc) as w:
                for o in outs:
                    w.write(o)
            res[name] = (time.perf_counter() - t0) / len(outs)
    return res


def _rss_child(frames_n: int, height: int, width: int, device: str) -> None:
    """Run in a fresh process: restore a clip of ``frames_n`` frames, print peak RSS as JSON.

    A tiny EDVR (8 features) keeps 1,000 frames to a minute: what is measured is whether memory grows
    with the clip's length, which does not depend on the network's width."""
    torch.set_num_threads(1)
    model = random_edvr("M", num_feat=8, deformable_groups=1, num_extract_block=1, num_reconstruct_block=1).to(device)
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", width=width, height=height, frames=frames_n)
        before = _current_rss_mib()
        _reset_peak_rss()  # the peak of the restoration itself, not of making the clip

        def progress(done, total):
            if done in (frames_n // 10, frames_n // 2, frames_n):
                samples.append((done, _current_rss_mib()))

        t0 = time.perf_counter()
        restore_video(clip, Path(tmp) / "out.mp4", RestoreSettings(device=device, tile=0, overwrite=True, quiet=True),
                      models=_models(model, device, "fp32"), on_progress=progress)
        seconds = time.perf_counter() - t0
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() and device != "cpu" else None
    print(json.dumps(dict(frames=frames_n, peak_rss_mib=_peak_rss_since_reset_mib(), rss_before_mib=before,
                          samples=samples,
                          seconds=seconds, peak_gpu_mib=gpu)))


def _reset_peak_rss() -> None:
    """Linux: restart the peak-RSS counter (VmHWM) from the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_since_reset_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


def _current_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def memory(lengths: tuple[int, ...], height: int, width: int, device: str) -> list[dict]:
    """(c): one fresh process per clip length."""
    rows = []
    for n in lengths:
        cmd = [sys.executable, __file__, "--rss-child", str(n), "--height", str(height), "--width", str(width),
               "--device", device]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parent)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24, help="clip length for (a) and (b)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of (a)")
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", default="auto", help="centre frames per forward ('auto': the restorer's choice)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--memory-lengths", default="100,1000")
    ap.add_argument("--memory-size", default="16x16", help="HxW of the memory clips")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: throughput,stages,memory")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.batch = None if args.batch == "auto" else int(args.batch)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child is not None:
        _rss_child(args.rss_child, args.height, args.width, args.device)
        return {}
    skip = set(filter(None, args.skip.split(",")))
    results: dict = {}
    if "throughput" not in skip:
        r = throughput(args.frames, args.rounds, args.height, args.width, args.device, args.batch)
        results["throughput"] = r
        print_header(f"(a) Steady-state throughput, EDVR-M (random weights, published layout), "
                     f"{args.height}x{args.width} -> {4 * args.height}x{4 * args.width}, {args.frames}-frame clip, "
                     f"{args.device}, fp32, interleaved frame by frame, median of {args.rounds} round(s)")
        print(table(["", "ms/frame", "frames/s"], [
            [f"plain per-window loop (NCHW, {r['plain_backend']} DCN, compute only)", r["plain"] * 1e3, 1 / r["plain"]],
            [f"edvr-cli pipeline (decode+restore+encode; feature cache, channels-last, fast DCN, "
             f"batch {r['batch']})", r["ours"] * 1e3, 1 / r["ours"]],
        ], ".1f"))
        print(f"   speed-up: {r['ratio']:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in r['ratios'])}); "
              f"outputs: max |pipeline - plain| = {r['max_diff']} level(s) of 255, "
              f"{100 * r['frac_diff']:.3f}% of values differ")
    if "stages" not in skip:
        r = stages(args.frames, args.height, args.width, args.device, args.batch)
        results["stages"] = r
        print_header(f"(b) Per-stage time per frame, EDVR-M, {args.height}x{args.width}, {args.device}, fp32 "
                     f"(each stage timed on its own; in the pipeline decode and encode run on their own threads)")
        names = [("decode", "decode (PyAV -> RGB float)"), ("upload", "upload (to device, pad)"),
                 ("extract", "feature extraction (1 frame, cached)"), ("fuse", "align + fuse + reconstruct"),
                 ("quantise", "quantise (+ copy to host)"), ("encode (ffv1, lossless)", "encode (ffv1, lossless)"),
                 ("encode (x264, default)", "encode (x264, default)")]
        total = sum(r[k] for k, _ in names[:-1])
        print(table(["stage", "ms/frame", "share"], [[label, r[k] * 1e3, f"{100 * r[k] / total:.1f}%"]
                                                     for k, label in names], ".2f"))
        print(f"   feature pyramids computed: {r['extract_calls']} for {args.frames} frames (once per frame)")
    if "memory" not in skip:
        h, w = (int(v) for v in args.memory_size.split("x"))
        lengths = tuple(int(v) for v in args.memory_lengths.split(","))
        rows = memory(lengths, h, w, args.device)
        results["memory"] = rows
        print_header(f"(c) Peak memory, tiny EDVR (8 features), {h}x{w} -> {4 * h}x{4 * w} clips, {args.device}, each in a fresh process")
        print(table(["frames", "RSS before MiB", "peak RSS MiB", "RSS at 10% / 50% / 100% MiB", "peak GPU MiB",
                     "seconds"], [
            [r["frames"], r["rss_before_mib"], r["peak_rss_mib"], " / ".join(f"{v:.0f}" for _, v in r["samples"]),
             "-" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:.0f}", r["seconds"]] for r in rows
        ], ".1f"))
        if len(rows) >= 2:
            print(f"   growth from {rows[0]['frames']} to {rows[-1]['frames']} frames: "
                  f"{rows[-1]['peak_rss_mib'] - rows[0]['peak_rss_mib']:+.1f} MiB peak RSS")
    return results


if __name__ == "__main__":
    print(f"# {machine_line()}", file=sys.stderr)
    main()
