"""Limits and failure mapping of a run: frame sizes, tiles, queue depth, disk and device failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edvr_cli.errors import (
    DeviceError,
    EDVRError,
    FrameSizeError,
    OutOfSpaceError,
    UsageError,
    first_line,
    is_disk_full,
)

QUEUE_DEPTH = 8
#: Memory one frame queue may hold; queues of very large frames get fewer slots.
QUEUE_BYTES = 512 << 20

#: Frame-size guards: larger inputs are refused before anything is allocated for them.
MAX_INPUT_SIDE = 8192
MAX_INPUT_PIXELS = 8192 * 4320  # 8K
MAX_OUTPUT_SIDE = 16384
MAX_OUTPUT_PIXELS = 15360 * 8640  # 16K, the x4 output of 4K
#: Above this many input pixels frames are always tiled (``--tile 0`` becomes automatic).
WHOLE_FRAME_MAX_PIXELS = 3840 * 2160

# Marks of a failed accelerator in torch's RuntimeError messages.
_DEVICE_FAILURES = ("CUDA error", "CUDA out of memory", "CUDNN_STATUS", "cuDNN error", "CUBLAS_STATUS",
                    "device-side assert", "HIP error", "MPS backend out of memory")


def check_frame_size(width: int, height: int, scale: int = 1) -> None:
    """Refuse frames whose input or output would be unreasonably large (before decoding them all).

    Raises:
        FrameSizeError: a side or the pixel count of the input or of the ``scale`` x output is over
            the limits (:data:`MAX_INPUT_SIDE`, :data:`MAX_INPUT_PIXELS`, :data:`MAX_OUTPUT_SIDE`,
            :data:`MAX_OUTPUT_PIXELS`), or a side is not positive.
    """
    if width <= 0 or height <= 0:
        raise FrameSizeError(f"frames of {width}x{height} pixels cannot be restored")
    if max(width, height) > MAX_INPUT_SIDE or width * height > MAX_INPUT_PIXELS:
        raise FrameSizeError(
            f"frames of {width}x{height} are larger than edvr restores (at most {MAX_INPUT_SIDE} pixels a side "
            f"and {MAX_INPUT_PIXELS / 1e6:.1f} Mpx); downscale the input first"
        )
    ow, oh = width * scale, height * scale
    if max(ow, oh) > MAX_OUTPUT_SIDE or ow * oh > MAX_OUTPUT_PIXELS:
        raise FrameSizeError(
            f"the x{scale} output of {width}x{height} frames would be {ow}x{oh}, larger than edvr writes (at "
            f"most {MAX_OUTPUT_SIDE} pixels a side and {MAX_OUTPUT_PIXELS / 1e6:.1f} Mpx); downscale the input first"
        )


def check_frame(index: int, image, info) -> None:
    """Refuse a decoded frame whose size is not the video's (the stream changed size mid-way)."""
    h, w = image.shape[:2]
    if (h, w) != (info.height, info.width):
        raise FrameSizeError(
            f"'{info.path.name}': frame {index} is {w}x{h} but the video began at {info.width}x{info.height}; "
            "size changes within a video are not supported"
        )


def smallest_side(multiple_of: int) -> int:
    """The smallest frame side a model with this size multiple can take (reflection padding needs pad < side)."""
    return next(side for side in range(1, 2 * multiple_of + 1) if (-side) % multiple_of < side)


def check_model_fit(width: int, height: int, multiple_of: int) -> None:
    """Refuse frames smaller than the model can pad to its size multiple."""
    least = smallest_side(multiple_of)
    if width < least or height < least:
        raise FrameSizeError(f"frames of {width}x{height} pixels are too small for this model (it needs at least "
                             f"{least}x{least}: it pads frames to multiples of {multiple_of} by reflection)")


def check_tile(settings: Any, multiple_of: int) -> None:
    """Refuse a ``--tile`` so small that its tiles would be mostly overlap (a block grid, and very slow)."""
    from edvr_cli.engine.tiling import smallest_useful_tile

    tile = settings.tile
    if tile:
        least = smallest_useful_tile(settings.tile_overlap, multiple_of)
        if tile < least:
            raise UsageError(f"--tile {tile} is too small for --tile-overlap {settings.tile_overlap}; "
                             f"use --tile {least} or more (or --tile auto)")


def effective_tile(tile: int | None, width: int, height: int) -> int | None:
    """The tile setting to run with: whole frames (0) only up to :data:`WHOLE_FRAME_MAX_PIXELS`."""
    if tile == 0 and width * height > WHOLE_FRAME_MAX_PIXELS:
        return None
    return tile


def queue_depth(frame_bytes: int) -> int:
    """Slots of a frame queue: :data:`QUEUE_DEPTH`, fewer for frames so large the queue would pass
    :data:`QUEUE_BYTES`."""
    return max(1, min(QUEUE_DEPTH, QUEUE_BYTES // max(1, frame_bytes)))


def explain_failure(exc: BaseException, src: Path, dst: Path, frame: int, kept: str = "") -> EDVRError | None:
    """Our error for a failure of the disk or the device in the middle of a run; None for others.

    ``kept`` is appended (a resumable run says where its finished segments are).
    """
    if isinstance(exc, EDVRError):
        return None
    if is_disk_full(exc):
        return OutOfSpaceError(f"no space left on device while writing '{dst}'{kept}")
    if isinstance(exc, torch.OutOfMemoryError):
        return DeviceError(
            f"out of GPU memory restoring '{src.name}' at frame {frame}{kept}; try a smaller --tile (e.g. 256), "
            "--precision fp16, --batch 1 or --device cpu"
        )
    if isinstance(exc, RuntimeError) and any(mark in str(exc) for mark in _DEVICE_FAILURES):
        return DeviceError(f"the GPU failed restoring '{src.name}' at frame {frame}: {first_line(exc)}{kept}")
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc)):
        return EDVRError(f"out of memory restoring '{src.name}' at frame {frame}{kept}; "
                         "try a smaller --tile or --batch")
    return None


