"""The host ceiling: the whole pipeline with a model that costs nothing, against a bare PyAV loop.

    python benchmarks/bench_host.py [--quick] [--device cuda]

The stand-in model is a x4 nearest-neighbour upscaler with EDVR's interface (feature extraction
returns the frame itself), so what is measured is decoding, colour conversion, the window loop,
quantisation and encoding. The bare loop decodes the same input, converts with PyAV's own
``to_ndarray("rgb24")``, upscales with ``numpy.repeat``, converts back with ``from_ndarray`` and
encodes with the same settings (libx264 ultrafast). Last line:
``host ceiling: 4K pipeline X fps, bare PyAV Y fps, ratio Z``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from common import ROOT, machine_line

sys.path.insert(0, str(ROOT / "tests"))
from clips import make_clip  # noqa: E402

from edvr_cli.jobs.models import Models  # noqa: E402
from edvr_cli.jobs.run import restore_video  # noqa: E402
from edvr_cli.jobs.settings import RestoreSettings  # noqa: E402
from edvr_cli.model.arch import EDVR, EDVRConfig  # noqa: E402
from edvr_cli.model.descriptor import ModelDescriptor  # noqa: E402

SIZES = {"720p": (320, 180), "1080p": (480, 270), "4K": (960, 540)}


class NullEDVR(EDVR):
    """EDVR's interface at no cost: x4 nearest-neighbour of the centre frame."""

    def extract_features(self, frames: torch.Tensor):  # type: ignore[override]
        one = frames[..., :1, :1]
        return one, one, one

    def fuse_and_reconstruct(self, feats, x_center: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        b, c, h, w = x_center.shape  # one write of the output, in planar layout
        return x_center.contiguous()[:, :, :, None, :, None].expand(b, c, h, 4, w, 4).reshape(b, c, 4 * h, 4 * w)


def null_models(device: str = "cpu") -> Models:
    model = NullEDVR(EDVRConfig(num_feat=8, num_frame=5, deformable_groups=1, num_extract_block=1,
                                num_reconstruct_block=1)).eval().to(device)
    return Models(ModelDescriptor.of(model, "null-x4"), None, torch.device(device), "fp32")


def bare_loop(src: Path, out: Path) -> int:
    n = 0
    with av.open(str(src)) as inp, av.open(str(out), "w") as outp:
        ins = inp.streams.video[0]
        stream = outp.add_stream("libx264", rate=ins.average_rate, options={"preset": "ultrafast", "crf": "17"})
        stream.width, stream.height, stream.pix_fmt = ins.width * 4, ins.height * 4, "yuv420p"
        for frame in inp.decode(ins):
            rgb = frame.to_ndarray(format="rgb24")
            big = np.repeat(np.repeat(rgb, 4, axis=0), 4, axis=1)
            for p in stream.encode(av.VideoFrame.from_ndarray(big, format="rgb24").reformat(format="yuv420p")):
                outp.mux(p)
            n += 1
        for p in stream.encode(None):
            outp.mux(p)
    return n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats (under two minutes)")
    parser.add_argument("--device", default="cpu", help="where the stand-in model (and colour conversion) runs")
    args = parser.parse_args(argv)
    frames, repeats = (24, 2) if args.quick else (60, 3)
    print(machine_line())
    print(f"{frames} frames per size, best of {repeats} alternating runs; output x4, libx264 ultrafast crf 17; "
          f"torch threads {torch.get_num_threads()}; device {args.device}")
    print("size (output) | pipeline fps | bare PyAV fps | ratio")
    models = null_models(args.device)
    result = {}
    with tempfile.TemporaryDirectory(prefix="edvr-host-") as tmp:
        root = Path(tmp)
        for label, (w, h) in SIZES.items():
            src = make_clip(root / f"{label}.mp4", width=w, height=h, frames=frames)
            settings = RestoreSettings(device=args.device, tile=0, codec="libx264", preset="ultrafast", crf=17,
                                       quiet=True, resume=False, pix_fmt="yuv420p", overwrite=True)
            pipe = bare = 0.0
            for _ in range(repeats):  # alternating, so a slow spell of a shared machine hits both
                start = time.perf_counter()
                done = restore_video(src, root / f"{label}-pipe.mp4", settings, models=models).frames
                pipe = max(pipe, done / (time.perf_counter() - start))
                start = time.perf_counter()
                bare_n = bare_loop(src, root / f"{label}-bare.mp4")
                bare = max(bare, bare_n / (time.perf_counter() - start))
            result[label] = (pipe, bare)
            print(f"{label} ({w * 4}x{h * 4}) | {pipe:6.2f} | {bare:6.2f} | {pipe / bare:4.2f}")
    pipe, bare = result["4K"]
    print(f"host ceiling: 4K pipeline {pipe:.2f} fps, bare PyAV {bare:.2f} fps, ratio {pipe / bare:.2f}")


if __name__ == "__main__":
    main()
