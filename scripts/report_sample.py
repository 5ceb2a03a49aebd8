"""Make the README's sample fidelity report, offline, on a CPU.

1. Two held-out evaluation clips (``coffee`` then ``chelsea``, 12 low-res frames each, 80x48: made as
   ``edvr-tiny``'s evaluation clips are) joined into one 24-frame PNG folder, so there is a scene cut.
2. ``edvr upscale IN OUT --model edvr-tiny --report OUT/report`` (OUT a folder of PNG frames), and the
   true RGB PSNR of the output and of the bicubic upscale against the clips' ground truth, for comparison
   with the report's data-consistency numbers (which need no ground truth).
3. With a headless Chromium on the PATH (``chromium-headless-shell`` or ``chromium``; Debian packages
   them), a screenshot of the page into ``docs/report-sample.png``.

Usage: python scripts/report_sample.py [--out out/report-sample] [--screenshot docs/report-sample.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from edvr_cli.cli.main import main as edvr
from edvr_cli.lab.demo import heldout_clip, to_uint8
from edvr_cli.video.images import write_frames

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def screenshot(page: Path, png: Path, width: int = 1000, height: int = 2400) -> bool:
    """A PNG of ``page`` by a headless Chromium; False when none is installed."""
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        return False
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png.resolve()}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png.is_file()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/report-sample"))
    parser.add_argument("--screenshot", type=Path, default=Path("docs/report-sample.png"))
    args = parser.parse_args()
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)
    clips = [heldout_clip(name) for name in ("coffee", "chelsea")]
    write_frames(out / "in", np.concatenate([to_uint8(lq) for _, lq in clips]))
    rc = edvr(["upscale", str(out / "in"), str(out / "out"), "--model", "edvr-tiny", "--device", "cpu",
               "--report", str(out / "report")])
    if rc:
        return rc
    from edvr_cli.lab.degrade import bicubic_up
    from edvr_cli.lab.metrics import calculate_psnr
    from edvr_cli.video.images import iter_clip

    gts = [g for gt, _ in clips for g in to_uint8(gt)]
    bicubic = [b for _, lq in clips for b in to_uint8(bicubic_up(lq))]
    restored = list(iter_clip(out / "out"))
    for label, frames in (("edvr-tiny", restored), ("bicubic", bicubic)):
        shots = [np.mean([calculate_psnr(f, g) for f, g in zip(frames[k:k + 12], gts[k:k + 12], strict=True)])
                 for k in (0, 12)]
        print(f"true PSNR against the ground truth, {label}: shot 0 {shots[0]:.2f} dB, shot 1 {shots[1]:.2f} dB")
    if screenshot(out / "report.html", args.screenshot):
        print(f"screenshot: {args.screenshot}")
    else:
        print("no headless Chromium on the PATH: no screenshot", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
