"""Run every benchmark (``make bench``): deformable-conv backends, end-to-end throughput against the
plain loop, per-stage times, memory over a long clip, and (on CUDA) EDVR-M/L in fp32/fp16/bf16.

Each part prints its own table with the machine it ran on. On the 2-core CPU this project is developed
on, the whole run takes 5-10 minutes; ``--quick`` does a shorter version.

    python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import bench_cuda  # noqa: E402
import bench_dcn  # noqa: E402
import bench_host  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_scaling  # noqa: E402
import bench_shots  # noqa: E402
import bench_startup  # noqa: E402
import gpu_check  # noqa: E402
from common import machine_line  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and frames")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    print(f"# edvr-cli benchmarks\n# {machine_line()}")
    cuda = torch.cuda.is_available()

    bench_startup.main(["--rounds", "3" if args.quick else "5"])
    bench_dcn.main(["--repeats", "3" if args.quick else "5"] + (["--no-old"] if args.quick else []))

    frames = "16" if args.quick else "24"  # the steady-state stretch is n - 3 x batch frames
    rounds = "1" if args.quick else "2"
    bench_pipeline.main(["--frames", frames, "--rounds", rounds, "--skip", "memory"])
    if not cuda and torch.get_num_threads() > 1:
        # on a shared CPU, one intra-op thread is often faster for both sides: show both
        threads = torch.get_num_threads()
        bench_pipeline.main(["--frames", frames, "--rounds", rounds, "--skip", "stages,memory", "--threads", "1"])
        torch.set_num_threads(threads)
    bench_pipeline.main(["--skip", "throughput,stages", "--memory-lengths",
                         "100,300" if args.quick else "100,1000"])

    quick = ["--quick"] if args.quick else []
    print("\n## host ceiling (CPU)")
    bench_host.main(quick)
    if cuda:
        print("\n## host ceiling (CUDA)")
        bench_host.main([*quick, "--device", "cuda"])
    print("\n## scaling over workers")
    bench_scaling.main(quick)
    print("\n## shot-aware windows: cut frames and the detector's cost")
    bench_shots.main(quick)

    bench_cuda.main(["--frames", "24", "--no-compile"] if args.quick else [])
    if cuda:
        print("\n## GPU checks")
        gpu_check.main()
    print(f"\n# all benchmarks: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
