"""Reading and writing frames for training, evaluation and comparisons: images and videos via PyAV.

A *clip* on disk is a video file or a folder of images (sorted by name, numbers compared as numbers).
Frames come back as ``(h, w, 3)`` uint8 RGB numpy arrays; no dependency beyond PyAV and numpy.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from edvr_cli.errors import InputError

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
VIDEO_EXTS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m", ".gif"})


def natural_key(path: Path) -> list:
    """Sort key comparing digit runs as numbers: ``frame2 < frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTS


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTS


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order."""
    return sorted((p for p in Path(folder).iterdir() if is_image(p)), key=natural_key)


def read_image(path: str | Path) -> np.ndarray:
    """One image file -> ``(h, w, 3)`` uint8 RGB (grey is replicated, alpha dropped)."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, StopIteration, OSError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None


def write_image(path: str | Path, img: np.ndarray) -> Path:
    """Write a ``(h, w, 3)`` uint8 RGB array as PNG (lossless)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape[:2]
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = w, h, "rgb24"
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def iter_video(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video's frames as ``(h, w, 3)`` uint8 RGB, one at a time."""
    import av

    try:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if max_frames is not None and i >= max_frames:
                    break
                yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise InputError(f"cannot decode video {path}: {exc}") from None


def iter_clip(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Frames of a clip: a video file or a folder of images."""
    path = Path(path)
    if path.is_dir():
        files = list_images(path)
        for p in files[:max_frames] if max_frames is not None else files:
            yield read_image(p)
    elif is_video(path) or is_image(path):
        yield from (iter_video(path, max_frames) if is_video(path) else [read_image(path)])
    else:
        raise InputError(f"{path} is neither a video file nor a folder of images")


def read_frame(path: str | Path, index: int) -> np.ndarray:
    """Frame ``index`` (0-based) of a clip."""
    for i, frame in enumerate(iter_clip(path, index + 1)):
        if i == index:
            return frame
    raise InputError(f"{path} has no frame {index}")


def write_frames(folder: str | Path, frames, start: int = 0) -> list[Path]:
    """Write frames as ``00000000.png, 00000001.png, ...`` into ``folder``."""
    folder = Path(folder)
    return [write_image(folder / f"{start + i:08d}.png", f) for i, f in enumerate(frames)]


class VideoWriter:
    """Minimal H.264 writer for RGB frames (yuv420p, even sizes), used by comparisons and the demo."""

    def __init__(self, path: str | Path, fps: float = 25.0, crf: int = 18) -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), "w")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf)}
        self._started = False

    def write(self, img: np.ndarray) -> None:
        import av

        h, w = img.shape[:2]
        if not self._started:
            self._stream.width, self._stream.height = w - w % 2, h - h % 2
            self._started = True
        img = np.ascontiguousarray(img[: self._stream.height, : self._stream.width], dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._started:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
