"""Evaluation: PSNR/SSIM of restored clips against ground truth, from files or by running a model.

A folder of images is one clip; a folder of folders (or of videos) holds one clip each, matched by
name between prediction (or low-res input) and ground truth; frames are matched in order. Scores are
given per clip and averaged over all frames of all clips, as BasicSR's video tests do.

Frames are read by :mod:`edvr_cli.video` (the stream's own colour matrix, the pipeline's 8-bit
rounding), so a clip is scored as ``edvr upscale`` sees it. Models run through the product's own
window loop, :class:`edvr_cli.engine.restorer.StreamRestorer`, with the model's published temporal
padding: ``eval --model`` scores exactly what ``edvr upscale`` writes. ``bicubic`` and ``bilinear``
are built-in baselines (MATLAB bicubic, and the bilinear upsampling EDVR adds its residual to).
Clips stream through: memory holds a window of frames, not a clip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from edvr_cli.errors import InputError
from edvr_cli.lab.metrics import calculate_psnr, calculate_ssim
from edvr_cli.video.images import iter_clip, iter_clip_float, rgb_source_info
from edvr_cli.video.paths import is_video_file, list_images, natural_sort_key
from edvr_cli.video.writer import ImageSequenceWriter

BASELINES = ("bicubic", "bilinear")

#: (psnr, ssim) of one frame.
Score = tuple[float, float]


def _is_clip(path: Path) -> bool:
    return (path.is_file() and is_video_file(path)) or (path.is_dir() and bool(list_images(path)))


def find_clips(root: str | Path) -> dict[str, Path]:
    """Clips under ``root``: itself when it holds images (or is a video), else its sub-folders and videos."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root} does not exist")
    if _is_clip(root):
        return {root.stem if root.is_file() else root.name: root}
    if not root.is_dir():
        raise InputError(f"{root} is neither a video file nor a folder of images or clips")
    clips = {}
    for p in sorted(root.iterdir(), key=lambda q: natural_sort_key(q.name)):
        if not p.name.startswith(".") and _is_clip(p):
            clips[p.stem if p.is_file() else p.name] = p
    if not clips:
        raise InputError(f"{root} holds no images, image folders or videos")
    return clips


def match_clips(a: dict[str, Path], b: dict[str, Path], what: str) -> list[tuple[str, Path, Path]]:
    """``(name, path in a, path in b)`` for every clip of ``b``; a single clip on each side matches
    whatever the names."""
    if len(a) == 1 and len(b) == 1:
        return [(next(iter(b)), next(iter(a.values())), next(iter(b.values())))]
    missing = [n for n in b if n not in a]
    if missing:
        raise InputError(f"{what} has no clip for ground-truth clip(s): {', '.join(missing)}")
    return [(n, a[n], b[n]) for n in b]


# --------------------------------------------------------------------------------------------- runners


@dataclass
class Runner:
    """Something that turns a low-res clip into a restored one: a model or a baseline.

    ``restore`` maps a stream of ``(h, w, 3)`` float32 RGB frames in [0, 1] (as the video reader gives
    them) to a stream of ``(s*h, s*w, 3)`` uint8 frames, one per input, in order.
    """

    name: str
    scale: int
    window: int
    restore: Callable[[Iterable[np.ndarray]], Iterator[np.ndarray]]
    padding: str | None = None


