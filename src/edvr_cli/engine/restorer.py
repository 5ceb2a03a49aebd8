"""Streaming restoration of a frame stream with one EDVR model: sliding windows, tiles, feature reuse.

Frames go in one at a time and come out one at a time, in order; only the frames a window can still
need (2 x half-window behind and ahead) are kept. Each frame's feature pyramid is computed once per
tile and reused by every window that contains it.

Speed paths (each optional, each giving the same result): several centre frames per forward
(``batch``), channels-last activations, ``torch.compile`` of the network's two halves, autocast
half precision, and on CUDA pinned host buffers with non-blocking copies, quantisation on the
device, and one batch in flight: batch n+1 is queued on the GPU before batch n's frames are
handed on, so the GPU does not wait for the host between batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edvr_cli.engine.colour import cpu_rows, frame_to_device, pad_frame, rgb_to_planes, unpack
from edvr_cli.engine.device import PRECISIONS, auto_batch
from edvr_cli.engine.memory import resolve_tile_and_batch
from edvr_cli.engine.resize import resample
from edvr_cli.engine.strength import bicubic_upscale, blend
from edvr_cli.engine.tiling import Tile, blend_weights, plan_tiles, smallest_useful_tile
from edvr_cli.model.arch import EDVR
from edvr_cli.model.descriptor import ModelDescriptor
from edvr_cli.model.padding import lookahead, shot_window
from edvr_cli.video.planes import PlaneLayout, YUVFrame
from edvr_cli.video.shots import Shots

log = logging.getLogger(__name__)


#: Compiled graphs dynamo keeps per function: each model, frame size and first/later batch shape is one;
#: past the limit it runs the function eagerly, silently (torch's default is 8: a batch of 4 sizes).
COMPILED_GRAPHS = 256


def _room_for_graphs() -> None:
    """Raise dynamo's per-function graph limit (shared by every model and frame size of the process)."""
    import torch._dynamo

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the name changed across torch releases
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), COMPILED_GRAPHS))
    if hasattr(config, "accumulated_cache_size_limit"):
        config.accumulated_cache_size_limit = max(config.accumulated_cache_size_limit, 4 * COMPILED_GRAPHS)


