"""Reproduce the bundled ``edvr-tiny`` model from scratch, offline, on a CPU (``make train-tiny``).

1. Export the real photographs that scikit-image ships (no download needed) into ``OUT/photos``
   (training), ``OUT/val`` (validation monitor) and make the held-out evaluation clips from
   ``coffee`` and ``chelsea`` (never seen in training) in ``OUT/heldout/{lq,gt}``.
2. ``edvr train OUT/photos --val-dir OUT/val ...`` with the recipe below (fixed seed).
3. ``edvr eval`` of bicubic, bilinear and the new model on the held-out clips; the table goes to
   ``OUT/results.md`` (and the model to ``--model-out``).

Usage: python scripts/train_tiny.py [--out out/train-tiny] [--model-out PATH] [--steps N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from edvr_cli.lab.demo import HELDOUT_FRAMES, HELDOUT_PHOTOS, HELDOUT_SIZE, heldout_clip, load_photo

# --- the recipe (recorded in src/edvr_cli/weights/edvr-tiny.md) ---------------------------------------
TRAIN_PHOTOS = [
    "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "motorcycle_left",
    "camera", "moon", "grass", "gravel", "brick", "coins",
]
VAL_PHOTOS = ["motorcycle_right"]  # monitor only (the other view of the stereo pair)
SEED = 0
TRAIN_ARGS = [
    "--config", "tiny", "--steps", "1500", "--batch-size", "8", "--patch", "24", "--lr", "1e-3",
    "--lr-min", "1e-5", "--warmup", "100", "--detail-bias", "3", "--val-every", "250", "--val-samples", "16",
    "--checkpoint-every", "250", "--log-every", "50", "--seed", str(SEED),
]


def _write_clip(folder: Path, frames: torch.Tensor) -> None:
    """Frames in [0, 1] as a PNG folder, quantised as the pipeline does, through the output guard."""
    from edvr_cli.guard.output import guarded_output
    from edvr_cli.video.images import write_frames

    arr = (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    with guarded_output(folder, overwrite=True, folder=True) as temp:
        write_frames(temp, arr)


def _write_photo(path: Path, img) -> None:
    from edvr_cli.guard.output import guarded_output
    from edvr_cli.video.images import write_image

    with guarded_output(path, overwrite=True) as temp:
        write_image(temp, img)


def prepare(out: Path) -> dict[str, Path]:
    """Export training/validation photos and the held-out clips; returns the folders."""
    dirs = {k: out / k for k in ("photos", "val", "heldout")}
    for name in TRAIN_PHOTOS:
        _write_photo(dirs["photos"] / f"{name}.png", load_photo(name))
    for name in VAL_PHOTOS:
        _write_photo(dirs["val"] / f"{name}.png", load_photo(name))
    for name in HELDOUT_PHOTOS:
        gt, lq = heldout_clip(name)
        _write_clip(dirs["heldout"] / "gt" / name, gt)
        _write_clip(dirs["heldout"] / "lq" / name, lq)
    return dirs


def run_click(command, args: list) -> None:
    print("$ edvr", command.name, " ".join(map(str, args)), flush=True)
    command.main([str(a) for a in args], standalone_mode=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/train-tiny"))
    parser.add_argument("--model-out", type=Path, default=None, help="default: OUT/edvr-tiny.safetensors")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's step count (testing)")
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy machine and bit-reproducible")
    parser.add_argument("--skip-train", action="store_true", help="only prepare data and evaluate --model-out")
    args = parser.parse_args(argv)

    from edvr_cli.cli.lab import eval_command, train_command

    torch.set_num_threads(args.threads)
    out = args.out
    model_out = args.model_out or out / "edvr-tiny.safetensors"
    dirs = prepare(out)
    train_args = list(TRAIN_ARGS)
    if args.steps is not None:
        train_args[train_args.index("--steps") + 1] = str(args.steps)
    t0 = time.time()
    if not args.skip_train:
        run_click(train_command, [dirs["photos"], "--val-dir", dirs["val"], "--out-dir", out / "run",
                                  "--model-out", model_out, "--threads", args.threads, "--resume", *train_args])
    minutes = (time.time() - t0) / 60

    rows = []
    for label, model in (("bicubic", "bicubic"), ("bilinear", "bilinear"), ("edvr-tiny", model_out)):
        report = out / f"eval-{label}.json"
        run_click(eval_command, ["--model", model, "--lq", dirs["heldout"] / "lq", "--gt", dirs["heldout"] / "gt",
                                 "--json", report, "--overwrite", "--quiet"])
        result = json.loads(report.read_text())
        rows.append((label, result))
    lines = [
        f"Held-out clips ({', '.join(HELDOUT_PHOTOS)}; {HELDOUT_FRAMES} frames each, "
        f"{HELDOUT_SIZE[1]}x{HELDOUT_SIZE[0]} from {HELDOUT_SIZE[1] // 4}x{HELDOUT_SIZE[0] // 4}), RGB, all frames:",
        "",
        "| method | " + " | ".join(f"{n} PSNR / SSIM" for n in HELDOUT_PHOTOS) + " | average PSNR / SSIM |",
        "|---|" + "---|" * (len(HELDOUT_PHOTOS) + 1),
    ]
    for label, r in rows:
        cells = [f"{r['clips'][n]['psnr']:.2f} / {r['clips'][n]['ssim']:.4f}" for n in HELDOUT_PHOTOS]
        cells.append(f"{r['average']['psnr']:.2f} / {r['average']['ssim']:.4f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if not args.skip_train:
        lines += ["", f"training wall time: {minutes:.1f} min"]
    table = "\n".join(lines)
    from edvr_cli.guard.output import write_file

    write_file(out / "results.md", table + "\n", overwrite=True)
    print(table)
    gain = rows[2][1]["average"]["psnr"] - rows[0][1]["average"]["psnr"]
    print(f"edvr-tiny - bicubic: {gain:+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
