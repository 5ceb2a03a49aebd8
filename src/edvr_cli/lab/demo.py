"""An offline demo of the bundled ``edvr-tiny`` model (``make demo``), and the held-out clips it is judged on.

The held-out clips are made from two of scikit-image's sample photographs that ``edvr-tiny`` never
saw in training (``coffee`` and ``chelsea``): a smooth random camera move over the photo, then
MATLAB-bicubic x4 downsampling. scikit-image (the ``dev`` extra) supplies the photographs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

HELDOUT_PHOTOS = ("coffee", "chelsea")  # skimage's `cat` is chelsea: neither is in the training set
HELDOUT_SEED = 2024
HELDOUT_FRAMES = 12
HELDOUT_SIZE = (192, 320)  # HR frame (h, w); the low-res input is 48x80


def load_photo(name: str) -> np.ndarray:
    """A scikit-image sample photograph as ``(h, w, 3)`` uint8 RGB (grey replicated; no download needed)."""
    try:
        from skimage import data
    except ImportError:
        from edvr_cli.errors import EDVRError

        raise EDVRError("the demo photographs come from scikit-image: "
                        "pip install 'edvr-cli[dev]' (or scikit-image)") from None
    if name in ("motorcycle_left", "motorcycle_right"):
        img = data.stereo_motorcycle()[0 if name == "motorcycle_left" else 1]
    else:
        img = getattr(data, name)()
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def heldout_clip(name: str, frames: int = HELDOUT_FRAMES,
                 size: tuple[int, int] = HELDOUT_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gt, lq)`` frames ``(t, 3, h, w)`` in [0, 1] (8-bit levels) of the evaluation clip of photo ``name``."""
    from edvr_cli.lab.degrade import bicubic_down, quantize, still_to_clip

    img = torch.from_numpy(load_photo(name)).permute(2, 0, 1).float() / 255
    g = torch.Generator().manual_seed(HELDOUT_SEED + sum(map(ord, name)))
    gt = quantize(still_to_clip(img, frames, size, g))
    return gt, bicubic_down(gt, 4)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``(t, 3, h, w)`` in [0, 1] -> ``(t, h, w, 3)`` uint8."""
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


@dataclass
class DemoResult:
    input_frames: Path
    input_video: Path
    output_video: Path
    comparison: Path
    psnr: dict[str, float]

    def summary(self) -> str:
        gain = self.psnr["edvr-tiny"] - self.psnr["bicubic"]
        return "\n".join([
            f"low-res input:   {self.input_video}  (frames in {self.input_frames})",
            f"edvr-tiny x4:    {self.output_video}",
            f"comparison:      {self.comparison}",
            f"PSNR vs ground truth: bicubic {self.psnr['bicubic']:.2f} dB, bilinear {self.psnr['bilinear']:.2f} dB, "
            f"edvr-tiny {self.psnr['edvr-tiny']:.2f} dB ({gain:+.2f} dB over bicubic)",
        ])


def _model_spec() -> str:
    """'edvr-tiny' when the registry knows it, else the bundled file itself."""
    try:
        from edvr_cli.zoo import default_registry

        if "edvr-tiny" in default_registry():
            return "edvr-tiny"
    except Exception:  # registry unavailable: fall back to the file
        pass
    return str(Path(__file__).resolve().parents[1] / "weights" / "edvr-tiny.safetensors")


def run_demo(out_dir: str | Path = "demo-output", photo: str = "coffee", frames: int = 20,
             size: tuple[int, int] = (224, 352), device: str = "cpu", quiet: bool = True) -> DemoResult:
    """Make a short low-res clip from a held-out photograph, upscale it with ``edvr-tiny`` (offline),
    and write the video, a comparison image and PSNRs against bicubic and bilinear.

    Args:
        out_dir: where everything goes (replaced files, never other ones).
        photo: a held-out photograph (``coffee`` or ``chelsea``).
        frames: clip length.
        size: ground-truth frame size (h, w), multiples of 4; the input is a quarter of it.
        device: where the network runs.
        quiet: no progress bar from the restoration pipeline.
    """
    from edvr_cli import RestoreSettings, restore_video
    from edvr_cli.guard.output import guarded_output
    from edvr_cli.lab.compare import compose
    from edvr_cli.lab.degrade import bicubic_up, bilinear_up
    from edvr_cli.lab.metrics import mean_psnr
    from edvr_cli.video.images import iter_clip, open_rgb_writer, write_frames, write_image

    if photo not in HELDOUT_PHOTOS:
        raise ValueError(f"the demo uses a held-out photograph: {' or '.join(HELDOUT_PHOTOS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gt, lq = heldout_clip(photo, frames, size)
    gt8, lq8 = to_uint8(gt), to_uint8(lq)

    input_frames = out / "input-frames"
    with guarded_output(input_frames, overwrite=True, folder=True) as temp:
        write_frames(temp, lq8)
    input_video = out / "input.mp4"
    with guarded_output(input_video, overwrite=True) as temp:
        with open_rgb_writer(temp, lq8.shape[2], lq8.shape[1], 24, crf=12, pix_fmt="yuv420p") as writer:
            for f in lq8:
                writer.write(f)

    settings = RestoreSettings(task="upscale", model=_model_spec(), device=device, overwrite=True, quiet=quiet,
                               precision="fp32")
    output_video = out / "edvr-tiny.mp4"
    restore_video(input_frames, output_video, settings)
    restored_frames = out / "edvr-tiny-frames"
    restore_video(input_frames, restored_frames, settings)
    sr8 = np.stack(list(iter_clip(restored_frames)))

    bicubic8 = to_uint8(bicubic_up(lq))
    bilinear8 = to_uint8(bilinear_up(lq))
    scores = {"bicubic": mean_psnr(bicubic8, gt8), "bilinear": mean_psnr(bilinear8, gt8),
              "edvr-tiny": mean_psnr(sr8, gt8)}
    mid = len(gt8) // 2
    image = compose(
        [lq8[mid], bicubic8[mid], sr8[mid], gt8[mid]],
        ["input x1/4", f"bicubic {scores['bicubic']:.2f}dB", f"edvr-tiny {scores['edvr-tiny']:.2f}dB", "ground truth"],
    )
    comparison = out / "comparison.png"
    with guarded_output(comparison, overwrite=True) as temp:
        write_image(temp, image)
    return DemoResult(input_frames, input_video, output_video, comparison, scores)


def main() -> None:
    """``python -m edvr_cli.lab.demo [OUT_DIR]``."""
    import sys

    torch.set_num_threads(1)  # a tiny model: one thread is fast enough and never fights other jobs
    result = run_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-output")
    print(result.summary())


if __name__ == "__main__":
    main()
