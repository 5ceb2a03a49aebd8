"""Whole clips and still images as 8-bit RGB arrays, on top of the reader and writers of this package.

The lab commands (``eval``, ``compare``, ``train``, the demo) work on ``(h, w, 3)`` uint8 RGB arrays.
They get them here, so a frame is decoded exactly as ``edvr upscale`` decodes it (the stream's real
colour matrix and range, see :mod:`edvr_cli.video.colour`) and quantised exactly as the restoration
pipeline quantises its output: ``round(clamp(x, 0, 1) * 255)``.

Functions::

    quantize8(rgb float) -> uint8             # the pipeline's rounding
    iter_clip(path, max_frames=None)          # uint8 frames of a video, image folder or single image
    read_clip_frame(path, index)              # one frame of a clip
    read_image(path)                          # a single image (or a clip's first frame)
    png_bytes(rgb) / write_image(path, rgb)   # one PNG (8- or 16-bit)
    write_frames(folder, frames)              # 00000000.png ... through ImageSequenceWriter
    rgb_source_info(width, height, fps)       # a VideoInfo for frames made in memory
    open_rgb_writer(path, width, height, fps) # a video or PNG-folder writer for such frames

Writers here write where they are told: callers put them inside
:func:`edvr_cli.guard.output.guarded_output` (which yields the temporary path to write).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from edvr_cli.errors import InputError
from edvr_cli.video.colour import PRI_BT709, RANGE_FULL, SPC_RGB, TRC_BT709, ColorInfo
from edvr_cli.video.paths import is_image_file
from edvr_cli.video.probe import DEFAULT_SEQUENCE_FPS, VideoInfo
from edvr_cli.video.reader import FrameReader
from edvr_cli.video.writer import ImageSequenceWriter, VideoWriter, open_writer


def quantize8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] -> uint8 the way the pipeline quantises: ``round(clamp(x, 0, 1) * 255)``
    (ties to even, as ``torch.round``). uint8 input is returned as it is."""
    if rgb.dtype == np.uint8:
        return rgb
    x = np.clip(np.asarray(rgb, dtype=np.float32), 0, 1) * np.float32(255)
    return np.rint(x).astype(np.uint8)


def iter_clip(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The frames of a clip (video file, folder of images, or one image) as ``(h, w, 3)`` uint8 RGB.

    Decoded by :class:`~edvr_cli.video.reader.FrameReader`, quantised by :func:`quantize8`.

    Raises:
        InputError: the path is missing or not something we can decode.
    """
    if max_frames is not None and max_frames <= 0:
        return
    with FrameReader(path) as reader:
        for frame in reader:
            yield quantize8(frame.rgb)
            if max_frames is not None and frame.index + 1 >= max_frames:
                return


def iter_clip_float(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Like :func:`iter_clip` but the reader's float32 RGB in [0, 1], unquantised (what the pipeline
    hands the network)."""
    if max_frames is not None and max_frames <= 0:
        return
    with FrameReader(path) as reader:
        for frame in reader:
            yield frame.rgb
            if max_frames is not None and frame.index + 1 >= max_frames:
                return


def read_clip_frame(path: str | Path, index: int) -> np.ndarray:
    """Frame ``index`` (0-based) of a clip, uint8 RGB."""
    if index < 0:
        raise InputError(f"frame {index} does not exist; frames are counted from 0")
    for i, frame in enumerate(iter_clip(path, index + 1)):
        if i == index:
            return frame
    raise InputError(f"'{path}' has no frame {index}")


def read_image(path: str | Path) -> np.ndarray:
    """A still image (or the first frame of a clip) as ``(h, w, 3)`` uint8 RGB."""
    for frame in iter_clip(path, 1):
        return frame
    raise InputError(f"'{path}' has no decodable frame")


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG file contents of a ``(h, w, 3)`` uint8 (8-bit PNG) or uint16 (16-bit PNG) RGB array."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    elif rgb.dtype == np.uint16:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb48be")  # from_ndarray swaps to big-endian
    else:
        raise ValueError(f"expected uint8 or uint16 RGB, got {rgb.dtype}; quantise before writing")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], frame.format.name
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write one PNG at ``path`` (no guard: give it the guard's temporary path)."""
    path = Path(path)
    path.write_bytes(png_bytes(rgb))
    return path


def rgb_source_info(width: int, height: int, fps: float | Fraction = DEFAULT_SEQUENCE_FPS,
                    frames: int | None = None, path: str | Path = "<memory>") -> VideoInfo:
    """A :class:`VideoInfo` describing 8-bit RGB frames made in memory (what a PNG folder would give):
    writers then encode them as they encode restored image sequences (BT.709, limited range)."""
    rate = Fraction(fps).limit_denominator(1001)
    return VideoInfo(
        path=Path(path), width=width, height=height, num_frames=frames, fps=rate, time_base=1 / rate,
        codec_name="png", pix_fmt="rgb24", bit_depth=8, chroma="rgb",
        color=ColorInfo(SPC_RGB, RANGE_FULL, PRI_BT709, TRC_BT709, True, True),
        is_image_sequence=True, start_time=0,
    )


def open_rgb_writer(path: str | Path, width: int, height: int, fps: float | Fraction = DEFAULT_SEQUENCE_FPS, *,
                    crf: int | None = None, pix_fmt: str | None = None) -> VideoWriter | ImageSequenceWriter:
    """A writer for uint8 RGB frames made in memory: a video for a video extension, else PNG frames."""
    info = rgb_source_info(width, height, fps)
    options: dict = {"copy_streams": False}
    if crf is not None:
        options["crf"] = crf
    if pix_fmt is not None:
        options["pix_fmt"] = pix_fmt
    return open_writer(path, info, width, height, **options)


def write_frames(folder: str | Path, frames: Iterable[np.ndarray]) -> int:
    """Write uint8 (or uint16) RGB frames as ``00000000.png, 00000001.png ...`` into ``folder`` (created);
    returns how many. No guard: give it the guard's temporary folder."""
    writer: ImageSequenceWriter | None = None
    for rgb in frames:
        if writer is None:
            writer = ImageSequenceWriter(folder, rgb_source_info(rgb.shape[1], rgb.shape[0]), rgb.shape[1],
                                         rgb.shape[0], copy_streams=False)
        writer.write(rgb)
    if writer is None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return 0
    writer.close()
    return writer.frames_written


def is_still_image(path: str | Path) -> bool:
    """A file with an image extension."""
    p = Path(path)
    return p.is_file() and is_image_file(p)
