"""Streaming restoration of a frame stream with one EDVR model: sliding windows, tiles, feature reuse.

Frames go in one at a time and come out one at a time, in order; only the frames a window can still
need (2 x half-window behind and ahead) are kept. Each frame's feature pyramid is computed once per
tile and reused by every window that contains it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .arch import EDVR
from .tiling import Tile, blend_weights, plan_tiles
from .windows import lookahead, window_indices

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; anything else as torch understands it."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA device is available")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps was asked for, but MPS is not available")
    return device


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA, fp32 elsewhere."""
    return "fp16" if device.type == "cuda" else "fp32"


def auto_tile(height: int, width: int, model: EDVR, device: torch.device, dtype_bytes: int = 4) -> int:
    """A tile edge (input pixels) whose working set fits the device; 0 when the whole frame fits.

    The estimate is the peak activation size of one window: about 60 feature maps of ``num_feat``
    channels at L1 size per frame in the window, in the compute dtype, plus the output.
    """
    nf = model.config.num_feat
    frames = model.num_frame
    l1_pixels_per_input_pixel = 1 / 16 if model.config.hr_in else 1.0
    per_pixel = (60 * nf * frames * l1_pixels_per_input_pixel + 3 * 16 * 64 / max(model.scale, 1) ** 0) * dtype_bytes
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free * 0.6
    else:
        budget = 6 * 1024**3  # host memory: keep one window's activations within a few GiB
    if height * width * per_pixel <= budget:
        return 0
    edge = int((budget / per_pixel) ** 0.5)
    m = model.multiple_of
    return max(m * 8, edge - edge % m)


