"""Evaluation: PSNR/SSIM of restored clips against ground truth, from files or by running a model.

A folder of images is one clip; a folder of folders (or of videos) holds one clip each, matched by
name between prediction (or low-res input) and ground truth; frames are matched in order. Scores are
given per clip and averaged over all frames of all clips, as BasicSR's video tests do.

Models are run with a plain sliding window (one window per centre frame, the published temporal
padding at the clip's ends). ``bicubic`` and ``bilinear`` are built-in baselines (MATLAB bicubic, and
the bilinear upsampling EDVR adds its residual to).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from edvr_cli.errors import InputError
from edvr_cli.lab.metrics import calculate_psnr, calculate_ssim
from edvr_cli.lab.train.media import is_video, iter_clip, list_images, natural_key, write_frames

BASELINES = ("bicubic", "bilinear")


def find_clips(root: str | Path) -> dict[str, Path]:
    """Clips under ``root``: itself when it holds images (or is a video), else its sub-folders and videos."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root} does not exist")
    if is_video(root) or (root.is_dir() and list_images(root)):
        return {root.stem if root.is_file() else root.name: root}
    clips = {}
    for p in sorted(root.iterdir(), key=natural_key):
        if is_video(p) or (p.is_dir() and list_images(p)):
            clips[p.stem if p.is_file() else p.name] = p
    if not clips:
        raise InputError(f"{root} holds no images, image folders or videos")
    return clips


def match_clips(a: dict[str, Path], b: dict[str, Path], what: str) -> list[str]:
    """Names present in both; a single clip on each side matches whatever the names."""
    if len(a) == 1 and len(b) == 1:
        return [next(iter(b))]
    common = [n for n in b if n in a]
    missing = [n for n in b if n not in a]
    if missing:
        raise InputError(f"{what} has no clip for ground-truth clip(s): {', '.join(missing)}")
    return common


def load_clip(path: Path) -> np.ndarray:
    """All frames of a clip, ``(t, h, w, 3)`` uint8."""
    frames = list(iter_clip(path))
    if not frames:
        raise InputError(f"{path} has no frames")
    return np.stack(frames)


@dataclass
class Runner:
    """Something that turns low-res clips into restored clips: a model or a baseline."""

    name: str
    scale: int
    window: int
    run: Callable[[torch.Tensor], torch.Tensor]  # (t, 3, h, w) in [0, 1] -> (t, 3, s*h, s*w) in [0, 1]


def baseline_runner(name: str, scale: int = 4) -> Runner:
    from edvr_cli.lab.degrade import bicubic_up, bilinear_up

    fn = {"bicubic": bicubic_up, "bilinear": bilinear_up}[name]
    return Runner(name, scale, 1, lambda lq: fn(lq, scale))


