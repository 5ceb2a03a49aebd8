"""Side-by-side comparisons: a labelled image (full frame + zoomed crops) or a split-screen video.

Sources are videos or folders of images (or single images) of the same scene at any resolution; all
are shown at the size of the largest one, enlarged with nearest neighbour so that pixels stay honest.
Labels are drawn with a built-in 5x7 bitmap font: no imaging library is needed. Frames are read and
written by :mod:`edvr_cli.video` (decoded as ``edvr upscale`` decodes them), and outputs go through
the output guard: complete or not at all, never onto a source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edvr_cli.errors import InputError
from edvr_cli.guard.output import check_output, guarded_output
from edvr_cli.video.images import iter_clip, open_rgb_writer, read_clip_frame, write_image
from edvr_cli.video.paths import is_video_file
from edvr_cli.video.probe import probe
from edvr_cli.video.writer import VideoWriter

# ------------------------------------------------------------------------------------------ bitmap font

_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000", ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000", "-": "00000 00000 00000 11111 00000 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111", ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000", "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000", "+": "00000 00100 00100 11111 00100 00100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000", "%": "11000 11001 00010 00100 01000 10011 00011",
    "?": "01110 10001 00001 00010 00100 00000 00100", "[": "01110 01000 01000 01000 01000 01000 01110",
    "]": "01110 00010 00010 00010 00010 00010 01110", "'": "00100 00100 00000 00000 00000 00000 00000",
    "#": "01010 01010 11111 01010 11111 01010 01010", "@": "01110 10001 10111 10101 10111 10000 01110",
}
_FONT = {ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool) for ch, rows in _GLYPHS.items()}
GLYPH_W, GLYPH_H = 5, 7


def render_text(text: str, scale: int = 1) -> np.ndarray:
    """Boolean mask ``(7*scale, (6*len - 1)*scale)`` of ``text`` (lower case drawn as upper case)."""
    if not text:
        return np.zeros((GLYPH_H * scale, 0), dtype=bool)
    glyphs = [_FONT.get(ch.upper(), _FONT["?"]) for ch in text]
    gap = np.zeros((GLYPH_H, 1), dtype=bool)
    parts = []
    for i, g in enumerate(glyphs):
        parts += [g] if i == 0 else [gap, g]
    mask = np.concatenate(parts, axis=1)
    return np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)


def draw_text(img: np.ndarray, text: str, x: int, y: int, scale: int = 1,
              colour: Sequence[int] = (255, 255, 255), shadow: bool = True) -> None:
    """Draw ``text`` into ``img`` (h, w, 3) uint8 in place, top-left at (x, y), clipped to the image."""
    mask = render_text(text, scale)
    for dy, dx, col in ([(scale, scale, (0, 0, 0))] if shadow else []) + [(0, 0, tuple(colour))]:
        y0, x0 = y + dy, x + dx
        h = min(mask.shape[0], img.shape[0] - y0)
        w = min(mask.shape[1], img.shape[1] - x0)
        if h <= 0 or w <= 0 or y0 < 0 or x0 < 0:
            continue
        region = img[y0 : y0 + h, x0 : x0 + w]
        region[mask[:h, :w]] = col


def draw_rect(img: np.ndarray, x: int, y: int, w: int, h: int, colour: Sequence[int], thickness: int = 2) -> None:
    """Outline of a rectangle, in place (clipped)."""
    H, W = img.shape[:2]
    t = thickness
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    img[y0 : min(y1, y0 + t), x0:x1] = colour
    img[max(y0, y1 - t) : y1, x0:x1] = colour
    img[y0:y1, x0 : min(x1, x0 + t)] = colour
    img[y0:y1, max(x0, x1 - t) : x1] = colour


# ------------------------------------------------------------------------------------------- resampling


def resize_nearest(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize of (h, w, 3) uint8 (pixel replication when enlarging by an integer)."""
    if img.shape[:2] == (h, w):
        return img
    ys = (np.arange(h) * img.shape[0] // h).clip(0, img.shape[0] - 1)
    xs = (np.arange(w) * img.shape[1] // w).clip(0, img.shape[1] - 1)
    return img[ys][:, xs]


def resize_area(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-average downscale (or nearest enlargement) of (h, w, 3) uint8."""
    if h >= img.shape[0] and w >= img.shape[1]:
        return resize_nearest(img, h, w)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(h, w), mode="area")
    return y[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


# --------------------------------------------------------------------------------------------- layout

CROP_COLOURS = [(255, 64, 64), (64, 200, 255), (255, 210, 0), (120, 255, 120), (255, 120, 255)]
BACKGROUND = (32, 32, 32)
GAP = 4


@dataclass(frozen=True)
class Layout:
    """Geometry of a comparison image (all in output pixels)."""

    n: int
    panel_w: int
    frame_h: int
    crop_hs: tuple[int, ...]
    label_h: int
    text_scale: int

    @property
    def width(self) -> int:
        return self.n * self.panel_w + (self.n + 1) * GAP

    @property
    def height(self) -> int:
        return GAP + self.label_h + self.frame_h + sum(GAP + h for h in self.crop_hs) + GAP


def plan_layout(ref_hw: tuple[int, int], n: int, crops: Sequence[tuple[int, int, int, int]],
                panel_width: int | None = None) -> Layout:
    """Layout for ``n`` sources shown at reference size ``ref_hw`` with ``crops`` (x, y, w, h) zoomed below."""
    ref_h, ref_w = ref_hw
    panel_w = panel_width or min(ref_w, 480)
    frame_h = max(1, round(ref_h * panel_w / ref_w))
    crop_hs = tuple(max(1, round(panel_w * ch / cw)) for (_, _, cw, ch) in crops)
    scale = max(1, panel_w // 160)
    return Layout(n, panel_w, frame_h, crop_hs, GLYPH_H * scale + 2 * scale + 2, scale)


def auto_crop(frames: Sequence[np.ndarray], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A crop (x, y, w, h) where the sources differ most (or, for one source, with the most detail)."""
    ch, cw = size
    grey = torch.stack([torch.from_numpy(f.astype(np.float32)).mean(-1) for f in frames])
    if len(frames) > 1:
        energy = grey.std(dim=0)
    else:
        g = grey[0]
        energy = F.pad((g[1:, :] - g[:-1, :]).abs(), (0, 0, 0, 1)) + F.pad((g[:, 1:] - g[:, :-1]).abs(), (0, 1))
    score = F.avg_pool2d(energy[None, None], (ch, cw), stride=(max(1, ch // 4), max(1, cw // 4)))[0, 0]
    iy, ix = divmod(int(score.argmax()), score.shape[1])
    return ix * max(1, cw // 4), iy * max(1, ch // 4), cw, ch


def compose(frames: Sequence[np.ndarray], labels: Sequence[str],
            crops: Sequence[tuple[int, int, int, int]] | None = None,
            panel_width: int | None = None) -> np.ndarray:
    """The comparison image of already-read frames (each (h, w, 3) uint8, any sizes).

    Args:
        frames: one frame per source.
        labels: one label per source.
        crops: (x, y, w, h) regions in the coordinates of the largest frame; None: one automatic crop.
        panel_width: width of each column (default: the largest frame's width, at most 480).
    """
    if not frames:
        raise InputError("nothing to compare")
    ref = max(frames, key=lambda f: f.shape[0] * f.shape[1])
    ref_h, ref_w = ref.shape[:2]
    full = [resize_nearest(f, ref_h, ref_w) for f in frames]
    if crops is None:
        crops = [auto_crop(full, (max(8, ref_h // 4), max(8, ref_w // 4)))]
    for x, y, w, h in crops:
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > ref_w or y + h > ref_h:
            raise InputError(f"crop {x},{y},{w},{h} does not fit in the {ref_w}x{ref_h} frame")
    lay = plan_layout((ref_h, ref_w), len(frames), crops, panel_width)
    canvas = np.empty((lay.height, lay.width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    sx = lay.panel_w / ref_w
    for i, (img, label) in enumerate(zip(full, labels, strict=True)):
        x0 = GAP + i * (lay.panel_w + GAP)
        s = lay.text_scale
        max_chars = max(1, (lay.panel_w - 2 * s) // (6 * s))
        draw_text(canvas, label if len(label) <= max_chars else label[: max_chars - 2] + "..", x0 + s, GAP + s, s)
        y = GAP + lay.label_h
        shown = resize_area(img, lay.frame_h, lay.panel_w)
        for k, (cx, cy, cw, chh) in enumerate(crops):
            draw_rect(shown, round(cx * sx), round(cy * sx), max(2, round(cw * sx)), max(2, round(chh * sx)),
                      CROP_COLOURS[k % len(CROP_COLOURS)], thickness=max(1, lay.panel_w // 240))
        canvas[y : y + lay.frame_h, x0 : x0 + lay.panel_w] = shown
        y += lay.frame_h
        for k, ((cx, cy, cw, chh), hh) in enumerate(zip(crops, lay.crop_hs, strict=True)):
            y += GAP
            zoom = resize_nearest(img[cy : cy + chh, cx : cx + cw], hh, lay.panel_w)
            draw_rect(zoom, 0, 0, lay.panel_w, hh, CROP_COLOURS[k % len(CROP_COLOURS)], thickness=2)
            canvas[y : y + hh, x0 : x0 + lay.panel_w] = zoom
            y += hh
    return canvas


def default_label(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def compare_image(sources: Sequence[str | Path], out: str | Path, frame: int = 0, labels: Sequence[str] | None = None,
                  crops: Sequence[tuple[int, int, int, int]] | None = None, panel_width: int | None = None,
                  overwrite: bool = False) -> Path:
    """Write the comparison PNG of frame ``frame`` of each source; returns the path.

    The PNG is written through the output guard: never onto a source, an existing ``out`` replaced
    only with ``overwrite``, and complete or not at all.
    """
    paths = [Path(s) for s in sources]
    labels = list(labels) if labels else [default_label(p) for p in paths]
    if len(labels) != len(paths):
        raise InputError(f"{len(labels)} labels for {len(paths)} sources")
    check_output(out, overwrite=overwrite, inputs=paths)
    frames = [read_clip_frame(p, frame) for p in paths]
    image = compose(frames, labels, crops, panel_width)
    with guarded_output(out, overwrite=overwrite, inputs=paths) as temp:
        write_image(temp, image)
    return Path(out)


def split_screen(frames: Sequence[np.ndarray], labels: Sequence[str], size: tuple[int, int]) -> np.ndarray:
    """One split-screen frame: vertical strips, source ``i`` in strip ``i``, divider lines and labels."""
    h, w = size
    n = len(frames)
    out = np.empty((h, w, 3), dtype=np.uint8)
    bounds = [round(i * w / n) for i in range(n + 1)]
    scale = max(1, w // 480)
    for i, f in enumerate(frames):
        full = resize_nearest(f, h, w)
        out[:, bounds[i] : bounds[i + 1]] = full[:, bounds[i] : bounds[i + 1]]
    for b in bounds[1:-1]:
        out[:, max(0, b - 1) : b + 1] = 255
    for i, label in enumerate(labels):
        draw_text(out, label, bounds[i] + 3 * scale, 3 * scale, scale)
    return out


def source_fps(path: Path, default: float) -> float:
    """The frame rate of a video source (``default`` for image folders and unknown rates)."""
    if not (path.is_file() and is_video_file(path)):
        return default
    fps = probe(path).fps
    return float(fps) if fps else default


def compare_video(sources: Sequence[str | Path], out: str | Path, labels: Sequence[str] | None = None,
                  fps: float | None = None, max_frames: int | None = None, crf: int = 18,
                  overwrite: bool = False) -> tuple[Path, int]:
    """Write a split-screen H.264 video of the sources (as long as the shortest); returns (path, frames).

    Written through the output guard: never onto a source, an existing ``out`` replaced only with
    ``overwrite``; an error or Ctrl-C leaves nothing at ``out`` (and a previous file intact).
    """
    paths = [Path(s) for s in sources]
    labels = list(labels) if labels else [default_label(p) for p in paths]
    if len(labels) != len(paths):
        raise InputError(f"{len(labels)} labels for {len(paths)} sources")
    if not is_video_file(out):
        raise InputError(f"'{out}' has no video extension (.mp4, .mkv ...); a comparison video needs one")
    check_output(out, overwrite=overwrite, inputs=paths)
    rate = Fraction(fps or source_fps(paths[0], 25.0)).limit_denominator(1001)
    count = 0
    with guarded_output(out, overwrite=overwrite, inputs=paths) as temp:
        writer: VideoWriter | None = None
        try:
            for frames in zip(*(iter_clip(p, max_frames) for p in paths), strict=False):  # the shortest
                if writer is None:
                    ref = max(frames, key=lambda f: f.shape[0] * f.shape[1])
                    size = (ref.shape[0] - ref.shape[0] % 2, ref.shape[1] - ref.shape[1] % 2)
                    if min(size) < 2:
                        raise InputError(f"frames of {ref.shape[1]}x{ref.shape[0]} pixels are too small for a video")
                    opened = open_rgb_writer(temp, size[1], size[0], rate, crf=crf, pix_fmt="yuv420p")
                    assert isinstance(opened, VideoWriter)
                    writer = opened
                writer.write(split_screen(frames, labels, size))
                count += 1
            if writer is None:
                raise InputError("a source has no frames")
            writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    return Path(out), count