@dataclass
class _Slot:
    """A frame held for windows: the padded input on the device, and per-tile feature pyramids."""

    frame: torch.Tensor  # (3, Hp, Wp)
    feats: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class StreamRestorer:
    """Restore a stream of frames with ``model``.

    Args:
        model: an EDVR network (eval mode) already on ``device``.
        padding: temporal edge padding (see :func:`edvr_cli.windows.window_indices`).
        device: where the network runs.
        precision: 'fp32', 'fp16' or 'bf16' (autocast for the half types).
        tile: tile edge in input pixels; 0 = whole frame; None = automatic.
        tile_overlap: pixels neighbouring tiles share (input scale).
        batch: centre frames per forward.
        out_bits: 8 -> uint8 output, 16 -> uint16 (for >8-bit encoding).
        cache_features: reuse each frame's features across windows (same result, less work).
    """

    def __init__(
        self,
        model: EDVR,
        padding: str = "reflection_circle",
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        tile: int | None = 0,
        tile_overlap: int = 16,
        batch: int = 1,
        out_bits: int = 8,
        cache_features: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose fp32, fp16 or bf16")
        self.model = model
        self.padding = padding
        self.device = torch.device(device)
        self.precision = precision
        self.tile = tile
        self.tile_overlap = max(0, int(tile_overlap))
        self.batch = max(1, int(batch))
        self.out_bits = out_bits
        self.cache_features = cache_features
        self.window = model.num_frame
        self.half = self.window // 2
        self.ahead = lookahead(self.window)
        self.tiles: list[Tile] = []
        self.weights: list[torch.Tensor] = []
        self.frame_size: tuple[int, int] | None = None
        self.padded_size: tuple[int, int] | None = None
        self.oom_retries = 0

    # -- set-up per stream -------------------------------------------------------------------------
    def _plan(self, h: int, w: int) -> None:
        m = self.model.multiple_of
        hp, wp = -(-h // m) * m, -(-w // m) * m
        self.frame_size, self.padded_size = (h, w), (hp, wp)
        tile = self.tile
        if tile is None:
            bytes_per = 2 if self.precision != "fp32" else 4
            tile = auto_tile(hp, wp, self.model, self.device, bytes_per)
        self._set_tile(tile)

    def _set_tile(self, tile: int) -> None:
        hp, wp = self.padded_size
        self.tile_size = tile
        self.tiles = plan_tiles(hp, wp, tile, self.tile_overlap, self.model.multiple_of)
        self.weights = blend_weights(self.tiles, hp, wp, self.model.scale) if len(self.tiles) > 1 else []

    def _to_device(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(H, W, 3) uint8 / uint16 / float array -> padded (3, Hp, Wp) float32 on the device."""
        t = torch.as_tensor(frame)
        if t.dtype == torch.uint16:
            t = t.to(torch.int32)
        t = t.to(self.device, non_blocking=True)
        if t.dtype == torch.uint8:
            t = t.float() / 255.0
        elif t.dtype == torch.int32:
            t = t.float() / 65535.0
        else:
            t = t.float()
        t = t.permute(2, 0, 1)
        h, w = self.frame_size
        hp, wp = self.padded_size
        if (hp, wp) != (h, w):
            t = F.pad(t.unsqueeze(0), (0, wp - w, 0, hp - h), mode="replicate").squeeze(0)
        return t

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.precision])

    # -- compute -----------------------------------------------------------------------------------
    def _features(self, slots: dict[int, _Slot], indices: list[int], ti: int, tile: Tile):
        """Feature pyramids of ``indices`` for one tile, computing the missing ones in one batch."""
        missing = sorted({j for j in indices if ti not in slots[j].feats})
        if missing:
            crops = torch.stack([slots[j].frame[:, tile.y0:tile.y1, tile.x0:tile.x1] for j in missing])
            l1, l2, l3 = self.model.extract_features(crops)
            for n, j in enumerate(missing):
                slots[j].feats[ti] = (l1[n], l2[n], l3[n])
        return [slots[j].feats[ti] for j in indices]

    def _run_windows(self, slots: dict[int, _Slot], windows: list[list[int]]) -> torch.Tensor:
        """(b, 3, s*Hp, s*Wp) float outputs for a batch of windows."""
        s = self.model.scale
        hp, wp = self.padded_size
        c = self.model.center_frame_idx
        canvas = None
        for ti, tile in enumerate(self.tiles):
            per_window = [self._features(slots, win, ti, tile) for win in windows]
            feats = tuple(
                torch.stack([torch.stack([f[level] for f in win_feats]) for win_feats in per_window])
                for level in range(3)
            )
            centre = torch.stack([slots[win[c]].frame[:, tile.y0:tile.y1, tile.x0:tile.x1] for win in windows])
            out = self.model.fuse_and_reconstruct(feats, centre).float()
            if not self.cache_features:
                for win in windows:
                    for j in win:
                        slots[j].feats.pop(ti, None)
            if len(self.tiles) == 1:
                return out
            if canvas is None:
                canvas = torch.zeros(len(windows), 3, hp * s, wp * s, device=out.device)
                norm = torch.zeros(1, hp * s, wp * s, device=out.device)
            w = self.weights[ti].to(out.device)
            canvas[:, :, tile.y0 * s:tile.y1 * s, tile.x0 * s:tile.x1 * s] += out * w
            norm[:, tile.y0 * s:tile.y1 * s, tile.x0 * s:tile.x1 * s] += w
        return canvas / norm

    def _quantize(self, out: torch.Tensor) -> np.ndarray:
        h, w = self.frame_size
        s = self.model.scale
        out = out[:, :h * s, :w * s].clamp(0, 1)
        if self.out_bits > 8:
            q = (out * 65535).round().to(torch.int32).permute(1, 2, 0)
            return q.cpu().numpy().astype(np.uint16)
        q = (out * 255).round().to(torch.uint8).permute(1, 2, 0)
        return q.cpu().numpy()

    def _run_with_oom_retry(self, slots: dict[int, _Slot], windows: list[list[int]]) -> torch.Tensor:
        while True:
            try:
                with torch.inference_mode(), self._autocast():
                    return self._run_windows(slots, windows)
            except torch.OutOfMemoryError:
                if self.device.type != "cuda":
                    raise
                smallest = self.model.multiple_of * 8
                current = self.tile_size or max(self.padded_size)
                if current <= smallest:
                    raise
                for slot in slots.values():
                    slot.feats.clear()
                torch.cuda.empty_cache()
                self.oom_retries += 1
                new_tile = max(smallest, current // 2)
                log.warning("CUDA out of memory at tile %d; retrying with tile %d", current, new_tile)
                self._set_tile(new_tile)

    # -- the stream --------------------------------------------------------------------------------
    def run(self, frames: Iterable[np.ndarray | torch.Tensor]) -> Iterator[np.ndarray]:
        """Yield one quantised (s*H, s*W, 3) array per input (H, W, 3) frame, in order."""
        source = iter(frames)
        slots: dict[int, _Slot] = {}
        next_read = 0
        total: int | None = None

        def fill(upto: int) -> None:
            nonlocal next_read, total
            while total is None and next_read <= upto:
                try:
                    frame = next(source)
                except StopIteration:
                    total = next_read
                    return
                if self.frame_size is None:
                    self._plan(int(frame.shape[0]), int(frame.shape[1]))
                elif tuple(frame.shape[:2]) != self.frame_size:
                    raise ValueError(
                        f"frame {next_read} is {frame.shape[1]}x{frame.shape[0]}, the stream began at "
                        f"{self.frame_size[1]}x{self.frame_size[0]}"
                    )
                slots[next_read] = _Slot(self._to_device(frame), {})
                next_read += 1

        centre = 0
        while True:
            windows: list[list[int]] = []
            centres: list[int] = []
            while len(windows) < self.batch:
                fill(centre + len(windows) + self.ahead)
                c = centre + len(windows)
                if total is not None and c >= total:
                    break
                known = total if total is not None else c + self.ahead + 1
                windows.append(window_indices(c, known, self.window, self.padding))
                centres.append(c)
            if not windows:
                return
            out = self._run_with_oom_retry(slots, windows)
            for n in range(len(windows)):
                yield self._quantize(out[n])
            centre += len(windows)
            for j in [j for j in slots if j < centre - self.ahead]:
                del slots[j]
