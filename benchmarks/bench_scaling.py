"""Scaling of segment work over local workers (and a local Ray cluster), with a stand-in device model.

    python benchmarks/bench_scaling.py [--quick] [--no-ray]

The stand-in is the tiny golden EDVR whose fusion step also sleeps a fixed time per frame, releasing
the CPU as a GPU-bound worker does (a ``sitecustomize`` on PYTHONPATH patches it in every worker
process, so the product code has no benchmark hook). One input is restored with 1, 2 and 4 workers
(``--threads 1`` each, lossless output) and the outputs are checked identical.

Two figures per run: wall time of the whole command (start-up included: each worker process imports
torch and loads the model), and the steady-state rate (frames per second between the first and the
last finished segment, read from the work folder's manifest timestamps). Last line:
``scaling: workers 1/2/4 speed-up 1.00/A/B`` (steady state).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, machine_line

sys.path.insert(0, str(ROOT / "tests"))
from clips import make_clip  # noqa: E402

SITE = """
import os, time
ms = float(os.environ.get("EDVR_BENCH_SLEEP_MS", "0"))
if ms:
    from edvr_cli.model.arch import edvr as _edvr
    _real = _edvr.EDVR.fuse_and_reconstruct
    def _slow(self, feats, centre, *a, **k):
        time.sleep(ms / 1000 * centre.shape[0])  # one "device" step per centre frame, CPU released
        return _real(self, feats, centre, *a, **k)
    _edvr.EDVR.fuse_and_reconstruct = _slow
"""


def _watch(work: Path, stamps: dict[int, float], stop: threading.Event) -> None:
    """Record when each segment first appears in the manifest."""
    manifest = work / "manifest.json"
    while not stop.is_set():
        try:
            data = json.loads(manifest.read_text())
            now = time.perf_counter()
            for s in data.get("segments", []):
                stamps.setdefault(int(s["index"]), now)
        except (OSError, ValueError):
            pass
        time.sleep(0.02)


def run(src: Path, out: Path, workers: int, segment: int, env: dict[str, str], cluster: bool) -> tuple[float, float]:
    """(wall seconds, steady-state frames/s) of one command."""
    args = [sys.executable, "-m", "edvr_cli", "upscale", str(src), str(out), "--model",
            str(ROOT.parent / "shared" / "fixtures" / "golden" / "basicsr_sr_tsa.pth"), "--device", "cpu",
            "--tile", "0", "--batch", "1", "--threads", "1", "--codec", "ffv1", "-q", "--segment-frames",
            str(segment), "--workers", str(workers)]
    if cluster:
        args += ["--cluster", "local"]
    else:
        args += ["--resume"]
    stamps: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(out.with_name(f".{out.name}.edvr-work"), stamps, stop))
    watcher.start()
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env)
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    times = sorted(stamps.values())
    steady = (len(times) - 1) * segment / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else 0.0
    return wall, steady


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (under two minutes)")
    parser.add_argument("--no-ray", action="store_true", help="skip the local Ray cluster table")
    parser.add_argument("--sleep-ms", type=float, default=100.0, help="stand-in device time per frame")
    args = parser.parse_args(argv)
    frames, segment = (120, 10) if args.quick else (480, 20)
    print(machine_line())
    print(f"stand-in model: tiny EDVR + {args.sleep_ms:g} ms sleep per frame; {frames} frames of 32x24, "
          f"{segment}-frame segments, 1 thread per worker")
    with tempfile.TemporaryDirectory(prefix="edvr-scaling-") as tmp:
        root = Path(tmp)
        (root / "site").mkdir()
        (root / "site" / "sitecustomize.py").write_text(SITE)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "site"), os.environ.get("PYTHONPATH", "")]),
                   EDVR_BENCH_SLEEP_MS=str(args.sleep_ms))
        src = make_clip(root / "in.mp4", width=32, height=24, frames=frames)
        tables = [("local workers", False)] + ([] if args.no_ray else [("Ray (--cluster local)", True)])
        last = ""
        for title, cluster in tables:
            print(f"\n{title}: workers | wall s | speed-up (wall) | steady fps | speed-up (steady)")
            base_wall = base_fps = 0.0
            speedups = []
            for n in (1, 2, 4):
                wall, fps = run(src, root / f"out-{int(cluster)}-{n}.mkv", n, segment, env, cluster)
                if n == 1:
                    base_wall, base_fps = wall, fps
                sw, sf = base_wall / wall, (fps / base_fps if base_fps else 0.0)
                speedups.append(sf)
                print(f"  {n} | {wall:6.1f} | {sw:4.2f} | {fps:6.2f} | {sf:4.2f}")
            same = len({(root / f"out-{int(cluster)}-{n}.mkv").stat().st_size for n in (1, 2, 4)}) == 1
            print(f"  outputs identical in size: {same}")
            line = "scaling: workers 1/2/4 speed-up " + "/".join(f"{s:.2f}" for s in speedups)
            if not cluster:
                last = line
            else:
                print(f"ray {line}")
        print(last)


if __name__ == "__main__":
    main()