@dataclass
class _Slot:
    """A frame held for windows: the padded input on the device, and per-tile feature pyramids."""

    frame: torch.Tensor  # (3, Hp, Wp)
    feats: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class StreamRestorer:
    """Restore a stream of frames with ``model``.

    Args:
        model: a :class:`~edvr_cli.model.descriptor.ModelDescriptor` (the network and its facts: scale,
            window, centre, size multiple, temporal padding, half-precision support), or a bare EDVR
            network, described with :meth:`ModelDescriptor.of`; on ``device`` already.
        padding: temporal edge padding (see :func:`edvr_cli.model.padding.window_indices`); None: the
            descriptor's.
        device: where the network runs.
        precision: 'fp32', 'fp16' or 'bf16' (autocast for the half types).
        tile: tile edge in input pixels; 0 = whole frame; None = automatic.
        tile_overlap: pixels neighbouring tiles share (input scale).
        batch: centre frames per forward; None = automatic (:func:`auto_batch`; 1 when that many
            windows would not fit whole, or after a CUDA out-of-memory error). Batches hold the centres
            of one block of ``batch`` clip indices (a fixed grid), so a stream resumed at a multiple of
            ``batch`` is batched as the whole clip is.
        out_bits: 8 -> uint8 output, 16 -> uint16 (for >8-bit encoding).
        out_size: (height, width) to resample each output to (antialiased bicubic); None keeps
            the model's size.
        out_layout: yield :class:`~edvr_cli.video.planes.YUVFrame` planes in this layout,
            converted on the device (:mod:`edvr_cli.engine.colour`), instead of RGB arrays.
        strength: 0..1, the output blended with the bicubic upscale of its input frame in linear light
            (:mod:`edvr_cli.engine.strength`); 1 = the model's output.
        cache_features: reuse each frame's features across windows (same result, less work).
        compile: run the network's two halves through ``torch.compile`` (the first frames pay
            the compilation; shapes are static: the fusion half compiles once per stream (the
            last batch is filled up), the extraction half twice (first and later batches)).
        channels_last: channels-last activations (faster convolutions on CPU and for half
            precision on CUDA); None = on for CPU, and for CUDA with fp16/bf16. Switches the
            model's weights to channels-last memory format (values unchanged).
        pin_memory: stage host<->device copies in pinned memory, non-blocking; None = on for CUDA.
        profile: accumulate seconds per stage in :attr:`stage_seconds` (synchronises the device
            around each stage, so only for measuring).

    Attributes:
        extracted: feature pyramids computed so far, one per (frame, tile): with ``cache_features``
            each frame's is computed once per tile.
        stage_seconds: seconds per stage ('upload', 'extract', 'fuse', 'quantise') when ``profile``.
    """

    def __init__(
        self,
        model: ModelDescriptor | EDVR,
        padding: str | None = None,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        tile: int | None = 0,
        tile_overlap: int = 16,
        batch: int | None = None,
        out_bits: int = 8,
        cache_features: bool = True,
        compile: bool = False,
        channels_last: bool | None = None,
        pin_memory: bool | None = None,
        profile: bool = False,
        out_size: tuple[int, int] | None = None,
        out_layout: PlaneLayout | None = None,
        strength: float = 1.0,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose fp32, fp16 or bf16")
        if isinstance(model, EDVR):
            model = ModelDescriptor.of(model, padding=padding)
        elif padding is not None and padding != model.padding:
            model = dataclasses.replace(model, padding=padding)
        if precision != "fp32" and not model.supports_half:
            raise ValueError(f"{model.name} does not run in half precision; use fp32")
        self.descriptor = model
        self.model = model.model
        self.padding = model.padding
        self.device = torch.device(device)
        self.precision = precision
        self.tile = tile
        self.tile_overlap = max(0, int(tile_overlap))
        self.auto_batch = batch is None
        self.batch = auto_batch(self.device) if batch is None else max(1, int(batch))
        self.out_bits = out_bits
        self.out_size = out_size  # (height, width) to resample the output to; None keeps the model's size
        self.out_layout = out_layout
        self.strength = float(strength)
        self.cache_features = cache_features
        if channels_last is None:
            channels_last = self.device.type == "cpu" or (self.device.type == "cuda" and precision != "fp32")
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if pin_memory is None:
            pin_memory = self.device.type == "cuda"
        self.pin_memory = bool(pin_memory) and self.device.type == "cuda" and torch.cuda.is_available()
        self.compile = compile
        if compile:
            # dynamo caches compiled code per function and guards: a second restorer of the same
            # model and shapes reuses it
            from edvr_cli.model.arch.dcn import prepare_for_compile

            prepare_for_compile()
            _room_for_graphs()
            self._extract = torch.compile(self.model.extract_features, dynamic=False)
            self._fuse = torch.compile(self.model.fuse_and_reconstruct, dynamic=False)
        else:
            self._extract = self.model.extract_features
            self._fuse = self.model.fuse_and_reconstruct
        self.profile = profile
        self.stage_seconds: dict[str, float] = dict.fromkeys(("upload", "extract", "fuse", "quantise"), 0.0)
        self.extracted = 0
        self.window = model.num_frame
        self.scale = model.scale
        self.multiple_of = model.multiple_of
        self.centre = model.center_frame_idx
        self.half = self.window // 2
        self.ahead = lookahead(self.window)
        self.tiles: list[Tile] = []
        self.weights: list[torch.Tensor] = []
        self.frame_size: tuple[int, int] = (0, 0)  # set by the first frame (see _plan)
        self.padded_size: tuple[int, int] = (0, 0)
        self._inv_norm: torch.Tensor | None = None
        self.oom_retries = 0
        self._nonfinite: torch.Tensor | None = None

    # -- set-up per stream -------------------------------------------------------------------------
    def _plan(self, h: int, w: int) -> None:
        self.frame_size, self.padded_size = (h, w), self.descriptor.padded_size(h, w)
        memory = resolve_tile_and_batch(h, w, self.descriptor, self.device, self.precision, self.tile, self.batch,
                                        not self.auto_batch, self.tile_overlap)
        self.batch = memory.batch
        if self.tile is None:  # an automatic plan also says whether the feature cache fits
            self.cache_features = self.cache_features and memory.cache_features
        self._set_tile(memory.tile)

    def _set_tile(self, tile: int) -> None:
        hp, wp = self.padded_size
        self.tile_size = tile
        self.tiles = plan_tiles(hp, wp, tile, self.tile_overlap, self.multiple_of)
        self.weights = []
        self._inv_norm = None
        if len(self.tiles) > 1:
            # on the device once: no host->device copy per tile and batch
            s = self.scale
            self.weights = [w.to(self.device) for w in blend_weights(self.tiles, hp, wp, s)]
            norm = torch.zeros(1, hp * s, wp * s, device=self.device)
            for t, w in zip(self.tiles, self.weights, strict=False):
                norm[:, t.y0 * s:t.y1 * s, t.x0 * s:t.x1 * s] += w
            self._inv_norm = 1 / norm

    def _to_device(self, frame: np.ndarray | torch.Tensor | YUVFrame) -> torch.Tensor:
        """(H, W, 3) uint8 / uint16 / float array, or YUV planes -> padded (3, Hp, Wp) float32 on the device."""
        hp, wp = self.padded_size
        if isinstance(frame, YUVFrame):
            with self._one_thread():
                return pad_frame(frame_to_device(frame, self.device, self.pin_memory), hp, wp)
        t = torch.as_tensor(frame)
        if t.dtype == torch.uint16:
            t = t.to(torch.int32)
        if self.pin_memory:
            # the caching host allocator keeps the pinned block until the copy has completed
            t = t.pin_memory()
        t = t.to(self.device, non_blocking=True)
        if t.dtype == torch.uint8:
            t = t.float() / 255.0
        elif t.dtype == torch.int32:
            t = t.float() / 65535.0
        else:
            t = t.float()
        return pad_frame(t.permute(2, 0, 1), hp, wp)

    @contextlib.contextmanager
    def _one_thread(self):
        """Colour conversion on the CPU runs on this thread alone: its short passes gain nothing from a
        second OpenMP thread, which would only spin between them on the core the encoder needs
        (measured: 4K output 16% faster). Elementwise results do not depend on the thread count."""
        if self.device.type != "cpu":
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.precision])

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) or (b, t, c, h, w) in the restorer's memory format (channels innermost)."""
        if not self.channels_last:
            return x
        if x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        # (b, t, c, h, w) stored as (b, t, h, w, c): each frame's (c, h, w) is channels-last
        return x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)

    def _stack_windows(self, windows: list[list[torch.Tensor]]) -> torch.Tensor:
        """Per-frame (c, h, w) features of each window -> (b, t, c, h, w), in one copy."""
        if not self.channels_last:
            return torch.stack([torch.stack(win) for win in windows])
        hwc = torch.stack([torch.stack([f.permute(1, 2, 0) for f in win]) for win in windows])
        return hwc.permute(0, 1, 4, 2, 3)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def _stage(self, name: str):
        """Time a stage into :attr:`stage_seconds` (only when profiling: it synchronises the device)."""
        if not self.profile:
            yield
            return
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.stage_seconds[name] += time.perf_counter() - t0

    # -- compute -----------------------------------------------------------------------------------
    def _features(self, slots: dict[int, _Slot], indices: list[int], ti: int, tile: Tile):
        """Feature pyramids of ``indices`` for one tile. The missing ones are computed a block of the batch
        grid at a time (the block's held frames still without features), so each frame's features are
        computed together with the same frames however the stream was started or cut."""
        grid = max(1, self.batch)
        for block in sorted({j // grid for j in indices if ti not in slots[j].feats}):
            missing = [i for i in range(block * grid, block * grid + grid) if i in slots and ti not in slots[i].feats]
            crops = torch.stack([slots[j].frame[:, tile.y0:tile.y1, tile.x0:tile.x1] for j in missing])
            with self._stage("extract"):
                l1, l2, l3 = self._extract(self._layout(crops))
            self.extracted += len(missing)
            for n, j in enumerate(missing):
                slots[j].feats[ti] = (l1[n], l2[n], l3[n])
        return [slots[j].feats[ti] for j in indices]

    def _run_windows(self, slots: dict[int, _Slot], windows: list[list[int]]) -> torch.Tensor:
        """(b, 3, s*Hp, s*Wp) float outputs for a batch of windows."""
        s = self.scale
        hp, wp = self.padded_size
        c = self.centre
        canvas = None
        for ti, tile in enumerate(self.tiles):
            per_window = [self._features(slots, win, ti, tile) for win in windows]
            l1, l2, l3 = (self._stack_windows([[f[level] for f in win_feats] for win_feats in per_window])
                          for level in range(3))
            feats = (l1, l2, l3)
            centre = torch.stack([slots[win[c]].frame[:, tile.y0:tile.y1, tile.x0:tile.x1] for win in windows])
            with self._stage("fuse"):
                out = self._fuse(feats, self._layout(centre)).float()
            if not self.cache_features:
                for win in windows:
                    for j in win:
                        slots[j].feats.pop(ti, None)
            if len(self.tiles) == 1:
                return out
            if canvas is None:
                canvas = torch.zeros(len(windows), 3, hp * s, wp * s, device=out.device)
            canvas[:, :, tile.y0 * s:tile.y1 * s, tile.x0 * s:tile.x1 * s] += out * self.weights[ti]
        assert canvas is not None and self._inv_norm is not None  # more than one tile was blended
        return canvas * self._inv_norm

    def _with_strength(self, out: torch.Tensor, centres: list[int], slots: dict[int, _Slot],
                       baseline: Callable[[list[int]], torch.Tensor] | None) -> torch.Tensor:
        """The batch's outputs blended with their baseline at :attr:`strength` (cropped to the frame)."""
        h, w = self.frame_size
        s = self.scale
        out = out[:, :, :h * s, :w * s]
        with torch.inference_mode():
            if baseline is not None:
                base = baseline(centres)
            else:
                base = bicubic_upscale(torch.stack([slots[c].frame[:, :h, :w] for c in centres]), s)
            return blend(out, base, self.strength)

    def baseline_frames(self, originals: dict[int, Any]) -> Callable[[list[int]], torch.Tensor]:
        """A ``baseline`` for the stage after this one: the bicubic upscale of this stage's input frames,
        uploaded again from ``originals`` (clip index -> the decoded frame, each taken once)."""
        def frames(indices: list[int]) -> torch.Tensor:
            h, w = self.frame_size
            with torch.inference_mode():
                up = torch.stack([self._to_device(originals.pop(i))[:, :h, :w] for i in indices])
                return bicubic_upscale(up, self.scale)

        return frames

    def _quantize(self, out: torch.Tensor):
        """Quantise a batch (b, 3, s*Hp, s*Wp) on the device and start its copy to the host.

        Returns what :meth:`_finish` turns into frames: with pinned memory the copy is
        non-blocking and an event marks its completion, so the next batch can be queued first.
        With an output layout the batch leaves the device as packed YUV planes.
        """
        h, w = self.frame_size
        s = self.scale
        out = out[:, :, :h * s, :w * s]
        size = self.out_size or (int(out.shape[-2]), int(out.shape[-1]))

        def convert(out: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                if self.out_size is not None and tuple(out.shape[-2:]) != self.out_size:
                    out = resample(out.clamp(0, 1), self.out_size)  # clamped again below: bicubic overshoots
                if self.out_layout is not None:
                    rows = cpu_rows(size[1]) if self.device.type == "cpu" else None
                    return rgb_to_planes(out, self.out_layout, rows, rgb_bits=self.out_bits)
                out = out.clamp(0, 1)
                if self.out_bits > 8:
                    q = (out * 65535).round().to(torch.int32)
                else:
                    q = (out * 255).round().to(torch.uint8)
                return q.permute(0, 2, 3, 1).contiguous()  # (b, s*H, s*W, 3); no copy for channels-last

        with self._stage("quantise"), self._one_thread():
            bad = (~torch.isfinite(out)).sum()  # half-precision overflow: counted, on the device (no wait)
            self._nonfinite = bad if self._nonfinite is None else self._nonfinite + bad
            q = convert(out)
            if self.pin_memory:
                host = torch.empty(q.shape, dtype=q.dtype, pin_memory=True)
                host.copy_(q, non_blocking=True)
                return host, self._copied(), size
            return q.cpu(), None, size

    @property
    def nonfinite(self) -> int:
        """Output values that were NaN or infinite so far (written as black); reading it waits for the device."""
        return 0 if self._nonfinite is None else int(self._nonfinite)

    def _copied(self) -> torch.cuda.Event:
        """An event marking the end of the copy just queued: recorded on this device's current stream (the
        copy's; on ``cuda:1`` not GPU 0's), and blocking, so waiting for it sleeps instead of spinning."""
        event = torch.cuda.Event(blocking=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def _finish(self, pending) -> Iterator[np.ndarray | YUVFrame]:
        """The frames of a batch started by :meth:`_quantize`, once its copy has landed."""
        host, event, (h, w) = pending
        if event is not None:
            event.synchronize()
        arrays = host.numpy()
        for a in arrays:
            if self.out_layout is not None:
                yield unpack(a, self.out_layout, h, w)
            else:
                yield a.astype(np.uint16) if self.out_bits > 8 else a

    def _run_with_oom_retry(self, slots: dict[int, _Slot], windows: list[list[int]]) -> torch.Tensor:
        while True:
            try:
                with torch.inference_mode(), self._autocast():
                    return self._run_windows(slots, windows)
            except torch.OutOfMemoryError:
                if self.device.type != "cuda":
                    raise
                smallest = smallest_useful_tile(self.tile_overlap, self.multiple_of)
                current = self.tile_size or max(self.padded_size)
                if len(windows) == 1 and current <= smallest:
                    raise
            # outside the handler, whose traceback held the failed attempt's tensors: now they are freed
            for slot in slots.values():
                slot.feats.clear()
            torch.cuda.empty_cache()
            self.oom_retries += 1
            if len(windows) > 1:  # first fewer windows per forward, then smaller tiles
                log.warning("CUDA out of memory with %d windows per forward; continuing with 1", len(windows))
                self.batch = 1
                return torch.cat([self._run_with_oom_retry(slots, [win]) for win in windows])
            new_tile = max(smallest, current // 2)
            log.warning("CUDA out of memory at tile %d; retrying with tile %d", current, new_tile)
            self._set_tile(new_tile)

    def _once_more_on_oom(self, step: Callable[[Any], Any], arg: Any) -> Any:
        """Run an upload or a quantisation; after a CUDA out-of-memory error, once more with torch's cache
        emptied (outside the handler, so the failed attempt's tensors are freed first)."""
        try:
            return step(arg)
        except torch.OutOfMemoryError:
            if self.device.type != "cuda":
                raise
        torch.cuda.empty_cache()
        self.oom_retries += 1
        log.warning("CUDA out of memory moving frames; retrying with the cache emptied")
        return step(arg)

    # -- the stream --------------------------------------------------------------------------------
    def run(
        self, frames: Iterable[np.ndarray | torch.Tensor | YUVFrame], *, first_index: int = 0, start: int = 0,
        clip_start: int = 0, shots: Shots | None = None,
        baseline: Callable[[list[int]], torch.Tensor] | None = None,
    ) -> Iterator[np.ndarray | YUVFrame]:
        """Yield one quantised (s*H, s*W, 3) array (or YUV planes, with ``out_layout``) per input frame, in order.

        Frames are (H, W, 3) RGB arrays or decoded YUV planes (converted on the device).

        A stream resumed mid-clip gives ``first_index``, the clip index of its first frame, and
        ``start``, the first centre to output: windows use clip indices, so the outputs equal the
        whole clip's when ``max(0, start - lookahead)`` frames are given from ``first_index`` on.
        ``clip_start`` is the clip index of the clip's first frame (frames of a span's context before
        it have negative indices). With ``shots``, each window is padded at the cuts around its centre
        as if its shot were the whole clip (:func:`shot_window`). ``baseline`` gives the frames a
        ``strength`` below 1 blends with, for clip indices (default: the bicubic upscale of this
        stream's own frames; a second stage is given the first stage's input).
        """
        source = iter(frames)
        slots: dict[int, _Slot] = {}
        next_read = first_index
        total: int | None = None

        def fill(upto: int) -> None:
            nonlocal next_read, total
            while total is None and next_read <= upto:
                try:
                    frame = next(source)
                except StopIteration:
                    total = next_read
                    return
                if self.frame_size == (0, 0):
                    self._plan(int(frame.shape[0]), int(frame.shape[1]))
                elif tuple(frame.shape[:2]) != self.frame_size:
                    raise ValueError(
                        f"frame {next_read} is {frame.shape[1]}x{frame.shape[0]}, the stream began at "
                        f"{self.frame_size[1]}x{self.frame_size[0]}"
                    )
                with self._stage("upload"):
                    slots[next_read] = _Slot(self._once_more_on_oom(self._to_device, frame), {})
                next_read += 1

        centre = start
        pending = None
        while True:
            windows: list[list[int]] = []
            centres: list[int] = []
            while len(windows) < self.batch and (not windows or (centre + len(windows)) % self.batch):
                c = centre + len(windows)
                fill(max(c + self.ahead, -(-(c + self.half + 1) // self.batch) * self.batch - 1))  # its blocks too
                if total is not None and c >= total:
                    break
                lo, hi = (clip_start, total) if shots is None else shots.bounds(c, clip_start, total)
                windows.append(shot_window(c, lo, hi if hi is not None else c + self.ahead + 1, self.window,
                                           self.padding))
                centres.append(c)
            if not windows:
                break
            batch = windows
            if self.compile and len(windows) < self.batch:
                # a compiled graph has one batch size: fill the stream's last batch with repeats
                batch = windows + [windows[-1]] * (self.batch - len(windows))
            out = self._run_with_oom_retry(slots, batch)[:len(windows)]
            if self.strength < 1.0:
                out = self._with_strength(out, centres, slots, baseline)
            if self.device.type == "cpu":
                # nothing runs asynchronously: hand each frame on as soon as it is converted, so
                # encoding starts while the rest of the batch is converted
                for i in range(len(windows)):
                    yield from self._finish(self._once_more_on_oom(self._quantize, out[i:i + 1]))
            else:
                # queue this batch (and its copy to the host) before handing on the previous one
                ready, pending = pending, self._once_more_on_oom(self._quantize, out)
                if ready is not None:
                    yield from self._finish(ready)
            centre += len(windows)
            for j in [j for j in slots if j < centre - self.ahead]:
                del slots[j]
        if pending is not None:
            yield from self._finish(pending)