@torch.inference_mode()
def restore_clip(model, lq: torch.Tensor, padding: str = "reflection_circle", batch: int = 4,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Sliding-window restoration of a ``(t, 3, h, w)`` clip in [0, 1] -> ``(t, 3, s*h, s*w)``, clamped.

    Frames are padded (reflect) to the model's size multiple and the output cropped back.
    """
    from edvr_cli.engine.windows import window_indices

    t, _, h, w = lq.shape
    m = model.multiple_of
    ph, pw = (-h) % m, (-w) % m
    x = F.pad(lq, (0, pw, 0, ph), mode="reflect") if (ph or pw) else lq
    s = model.scale
    out = torch.empty(t, 3, h * s, w * s)
    for start in range(0, t, batch):
        centres = range(start, min(t, start + batch))
        windows = torch.stack([x[window_indices(c, t, model.num_frame, padding)] for c in centres])
        y = model(windows.to(device, next(model.parameters()).dtype)).float().cpu()
        out[start : start + len(centres)] = y[..., : h * s, : w * s].clamp(0, 1)
    return out


def model_runner(spec: str | Path, device: str = "auto", padding: str | None = None, batch: int = 4) -> Runner:
    """A runner for a registry name, imported name or checkpoint path (or ``bicubic`` / ``bilinear``)."""
    if str(spec) in BASELINES:
        return baseline_runner(str(spec))
    from edvr_cli import load_model
    from edvr_cli.zoo import resolve_model

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    resolved = resolve_model(spec, quiet=True)
    model = load_model(resolved.path, device=dev)
    pad = padding or resolved.padding or ("reflection_circle" if model.scale == 4 else "replicate")
    return Runner(resolved.name, model.scale, model.num_frame,
                  lambda lq: restore_clip(model, lq, pad, batch, dev))


def _score_frames(pred: np.ndarray, gt: np.ndarray, keep: range, crop_border: int, y_channel: bool) -> list[tuple[float, float]]:
    if pred.shape[1:] != gt.shape[1:]:
        raise InputError(f"frame sizes differ: prediction {pred.shape[2]}x{pred.shape[1]}, ground truth {gt.shape[2]}x{gt.shape[1]}")
    return [
        (calculate_psnr(pred[i], gt[i], crop_border, y_channel), calculate_ssim(pred[i], gt[i], crop_border, y_channel))
        for i in keep
    ]


def _kept(t: int, window: int, border_frames: bool) -> range:
    half = 0 if border_frames else window // 2
    if t <= 2 * half:
        raise InputError(f"a clip of {t} frames has no frames left once the {half} border frames at each end are excluded")
    return range(half, t - half)


def _summary(per_clip: dict[str, list[tuple[float, float]]]) -> dict:
    clips = {
        name: {"psnr": float(np.mean([s[0] for s in scores])), "ssim": float(np.mean([s[1] for s in scores])), "frames": len(scores)}
        for name, scores in per_clip.items()
    }
    every = [s for scores in per_clip.values() for s in scores]
    return {"average": {"psnr": float(np.mean([s[0] for s in every])), "ssim": float(np.mean([s[1] for s in every]))}, "clips": clips}


def _paired_clips(source: str | Path, gt: str | Path, role: str, noun: str):
    """(name, source frames, ground-truth frames) for every clip of ``gt``, with equal frame counts."""
    gt_clips, src_clips = find_clips(gt), find_clips(source)
    for name in match_clips(src_clips, gt_clips, role):
        g = load_clip(gt_clips[name])
        frames = load_clip(src_clips[name if name in src_clips else next(iter(src_clips))])
        if len(frames) != len(g):
            raise InputError(f"clip {name}: {len(frames)} {noun} frames but {len(g)} ground-truth frames")
        yield name, frames, g


def evaluate_dirs(pred: str | Path, gt: str | Path, crop_border: int = 0, y_channel: bool = False,
                  border_frames: bool = True, window: int = 5,
                  on_clip: Callable[[str, dict], None] | None = None) -> dict:
    """Score restored clips in ``pred`` against ``gt``.

    Args:
        pred, gt: a folder of images (one clip), or a folder of clip folders / videos (matched by name).
        crop_border: pixels ignored at each image edge.
        y_channel: score the BT.601 Y channel instead of RGB.
        border_frames: include the first and last ``window // 2`` frames of each clip.
        window: the window length that defines the border frames.
        on_clip: called with ``(name, clip_result)`` as each clip is done.

    Returns:
        ``{"average": {"psnr", "ssim"}, "clips": {name: {"psnr", "ssim", "frames"}}}``.
    """
    per_clip = {}
    for name, p, g in _paired_clips(pred, gt, "prediction", "predicted"):
        per_clip[name] = _score_frames(p, g, _kept(len(g), window, border_frames), crop_border, y_channel)
        if on_clip:
            on_clip(name, _summary({name: per_clip[name]})["clips"][name])
    return _summary(per_clip)


def evaluate_model(runner: Runner, lq: str | Path, gt: str | Path, crop_border: int = 0, y_channel: bool = False,
                   border_frames: bool = True, save_dir: str | Path | None = None,
                   on_clip: Callable[[str, dict], None] | None = None) -> dict:
    """Run ``runner`` on the low-res clips in ``lq`` and score against ``gt`` (same result shape as
    :func:`evaluate_dirs`; the window for border frames is the model's). ``save_dir`` keeps the outputs as PNGs.
    """
    per_clip = {}
    for name, src, g in _paired_clips(lq, gt, "the low-res input", "input"):
        x = torch.from_numpy(src).permute(0, 3, 1, 2).float() / 255
        y = runner.run(x)
        pred = (y * 255).round().byte().permute(0, 2, 3, 1).numpy()
        if save_dir is not None:
            write_frames(Path(save_dir) / name, pred)
        window = runner.window if runner.window > 1 else 5  # baselines: border frames of a 5-frame model
        per_clip[name] = _score_frames(pred, g, _kept(len(g), window, border_frames), crop_border, y_channel)
        if on_clip:
            on_clip(name, _summary({name: per_clip[name]})["clips"][name])
    return _summary(per_clip)
