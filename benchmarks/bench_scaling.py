"""Scaling of segment work over local workers and a local Ray cluster, with a stand-in device model.

    python benchmarks/bench_scaling.py [--quick] [--no-ray]

The stand-in device model keeps the golden EDVR's interface but leaves the CPU alone, as a model on a
GPU does: its feature step returns at once, its fusion step sleeps a fixed time per frame and returns
the centre frame enlarged by nearest neighbour (a ``sitecustomize`` on PYTHONPATH patches it in every
worker process, so the product code has no benchmark hook; it also logs when each step starts and
ends). Decoding, seeking, windows, encoding and joining are the real ones. One input is restored with
1, 2 and 4 workers (``--threads 1`` each, lossless output) and the outputs' packets are compared.

Two figures per run: the wall time of the whole command (start-up included: each worker process
imports torch and loads the model, several seconds on a 2-core machine), and the steady rate: frames
per second while every worker is working (from the latest first step of any worker to the earliest
last step; per-segment costs such as seeking, context frames and opening each piece are inside it).
The Ray table runs on one local cluster (127.0.0.1) that this script starts and then drives each run
through the Python API with ``cluster="auto"``, so Ray's own start-up is paid once (reported). Last line:
``scaling: workers 1/2/4 speed-up 1.00/A/B`` (steady rate, local workers).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
from common import ROOT, machine_line

sys.path.insert(0, str(ROOT / "tests"))
from clips import make_clip  # noqa: E402

MODEL = ROOT / "tests" / "fixtures" / "golden" / "basicsr_sr_tsa.pth"

SITE = """
import os, time
ms = float(os.environ.get("EDVR_BENCH_SLEEP_MS", "0"))
log = os.environ.get("EDVR_BENCH_LOG")
if ms:
    from torch.nn import functional as F
    from edvr_cli.model.arch import edvr as _edvr
    def _extract(self, frames):  # on a GPU the features cost the host nothing
        one = frames[..., :1, :1]
        return one, one, one
    def _fuse(self, feats, centre, *a, **k):
        t0 = time.time()
        time.sleep(ms / 1000 * centre.shape[0])  # one "device" step per centre frame, CPU released
        out = F.interpolate(centre, scale_factor=self.scale, mode="nearest")
        if log:
            with open(os.path.join(log, f"{os.getpid()}.log"), "a") as f:
                f.write(f"{t0} {time.time()} {centre.shape[0]}\\n")
        return out
    _edvr.EDVR.extract_features = _extract
    _edvr.EDVR.fuse_and_reconstruct = _fuse
"""


def steady_rate(log: Path, since: float = 0.0, until: float = float("inf")) -> float:
    """Frames per second while every worker process was working (see the module docstring); only
    the steps logged between ``since`` and ``until`` (one run of several sharing a log)."""
    calls = []
    for f in log.glob("*.log"):
        rows = [tuple(float(x) for x in line.split()) for line in f.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if since <= r[0] and r[1] <= until]
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


def _args(segment: int) -> list[str]:
    return ["--model", str(MODEL), "--device", "cpu", "--tile", "0", "--batch", "1", "--threads", "1", "--codec",
            "ffv1", "-q", "--segment-frames", str(segment)]


def local_run(src: Path, out: Path, workers: int, segment: int, env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds, steady frames/s) of ``edvr upscale --workers N`` as a command of its own."""
    args = [sys.executable, "-m", "edvr_cli", "upscale", str(src), str(out), *_args(segment), "--resume",
            "--workers", str(workers)]
    log.mkdir()
    start = time.perf_counter()
    subprocess.run(args, check=True, env=dict(env, EDVR_BENCH_LOG=str(log)))
    return time.perf_counter() - start, steady_rate(log)