def baseline_runner(name: str, scale: int = 4) -> Runner:
    """``bicubic`` (MATLAB) or ``bilinear`` x``scale`` upsampling, quantised like the pipeline."""
    import torch

    from edvr_cli.lab.degrade import bicubic_up, bilinear_up

    fn = {"bicubic": bicubic_up, "bilinear": bilinear_up}[name]

    def restore(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for rgb in frames:
            x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
            y = fn(x, scale)[0].clamp(0, 1)
            yield (y * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    return Runner(name, scale, 1, restore)


def model_runner(spec: str | Path, device: str = "auto", padding: str | None = None, batch: int | None = None,
                 precision: str | None = None, tile: int | None = None) -> Runner:
    """A runner for a registry name, imported name or checkpoint path (or ``bicubic`` / ``bilinear``).

    The model runs in :class:`~edvr_cli.engine.restorer.StreamRestorer`, as ``edvr upscale`` runs it:
    temporal padding ``padding``, else the registry's published one, else
    :func:`~edvr_cli.model.padding.published_padding` of the model; ``precision`` defaults to the
    device's default (fp16 on CUDA, fp32 elsewhere); ``tile`` and ``batch`` None are automatic (the
    restorer then picks the tile size ``edvr upscale`` picks: tiled frames blend, so they must match).
    """
    if str(spec) in BASELINES:
        return baseline_runner(str(spec))
    from edvr_cli.engine.device import default_precision, resolve_device
    from edvr_cli.engine.restorer import StreamRestorer
    from edvr_cli.jobs.models import load_one

    dev = resolve_device(device)
    described, _ = load_one(str(spec), dev, padding=padding, quiet=True)
    model, pad = described.model, described.padding
    prec = precision or default_precision(dev)

    def restore(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        restorer = StreamRestorer(model, pad, device=dev, precision=prec, tile=tile, batch=batch)
        yield from cast(Iterator[np.ndarray], restorer.run(_check_sizes(frames, model)))  # no out_layout: RGB

    return Runner(described.name, described.scale, described.num_frame, restore, pad)


def _check_sizes(frames: Iterable[np.ndarray], model) -> Iterator[np.ndarray]:
    """The frames, refusing (before the network sees them) the sizes ``edvr upscale`` refuses: too large,
    or too small for the model to pad to its size multiple."""
    from edvr_cli.jobs.limits import check_frame_size, check_model_fit

    for i, rgb in enumerate(frames):
        if i == 0:
            h, w = rgb.shape[:2]
            check_frame_size(w, h, model.scale)
            check_model_fit(w, h, model.multiple_of)
        yield rgb


# --------------------------------------------------------------------------------------------- scoring


class _Counted:
    """An iterator that counts what it hands out."""

    def __init__(self, frames: Iterable[np.ndarray]) -> None:
        self._it = iter(frames)
        self.count = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        item = next(self._it)
        self.count += 1
        return item

    def drain(self) -> int:
        for _ in self:
            pass
        return self.count


def _score_stream(pred: Iterable[np.ndarray], gt: _Counted, source: _Counted, name: str, noun: str,
                  crop_border: int, y_channel: bool, sink: Callable[[np.ndarray], None] | None = None) -> list[Score]:
    """Score every frame of ``pred`` against ``gt`` in step; ``source`` is what ``pred`` is made of
    (the same iterator for a plain prediction) and tells the frame counts apart."""
    scores: list[Score] = []
    for p, g in zip(pred, gt, strict=False):  # unequal counts are told apart below
        if p.shape != g.shape:
            raise InputError(f"clip {name}: frame sizes differ: {noun} {p.shape[1]}x{p.shape[0]}, "
                             f"ground truth {g.shape[1]}x{g.shape[0]}")
        if sink is not None:
            sink(p)
        scores.append((calculate_psnr(p, g, crop_border, y_channel), calculate_ssim(p, g, crop_border, y_channel)))
    n_gt, n_src = gt.drain(), source.drain()
    if n_gt == 0:
        raise InputError(f"clip {name}: the ground truth has no frames")
    if n_src != n_gt:
        raise InputError(f"clip {name}: {n_src} {noun} frames but {n_gt} ground-truth frames")
    return scores


def _kept(scores: list[Score], window: int, border_frames: bool) -> list[Score]:
    t = len(scores)
    half = 0 if border_frames else window // 2
    if t <= 2 * half:
        raise InputError(f"a clip of {t} frames has no frames left once the {half} border frames at each end "
                         "are excluded")
    return scores[half : t - half]


def _summary(per_clip: dict[str, list[Score]]) -> dict:
    clips = {
        name: {"psnr": float(np.mean([s[0] for s in scores])), "ssim": float(np.mean([s[1] for s in scores])),
               "frames": len(scores)}
        for name, scores in per_clip.items()
    }
    every = [s for scores in per_clip.values() for s in scores]
    return {"average": {"psnr": float(np.mean([s[0] for s in every])), "ssim": float(np.mean([s[1] for s in every]))},
            "clips": clips}


def evaluate_dirs(pred: str | Path, gt: str | Path, crop_border: int = 0, y_channel: bool = False,
                  border_frames: bool = True, window: int = 5,
                  on_clip: Callable[[str, dict], None] | None = None) -> dict:
    """Score restored clips in ``pred`` against ``gt``.

    Args:
        pred, gt: a video, a folder of images (one clip), or a folder of clip folders / videos
            (matched by name).
        crop_border: pixels ignored at each image edge.
        y_channel: score the BT.601 Y channel instead of RGB.
        border_frames: include the first and last ``window // 2`` frames of each clip.
        window: the window length that defines the border frames (positive).
        on_clip: called with ``(name, clip_result)`` as each clip is done.

    Returns:
        ``{"average": {"psnr", "ssim"}, "clips": {name: {"psnr", "ssim", "frames"}}}``.
    """
    if window < 1:
        raise ValueError(f"window must be positive, got {window}")
    per_clip: dict[str, list[Score]] = {}
    for name, p_path, g_path in match_clips(find_clips(pred), find_clips(gt), "prediction"):
        p = _Counted(iter_clip(p_path))
        scores = _score_stream(p, _Counted(iter_clip(g_path)), p, name, "predicted", crop_border, y_channel)
        per_clip[name] = _kept(scores, window, border_frames)
        if on_clip:
            on_clip(name, _summary({name: per_clip[name]})["clips"][name])
    return _summary(per_clip)


def evaluate_model(runner: Runner, lq: str | Path, gt: str | Path, crop_border: int = 0, y_channel: bool = False,
                   border_frames: bool = True, save_dir: str | Path | None = None,
                   on_clip: Callable[[str, dict], None] | None = None, overwrite: bool = False) -> dict:
    """Run ``runner`` on the low-res clips in ``lq`` and score against ``gt`` (same result shape as
    :func:`evaluate_dirs`; the window for border frames is the model's).

    ``save_dir`` keeps the outputs as PNG frames in ``save_dir/<clip name>/``, each folder written
    through the output guard (complete or not at all; an existing one replaced only with ``overwrite``).
    """
    from edvr_cli.guard.output import check_output, guarded_output

    pairs = match_clips(find_clips(lq), find_clips(gt), "the low-res input")
    inputs = [lq, gt, *(p for _, a, b in pairs for p in (a, b))]
    if save_dir is not None:  # refuse before any work
        for name, _, _ in pairs:
            check_output(Path(save_dir) / name, overwrite=overwrite, inputs=inputs, folder=True)
    window = runner.window if runner.window > 1 else 5  # baselines: border frames of a 5-frame model
    per_clip: dict[str, list[Score]] = {}
    for name, src_path, gt_path in pairs:
        with contextlib.ExitStack() as stack:
            sink = None
            if save_dir is not None:
                folder = stack.enter_context(
                    guarded_output(Path(save_dir) / name, overwrite=overwrite, inputs=inputs, folder=True))
                sink = _FrameSink(folder)
            source = _Counted(iter_clip_float(src_path))
            scores = _score_stream(runner.restore(source), _Counted(iter_clip(gt_path)), source, name, "input",
                                   crop_border, y_channel, sink)
            if sink is not None:
                sink.close()
        per_clip[name] = _kept(scores, window, border_frames)
        if on_clip:
            on_clip(name, _summary({name: per_clip[name]})["clips"][name])
    return _summary(per_clip)


class _FrameSink:
    """Writes frames one by one as ``00000000.png ...`` into a folder (the guard's temporary)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writer: ImageSequenceWriter | None = None

    def __call__(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            h, w = rgb.shape[:2]
            self._writer = ImageSequenceWriter(self.folder, rgb_source_info(w, h), w, h, copy_streams=False)
        self._writer.write(rgb)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
