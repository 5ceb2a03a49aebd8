"""Shot-aware windows: what a cut costs without them, and what finding cuts costs.

    python benchmarks/bench_shots.py [--quick] [--images DIR] [--model edvr-tiny]

1. Cut-frame fidelity. Clips of real photographs (scikit-image's sample images, taken from its wheel
   on the package index, or any folder of pictures given with ``--images``), each a slow camera pan
   across one picture, are joined at cuts. The joined clip is restored with ``--shots auto`` and with
   ``--shots off``; each scene is also restored alone (the reference). The table gives the PSNR of the
   2 frames either side of each cut against the scene-alone result.
2. Detector cost per frame: the cut detector on 1080p frames (YUV planes, as the decoder hands them),
   and the share it takes of the pipeline's host time at a 1080p output (the stand-in model of
   ``bench_host.py``, which costs nothing: the host's own work only).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import av
import numpy as np

from common import ROOT, machine_line

sys.path.insert(0, str(ROOT / "tests"))
from bench_host import null_models  # noqa: E402
from clips import make_clip  # noqa: E402

from edvr_cli.jobs.models import load_models  # noqa: E402
from edvr_cli.jobs.run import restore_video  # noqa: E402
from edvr_cli.jobs.settings import RestoreSettings  # noqa: E402
from edvr_cli.video.planes import YUVFrame  # noqa: E402
from edvr_cli.video.shots import CutDetector  # noqa: E402

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")


def sample_photos(cache: Path) -> list[Path]:
    """Real photographs from scikit-image's wheel (downloaded once from the package index)."""
    out = [cache / n for n in PHOTOS]
    if all(p.exists() for p in out):
        return out
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), "scikit-image"],
                   check=True)
    wheel = next(cache.glob("scikit_image-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        for p in out:
            p.write_bytes(z.read(f"skimage/data/{p.name}"))
    return out


def load_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def pan(photo: np.ndarray, frames: int, width: int, height: int, step: int = 2) -> list[np.ndarray]:
    """A camera pan across the photo: a ``width`` x ``height`` window moving ``step`` pixels a frame."""
    h, w = photo.shape[:2]
    y = max(0, (h - height) // 3)
    return [photo[y:y + height, min(k * step, w - width):min(k * step, w - width) + width] for k in range(frames)]


def write_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, rgb in enumerate(frames):
        codec = av.CodecContext.create("png", "w")
        codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        (folder / f"{k:05d}.png").write_bytes(b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)]))
    return folder


def read_folder(folder: Path) -> list[np.ndarray]:
    return [load_rgb(p) for p in sorted(folder.iterdir())]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def cut_fidelity(images: list[Path], model: str, frames: int, size: tuple[int, int], root: Path) -> None:
    w, h = size
    scenes = [pan(load_rgb(p), frames, w, h) for p in images]
    base = RestoreSettings(model=model, device="cpu", precision="fp32", tile=0, batch=1, quiet=True, resume=False)
    models = load_models(base)
    alone: list[np.ndarray] = []
    for k, sc in enumerate(scenes):
        restore_video(write_folder(root / f"s{k}", sc), root / f"s{k}-out", base, models=models)
        alone += read_folder(root / f"s{k}-out")
    joined = write_folder(root / "joined", [f for sc in scenes for f in sc])
    results = {}
    for mode in ("auto", "off"):
        settings = RestoreSettings(**{**base.__dict__, "shots": mode})
        restore_video(joined, root / f"joined-{mode}", settings, models=models)
        results[mode] = read_folder(root / f"joined-{mode}")
    cuts = [frames * k for k in range(1, len(scenes))]
    print(f"{len(scenes)} scenes ({', '.join(p.name for p in images)}), {frames} frames each, {w}x{h} -> "
          f"{4 * w}x{4 * h}, model {model}; cuts at frames {cuts}")
    print("cut | frame | shots on: PSNR vs scene alone (dB) | shots off (dB)")
    worst = {"auto": math.inf, "off": math.inf}
    for c in cuts:
        for i in (c - 2, c - 1, c, c + 1):
            on, off = psnr(results["auto"][i], alone[i]), psnr(results["off"][i], alone[i])
            worst["auto"], worst["off"] = min(worst["auto"], on), min(worst["off"], off)
            print(f"{c} | {i} | {on:.2f} | {off:.2f}")
    print(f"cut frames, worst: shots on {worst['auto']:.2f} dB, shots off {worst['off']:.2f} dB "
          "(inf: identical to the scene restored alone)")


def detector_cost(frames: int) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(16, 235, (1080, 1920), dtype=np.uint8)
    u = rng.integers(16, 240, (540, 960), dtype=np.uint8)
    planes = [YUVFrame(np.roll(y, 3 * k, axis=1), u, u, 8, 1, False) for k in range(8)]
    d = CutDetector()
    start = time.perf_counter()
    for k in range(frames):
        d.push(planes[k % 8])
    per_1080 = (time.perf_counter() - start) / frames
    print(f"cut detector on 1920x1080 frames: {per_1080 * 1e6:.0f} us per frame")

    models = null_models("cpu")
    with tempfile.TemporaryDirectory(prefix="edvr-shots-") as tmp:
        src = make_clip(Path(tmp) / "in.mp4", width=480, height=270, frames=frames)
        best = {}
        for _ in range(2):
            for mode in ("off", "auto"):
                s = RestoreSettings(device="cpu", tile=0, codec="libx264", preset="ultrafast", crf=17, quiet=True,
                                    resume=False, pix_fmt="yuv420p", overwrite=True, shots=mode)
                t = time.perf_counter()
                done = restore_video(src, Path(tmp) / f"{mode}.mp4", s, models=models).frames
                best[mode] = min(best.get(mode, math.inf), (time.perf_counter() - t) / done)
        d = CutDetector()
        one = YUVFrame(np.ascontiguousarray(y[::4, ::4][:270, :480]), None, None, 8, 1, False)
        t = time.perf_counter()
        for _ in range(frames):
            d.push(one)
        per_in = (time.perf_counter() - t) / frames
    print(f"1080p output (480x270 input), stand-in model: host time {best['off'] * 1e3:.1f} ms/frame with shots "
          f"off, {best['auto'] * 1e3:.1f} ms/frame with shots auto; the detector alone {per_in * 1e6:.0f} us/frame "
          f"= {100 * per_in / best['off']:.2f} % of the host time (goal: under 3 %)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames")
    ap.add_argument("--images", type=Path, default=None, help="a folder of photographs (default: scikit-image's)")
    ap.add_argument("--model", default="edvr-tiny")
    args = ap.parse_args(argv)
    print(machine_line())
    images = (sorted(args.images.iterdir())[:5] if args.images else
              sample_photos(Path.home() / ".cache" / "edvr-bench" / "photos"))
    with tempfile.TemporaryDirectory(prefix="edvr-cuts-") as tmp:
        cut_fidelity(images[:3] if args.quick else images, args.model, 8 if args.quick else 12, (96, 64), Path(tmp))
    detector_cost(40 if args.quick else 120)


if __name__ == "__main__":
    main()