class RayRuns:
    """One local Ray cluster on 127.0.0.1, started by this process, which then drives each run through the
    Python API with ``cluster="auto"`` (the cluster this process belongs to): Ray's start-up is paid once."""

    def __init__(self, site: Path, sleep_ms: float, log: Path) -> None:
        import ray

        self.ray, self.log = ray, log
        log.mkdir()
        os.environ["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])  # the workers'
        bench = {"EDVR_BENCH_SLEEP_MS": str(sleep_ms), "EDVR_BENCH_LOG": str(log)}
        start = time.perf_counter()
        ray.init(num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 configure_logging=False, runtime_env={"env_vars": bench})
        self.start_seconds = time.perf_counter() - start

    def __call__(self, src: Path, out: Path, workers: int, segment: int) -> tuple[float, float]:
        from edvr_cli.jobs.run import restore_video
        from edvr_cli.jobs.settings import RestoreSettings

        settings = RestoreSettings(model=str(MODEL), device="cpu", tile=0, batch=1, threads=1, codec="ffv1",
                                   quiet=True, segment_frames=segment, workers=workers, cluster="auto")
        since = time.time()
        start = time.perf_counter()
        restore_video(src, out, settings)
        return time.perf_counter() - start, steady_rate(self.log, since, time.time())

    def close(self) -> None:
        self.ray.shutdown()


def packets(path: Path) -> list[tuple[bytes, int | None]]:
    """The video packets of a file with their times (the container's own ids and dates differ per file)."""
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts) for p in container.demux(video=0) if p.size]


def table(title: str, run: Callable[[Path, int], tuple[float, float]], outs: list[Path]) -> list[float]:
    print(f"\n{title}: workers | wall s | speed-up (wall) | steady fps | speed-up (steady)")
    base_wall = base_fps = 0.0
    speedups = []
    for n, out in zip((1, 2, 4), outs, strict=True):
        wall, fps = run(out, n)
        if n == 1:
            base_wall, base_fps = wall, fps
        speedups.append(fps / base_fps if base_fps else 0.0)
        print(f"  {n} | {wall:6.1f} | {base_wall / wall:4.2f} | {fps:6.2f} | {speedups[-1]:4.2f}")
    same = all(packets(outs[0]) == packets(o) for o in outs[1:])
    print(f"  outputs identical (every video packet and its time): {same}")
    return speedups


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (under two minutes)")
    parser.add_argument("--no-ray", action="store_true", help="skip the local Ray cluster table")
    parser.add_argument("--sleep-ms", type=float, default=100.0, help="stand-in device time per frame")
    args = parser.parse_args(argv)
    frames, segment = (96, 8) if args.quick else (480, 20)
    print(machine_line())
    print(f"stand-in device model: {args.sleep_ms:g} ms per frame, CPU released; {frames} frames of 32x24, "
          f"{segment}-frame segments, 1 thread per worker")
    with tempfile.TemporaryDirectory(prefix="edvr-scaling-") as tmp:
        root = Path(tmp)
        site = root / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITE)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
                   EDVR_BENCH_SLEEP_MS=str(args.sleep_ms))
        src = make_clip(root / "in.mp4", width=32, height=24, frames=frames)
        local = table("local workers (edvr upscale --workers N)",
                      lambda out, n: local_run(src, out, n, segment, env, root / f"log-local-{n}"),
                      [root / f"out-local-{n}.mkv" for n in (1, 2, 4)])
        if not args.no_ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                print("\nRay is not installed: no Ray table (pip install 'edvr-cli[ray]')")
            else:
                runs = RayRuns(site, args.sleep_ms, root / "log-ray")
                try:
                    title = f"Ray (one local cluster, started in {runs.start_seconds:.1f} s; cluster='auto')"
                    speedups = table(title, lambda out, n: runs(src, out, n, segment),
                                     [root / f"out-ray-{n}.mkv" for n in (1, 2, 4)])
                finally:
                    runs.close()
                print("ray scaling: workers 1/2/4 speed-up " + "/".join(f"{s:.2f}" for s in speedups))
        print("scaling: workers 1/2/4 speed-up " + "/".join(f"{s:.2f}" for s in local))


if __name__ == "__main__":
    main()
