"""Click commands ``train``, ``eval`` and ``compare`` (registered on the main ``edvr`` group).

Every option is checked when it is parsed (one ``edvr: error:`` line, never a traceback), and the
lab modules (and torch) are imported only inside the commands: ``edvr --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NoReturn

import click

from edvr_cli.errors import EDVRError, first_line
from edvr_cli.model.padding import PADDINGS

#: Largest column width of a comparison image (a 4K-wide column).
MAX_PANEL_WIDTH = 3840
#: Frame rates a comparison video accepts.
MIN_FPS, MAX_FPS = 0.01, 1000.0


def _fail(exc: Exception) -> NoReturn:
    raise click.ClickException(first_line(exc)) from None


def _parse_size_list(text: str | None, name: str) -> list[int]:
    if not text:
        return []
    try:
        return [int(v) for v in text.replace("x", ",").split(",")]
    except ValueError:
        raise click.BadParameter(f"expected integers separated by commas, got {text!r}", param_hint=name) from None


def _odd_positive(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and (value < 1 or value % 2 == 0):
        raise click.BadParameter(f"{value} is not an odd positive number of frames (1, 3, 5, 7 ...)")
    return value


def _finite(low: float, high: float = math.inf, low_open: bool = False):
    """A callback accepting finite floats in [low, high] (``(low, high]`` with ``low_open``); None passes."""

    def check(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
        if value is None:
            return value
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            bound = f"more than {low:g}" if low_open else f"at least {low:g}"
            if math.isfinite(high):
                bound += f" and at most {high:g}"
            raise click.BadParameter(f"{value} is not a finite number {bound}")
        return value

    return check


def _multiple_of_4(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and (value < 4 or value % 4):
        raise click.BadParameter(f"{value} is not a positive multiple of 4 (the network halves sizes twice)")
    return value


def _json_target(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "-":
        return value
    if not value.strip():
        raise click.BadParameter("the report path is empty")
    path = Path(value)
    if path.is_dir() or value.endswith(("/", "\\")):
        raise click.BadParameter(f"'{value}' is a folder; give a file name for the JSON report (or '-' for stdout)")
    return value


def _crop(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[int, int, int, int]]:
    crops = []
    for text in values:
        v = _parse_size_list(text, "--crop")
        if len(v) != 4:
            raise click.BadParameter(f"expected X,Y,W,H, got {text!r}")
        if v[0] < 0 or v[1] < 0 or v[2] <= 0 or v[3] <= 0:
            raise click.BadParameter(f"{text!r}: X and Y must be 0 or more, W and H more than 0")
        crops.append((v[0], v[1], v[2], v[3]))
    return crops


# ------------------------------------------------------------------------------------------------ train


@click.command("train")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--out-dir", "-o", type=click.Path(path_type=Path), default=Path("runs/edvr"), show_default=True,
              help="Run folder: checkpoints, log.jsonl, options.json, model.safetensors.")
@click.option("--model-out", type=click.Path(path_type=Path), default=None,
              help="Where to write the final .safetensors (default OUT_DIR/model.safetensors).")
@click.option("--config", "preset", type=click.Choice(["tiny", "M", "L"]), default="tiny", show_default=True,
              help="Network size preset; the options below override single fields.")
@click.option("--num-feat", type=click.IntRange(1, 1024), default=None, help="Feature channels.")
@click.option("--num-frame", type=int, default=None, callback=_odd_positive, help="Frames per window (odd).")
@click.option("--deformable-groups", type=click.IntRange(1, 1024), default=None,
              help="Offset groups of the deformable convs.")
@click.option("--num-extract-block", type=click.IntRange(0, 1000), default=None,
              help="Residual blocks of feature extraction.")
@click.option("--num-reconstruct-block", type=click.IntRange(0, 1000), default=None,
              help="Residual blocks of reconstruction.")
@click.option("--tsa/--no-tsa", default=None, help="TSA fusion (default: on).")
@click.option("--predeblur/--no-predeblur", default=None, help="Pre-deblur module (deblurring models).")
@click.option("--hr-in/--no-hr-in", default=None, help="Input at output resolution (x1 deblurring models).")
@click.option("--init", default=None, metavar="NAME|PATH", help="Start from this model (fine-tune); its config wins.")
@click.option("--resume", default=None, is_flag=False, flag_value="auto", metavar="[PATH]",
              help="Continue from a checkpoint (bare --resume: OUT_DIR/last.pt).")
@click.option("--steps", type=click.IntRange(min=1), default=3000, show_default=True, help="Total optimiser steps.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=8, show_default=True)
@click.option("--patch", type=int, default=32, show_default=True, callback=_multiple_of_4,
              help="Input (low-res) patch size: a multiple of 4 (of 16 for full-resolution input).")
@click.option("--lr", type=float, default=4e-4, callback=_finite(0, low_open=True), show_default=True,
              help="Peak learning rate (Adam).")
@click.option("--lr-min", type=float, default=1e-6, callback=_finite(0), show_default=True,
              help="Learning rate at the end of the cosine.")
@click.option("--warmup", type=click.IntRange(min=0), default=100, show_default=True, help="Linear warm-up steps.")
@click.option("--grad-clip", type=float, default=0.0, callback=_finite(0), show_default=True,
              help="Clip the gradient norm (0: off).")
@click.option("--val-fraction", type=float, default=0.1, callback=_finite(0, 1), show_default=True,
              help="Fraction of the sources held out for validation.")
@click.option("--val-dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="Validate on this folder instead of a split of DATA.")
@click.option("--val-every", type=click.IntRange(min=1), default=500, show_default=True,
              help="Validation PSNR every N steps.")
@click.option("--val-samples", type=click.IntRange(1, 100000), default=16, show_default=True,
              help="Validation windows.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--log-every", type=click.IntRange(min=1), default=50, show_default=True,
              help="Log line every N steps (no terminal).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Seeds initialisation and every batch.")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu, cuda, cuda:1 ... (bf16 autocast on CUDA).")
@click.option("--threads", type=click.IntRange(1, 1024), default=None, help="CPU threads for torch.")
@click.option("--dcn-backend", type=click.Choice(["auto", "torchvision", "pure"]), default="auto", show_default=True,
              help="Deformable conv backend (auto: pure PyTorch on CPU, faster to train).")
@click.option("--blur", type=click.Choice(["gaussian", "motion"]), default=None,
              help="Blur targets before downsampling.")
@click.option("--blur-strength", type=float, default=1.5, callback=_finite(0, 100, low_open=True), show_default=True,
              help="Gaussian sigma or motion length.")
@click.option("--jpeg", type=click.IntRange(2, 31), default=None, metavar="Q",
              help="JPEG-compress inputs with quantiser Q (2-31).")
@click.option("--crf", type=click.IntRange(0, 51), default=None, help="H.264-compress input windows with this CRF.")
@click.option("--max-speed", type=float, default=None, callback=_finite(0, 1000),
              help="Stills: camera drift, HR pixels per frame (default 6).")
@click.option("--detail-bias", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Stills: keep the most detailed of N random crops (fewer flat patches).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --model-out file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def train_command(data, out_dir, model_out, preset, num_feat, num_frame, deformable_groups, num_extract_block,
                  num_reconstruct_block, tsa, predeblur, hr_in, init, resume, steps, batch_size, patch, lr, lr_min,
                  warmup, grad_clip, val_fraction, val_dir, val_every, val_samples, checkpoint_every, log_every,
                  seed, device, threads, dcn_backend, blur, blur_strength, jpeg, crf, max_speed, detail_bias,
                  overwrite, quiet):
    """Train an EDVR network on DATA: a folder of videos, image sequences (sub-folders) or still photos.

    Stills become clips through a random smooth camera motion; inputs are made by x4 bicubic
    downsampling (plus optional blur and compression). Deterministic with --seed, resumable.
    """
    from edvr_cli.lab.train import PRESETS, TrainOptions, train

    model = PRESETS[preset].to_dict()
    overrides = {
        "num_feat": num_feat, "num_frame": num_frame, "deformable_groups": deformable_groups,
        "num_extract_block": num_extract_block, "num_reconstruct_block": num_reconstruct_block,
        "with_tsa": tsa, "with_predeblur": predeblur, "hr_in": hr_in,
    }
    model.update({k: v for k, v in overrides.items() if v is not None})
    try:
        from edvr_cli.model.arch import EDVRConfig

        config = EDVRConfig.from_dict(model)
    except ValueError as exc:
        shown = ", ".join(f"{k} {v}" for k, v in model.items() if k in ("num_feat", "num_frame", "deformable_groups"))
        raise click.UsageError(f"no such network: {first_line(exc)} ({shown})") from None
    if init is None and patch % config.multiple_of:
        raise click.BadParameter(f"{patch} is not a multiple of {config.multiple_of}, which full-resolution "
                                 "(--hr-in) networks need", param_hint="'--patch'")
    opts = TrainOptions(
        data=str(data), out_dir=str(out_dir), model=model, init=init, steps=steps, batch_size=batch_size,
        patch=patch, lr=lr, lr_min=lr_min, warmup=warmup, grad_clip=grad_clip, val_fraction=val_fraction,
        val_dir=str(val_dir) if val_dir else None, val_every=val_every, val_samples=val_samples,
        checkpoint_every=checkpoint_every, log_every=log_every, seed=seed, device=device, threads=threads,
        dcn_backend=dcn_backend, blur=blur, blur_strength=blur_strength, jpeg=jpeg, crf=crf,
        motion={} if max_speed is None else {"max_speed": max_speed}, detail_candidates=detail_bias,
    )
    try:
        result = train(opts, resume=resume, model_out=model_out, quiet=quiet, overwrite=overwrite)
    except (EDVRError, ValueError) as exc:
        _fail(exc)
    last = next((h["val_psnr"] for h in reversed(result.history) if "val_psnr" in h), None)
    msg = f"wrote {result.model_path} after {result.step} steps"
    if last is not None:
        msg += f" (validation PSNR {last:.2f} dB)"
    click.echo(msg)


train = train_command


# ------------------------------------------------------------------------------------------------- eval


@click.command("eval")
@click.option("--gt", type=click.Path(exists=True, path_type=Path), required=True,
              help="Ground truth: a video, a folder of images (one clip) or a folder of clip folders / videos.")
@click.option("--pred", type=click.Path(exists=True, path_type=Path), default=None,
              help="Restored clips to score (same layout and names as --gt).")
@click.option("--model", "model", default=None, metavar="NAME|PATH",
              help="Run this model (or 'bicubic' / 'bilinear') on --lq instead of reading --pred.")
@click.option("--lq", type=click.Path(exists=True, path_type=Path), default=None, help="Low-res inputs for --model.")
@click.option("--crop-border", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pixels ignored at each image edge.")
@click.option("--y-channel", is_flag=True, help="Score the Y channel (BT.601, 16-235) instead of RGB.")
@click.option("--border-frames/--no-border-frames", default=True, show_default=True,
              help="Include the first and last window//2 frames of each clip.")
@click.option("--window", type=int, default=5, show_default=True, callback=_odd_positive,
              help="With --pred: window length defining border frames (odd).")
@click.option("--padding", type=click.Choice(PADDINGS), default=None,
              help="Temporal padding at clip ends (default: the model's published one, as `edvr upscale`).")
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default=None,
              help="Network precision (default: fp16 on CUDA, fp32 elsewhere, as `edvr upscale`).")
@click.option("--batch", type=click.IntRange(1, 256), default=None,
              help="Windows per forward pass [default: automatic, as `edvr upscale`].")
@click.option("--save", "save_dir", type=click.Path(path_type=Path), default=None,
              help="Also write the model's outputs here, one folder of PNG frames per clip.")
@click.option("--json", "json_out", default=None, metavar="PATH|-", callback=_json_target,
              help="Write the JSON report here ('-': stdout only).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --json report or --save folders.")
@click.option("--quiet", "-q", is_flag=True, help="No per-clip lines.")
def eval_command(gt, pred, model, lq, crop_border, y_channel, border_frames, window, padding, device, precision,
                 batch, save_dir, json_out, overwrite, quiet):
    """PSNR / SSIM (BasicSR's definitions) per clip and averaged over all frames.

    Either score existing results (--pred DIR --gt DIR) or run a model (--model NAME --lq DIR --gt DIR).
    Frames are decoded as `edvr upscale` decodes them, and models run as it runs them.
    """
    if (pred is None) == (model is None):
        raise click.UsageError("give either --pred, or --model with --lq")
    if model is not None and lq is None:
        raise click.UsageError("--model needs --lq (the low-res input clips)")
    if save_dir is not None and model is None:
        raise click.UsageError("--save keeps a model's outputs; it needs --model")
    from edvr_cli.guard.output import check_output, write_file
    from edvr_cli.lab.evaluate import evaluate_dirs, evaluate_model, model_runner

    inputs = [p for p in (gt, pred, lq) if p is not None]
    to_stdout = json_out == "-"

    def on_clip(name: str, r: dict) -> None:
        if not quiet and not to_stdout:
            click.echo(f"{name}: PSNR {r['psnr']:.4f} dB  SSIM {r['ssim']:.4f}  ({r['frames']} frames)")

    try:
        if json_out and not to_stdout:
            check_output(json_out, overwrite=overwrite, inputs=inputs)  # refuse before the work, not after
        if pred is not None:
            result = evaluate_dirs(pred, gt, crop_border, y_channel, border_frames, window, on_clip=on_clip)
        else:
            runner = model_runner(model, device=device, padding=padding, batch=batch, precision=precision)
            result = evaluate_model(runner, lq, gt, crop_border, y_channel, border_frames, save_dir, on_clip=on_clip,
                                    overwrite=overwrite)
        text = json.dumps(result, indent=2)
        if json_out and not to_stdout:
            write_file(json_out, text + "\n", overwrite=overwrite, inputs=inputs)
    except (EDVRError, ValueError) as exc:
        _fail(exc)
    if to_stdout:
        click.echo(text)
        return
    avg = result["average"]
    frames = sum(c["frames"] for c in result["clips"].values())
    clips = len(result["clips"])
    click.echo(f"average: PSNR {avg['psnr']:.4f} dB  SSIM {avg['ssim']:.4f}  ({frames} frames, {clips} clips)")


# ---------------------------------------------------------------------------------------------- compare


@click.command("compare")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True,
              help="Output: a .png image, or a video file (.mp4, .mkv ...) with --video.")
@click.option("--label", "-l", "labels", multiple=True, help="Label of each source, in order (default: file names).")
@click.option("--frame", "-f", type=click.IntRange(min=0), default=0, show_default=True,
              help="Frame to compare (0-based).")
@click.option("--crop", "crops", multiple=True, metavar="X,Y,W,H", callback=_crop,
              help="Region to zoom, in the largest source's pixels; repeat for several (default: one automatic).")
@click.option("--width", "panel_width", type=click.IntRange(16, MAX_PANEL_WIDTH), default=None,
              help="Width of each column (default: min(frame width, 480)).")
@click.option("--video", is_flag=True, help="Write a split-screen comparison video instead of an image.")
@click.option("--fps", type=float, default=None, callback=_finite(MIN_FPS, MAX_FPS),
              help="--video: frame rate (default: the first source's, or 25).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="--video: stop after this many frames.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (never one of the sources).")
def compare_command(sources, out, labels, frame, crops, panel_width, video, fps, max_frames, overwrite):
    """Compare SOURCES (videos or image folders, any resolutions) side by side.

    By default writes one labelled image: each source's chosen frame in full, plus zoomed crops.
    With --video, writes a split-screen video (one vertical strip per source).
    """
    from edvr_cli.video.paths import is_video_file

    if labels and len(labels) != len(sources):
        raise click.UsageError(f"{len(labels)} --label for {len(sources)} sources")
    if video and not is_video_file(out):
        raise click.BadParameter(f"'{out}' has no video extension; --video writes a video (.mp4, .mkv ...)",
                                 param_hint="'--out'")
    if not video and out.suffix.lower() != ".png":
        raise click.BadParameter(f"'{out}' is not a .png name; the comparison image is a PNG (or use --video)",
                                 param_hint="'--out'")
    from edvr_cli.guard.output import check_output
    from edvr_cli.lab.compare import compare_image, compare_video

    try:
        check_output(out, overwrite=overwrite, inputs=sources)
        if video:
            path, n = compare_video(sources, out, labels or None, fps=fps, max_frames=max_frames, overwrite=overwrite)
            click.echo(f"wrote {path} ({n} frames)")
        else:
            path = compare_image(sources, out, frame, labels or None, crops or None, panel_width, overwrite=overwrite)
            click.echo(f"wrote {path}")
    except (EDVRError, ValueError) as exc:
        _fail(exc)


compare = compare_command
