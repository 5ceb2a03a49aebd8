"""Scaling of segment work over local workers and a local Ray cluster, with a stand-in device model.

    python benchmarks/bench_scaling.py [--quick] [--no-ray]

The stand-in is the tiny golden EDVR whose fusion step also sleeps a fixed time per frame, releasing
the CPU as a GPU-bound worker does (a ``sitecustomize`` on PYTHONPATH patches it in every worker
process, so the product code has no benchmark hook; it also logs when each step starts and ends).
One input is restored with 1, 2 and 4 workers (``--threads 1`` each, lossless output) and the outputs
are checked identical, byte for byte.

Two figures per run: the wall time of the whole command (start-up included: each worker process
imports torch and loads the model, several seconds on a 2-core machine), and the steady rate: frames
per second while every worker is working (from the latest first step of any worker to the earliest
last step; per-segment costs such as seeking, context frames and opening each piece are inside it).
The Ray table runs on one local cluster started for it (``ray start --head`` on 127.0.0.1, joined with
``--cluster auto``), so Ray's own start-up is paid once. Last line:
``scaling: workers 1/2/4 speed-up 1.00/A/B`` (steady rate, local workers).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine_line

sys.path.insert(0, str(ROOT / "tests"))
from clips import make_clip  # noqa: E402

SITE = """
import os, time
ms = float(os.environ.get("EDVR_BENCH_SLEEP_MS", "0"))
log = os.environ.get("EDVR_BENCH_LOG")
if ms:
    from edvr_cli.model.arch import edvr as _edvr
    _real = _edvr.EDVR.fuse_and_reconstruct
    def _slow(self, feats, centre, *a, **k):
        t0 = time.time()
        time.sleep(ms / 1000 * centre.shape[0])  # one "device" step per centre frame, CPU released
        out = _real(self, feats, centre, *a, **k)
        if log:
            with open(os.path.join(log, f"{os.getpid()}.log"), "a") as f:
                f.write(f"{t0} {time.time()} {centre.shape[0]}\\n")
        return out
    _edvr.EDVR.fuse_and_reconstruct = _slow
"""


def steady_rate(log: Path) -> float:
    """Frames per second while every worker process was working (see the module docstring)."""
    calls = []
    for f in log.glob("*.log"):
        rows = [tuple(float(x) for x in line.split()) for line in f.read_text().splitlines() if line.strip()]
        if rows:
            calls.append(rows)
    if not calls:
        return 0.0
    begin = max(min(r[0] for r in rows) for rows in calls)
    end = min(max(r[1] for r in rows) for rows in calls)
    if end - begin < 0.5:  # too short a common window: the whole working span instead
        begin = min(r[0] for rows in calls for r in rows)
        end = max(r[1] for rows in calls for r in rows)
    done = sum(r[2] for rows in calls for r in rows if begin < r[1] <= end)
    return done / (end - begin)


def run(src: Path, out: Path, workers: int, segment: int, env: dict[str, str], cluster: str | None,
        log: Path) -> tuple[float, float]:
    """(wall seconds, steady frames/s) of one command."""
    args = [sys.executable, "-m", "edvr_cli", "upscale", str(src), str(out), "--model",
            str(ROOT.parent / "shared" / "fixtures" / "golden" / "basicsr_sr_tsa.pth"), "--device", "cpu",
            "--tile", "0", "--batch", "1", "--threads", "1", "--codec", "ffv1", "-q", "--segment-frames",
            str(segment), "--workers", str(workers)]
    args += ["--cluster", cluster] if cluster else ["--resume"]
    log.mkdir()
    start = time.perf_counter()
    subprocess.run(args, check=True, env=dict(env, EDVR_BENCH_LOG=str(log)))
    return time.perf_counter() - start, steady_rate(log)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ray(env: dict[str, str], cpus: int) -> dict[str, str] | None:
    """A local Ray head on 127.0.0.1 (the environment to join it with), or None without Ray."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray is None:
        return None
    port = _free_port()
    subprocess.run([ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", str(cpus), "--include-dashboard", "false", "--disable-usage-stats"],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return dict(env, RAY_ADDRESS=f"127.0.0.1:{port}")


def stop_ray(env: dict[str, str]) -> None:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    subprocess.run([ray, "stop", "--force"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def table(title: str, src: Path, root: Path, segment: int, env: dict[str, str], cluster: str | None) -> list[float]:
    print(f"\n{title}: workers | wall s | speed-up (wall) | steady fps | speed-up (steady)")
    tag = "ray" if cluster else "local"
    base_wall = base_fps = 0.0
    speedups = []
    for n in (1, 2, 4):
        wall, fps = run(src, root / f"out-{tag}-{n}.mkv", n, segment, env, cluster, root / f"log-{tag}-{n}")
        if n == 1:
            base_wall, base_fps = wall, fps
        speedups.append(fps / base_fps if base_fps else 0.0)
        print(f"  {n} | {wall:6.1f} | {base_wall / wall:4.2f} | {fps:6.2f} | {speedups[-1]:4.2f}")
    outs = [root / f"out-{tag}-{n}.mkv" for n in (1, 2, 4)]
    same = all(filecmp.cmp(outs[0], o, shallow=False) for o in outs[1:])
    print(f"  outputs byte-identical: {same}")
    return speedups


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
        local = table("local workers (--workers N)", src, root, segment, env, None)
        if not args.no_ray:
            ray_env = start_ray(env, cpus=4)
            if ray_env is None:
                print("\nRay is not installed: no Ray table (pip install 'edvr-cli[ray]')")
            else:
                try:
                    speedups = table("Ray (one local cluster, --cluster auto)", src, root, segment, ray_env, "auto")
                finally:
                    stop_ray(ray_env)
                print("ray scaling: workers 1/2/4 speed-up " + "/".join(f"{s:.2f}" for s in speedups))
        print("scaling: workers 1/2/4 speed-up " + "/".join(f"{s:.2f}" for s in local))


if __name__ == "__main__":
    main()
