"""Memory planning: how large a tile and how many windows per forward fit the device, with the feature
cache and the other workers sharing the device counted."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edvr_cli.engine.tiling import smallest_useful_tile
from edvr_cli.model.descriptor import ModelDescriptor

#: Share of a GPU's free memory one restorer plans to use.
GPU_SHARE = 0.6
#: Host memory one restorer plans to use on the CPU.
HOST_BUDGET = 6 * 1024**3


def memory_budget(device: torch.device, sharing: int = 1) -> float:
    """Bytes one restorer may plan for: a share of the GPU's free memory, torch's own cached blocks
    included (divided among the ``sharing`` workers on that device), or a fixed host budget on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        held = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)  # torch's cache is free too
        return (free + max(0, held)) * GPU_SHARE / max(1, sharing)
    return HOST_BUDGET / max(1, sharing)


def feature_cache_bytes(height: int, width: int, model: ModelDescriptor, dtype_bytes: int, batch: int) -> int:
    """The feature pyramids the restorer keeps (every tile of each frame its windows may still use): a
    window and two batches of frames (the batch's own and the next block computed with it), at L1, L2 and
    L3 size (1 + 1/4 + 1/16)."""
    hp, wp = model.padded_size(height, width)
    l1 = hp * wp / (16 if model.hr_in else 1)
    held = model.num_frame + 2 * max(1, batch)
    return int(held * l1 * model.config.num_feat * 1.3125 * dtype_bytes)


def auto_tile(height: int, width: int, model: ModelDescriptor, device: torch.device, dtype_bytes: int = 4,
              windows: int = 1, overlap: int = 16, budget: float | None = None) -> int:
    """A tile edge (input pixels) whose working set fits ``budget`` (default: :func:`memory_budget`); 0 when
    the whole frame fits.

    The estimate is the peak activation size of one window: about 60 feature maps of ``num_feat``
    channels at L1 size per frame in the window, in the compute dtype, plus the output; times
    ``windows`` run in one forward. The edge is never below the smallest useful tile.
    """
    nf = model.config.num_feat
    l1_pixels_per_input_pixel = 1 / 16 if model.hr_in else 1.0
    per_pixel = (60 * nf * model.num_frame * l1_pixels_per_input_pixel + 3 * 16 * 64) * dtype_bytes
    per_pixel *= max(1, windows)
    budget = memory_budget(device) if budget is None else budget
    if height * width * per_pixel <= budget:
        return 0
    edge = int((max(budget, 0) / per_pixel) ** 0.5)
    m = model.multiple_of
    return max(smallest_useful_tile(overlap, m), edge - edge % m)


@dataclass(frozen=True)
class MemoryPlan:
    """What fits: the tile edge (0: whole frames), windows per forward, and whether features are cached."""

    tile: int
    batch: int
    cache_features: bool = True


def resolve_tile_and_batch(height: int, width: int, model: ModelDescriptor, device: torch.device, precision: str,
                           tile: int | None, batch: int, batch_given: bool, overlap: int = 16,
                           sharing: int = 1) -> MemoryPlan:
    """The memory plan for frames of ``height`` x ``width``: ``tile`` as given, or automatic (None). The
    feature cache comes out of the budget first; when it would take more than half of it, features are
    recomputed per window instead of kept (on GPUs; on the CPU the cache lives in host memory). An
    automatic batch drops to one window per forward before a frame is cut into tiles."""
    bytes_per = 2 if precision != "fp32" else 4
    budget = memory_budget(device, sharing)

    def fit(windows: int) -> tuple[bool, float]:
        if device.type != "cuda":
            return True, budget  # host memory: the activation budget alone (the cache lives in RAM)
        cache = feature_cache_bytes(height, width, model, bytes_per, windows)
        return (True, budget - cache) if cache <= budget / 2 else (False, budget)

    cached, left = fit(batch)
    if tile is not None:
        return MemoryPlan(tile, batch, cached)
    hp, wp = model.padded_size(height, width)
    edge = auto_tile(hp, wp, model, device, bytes_per, windows=batch, overlap=overlap, budget=left)
    if edge and not batch_given and batch > 1:
        batch = 1
        cached, left = fit(1)
        edge = auto_tile(hp, wp, model, device, bytes_per, overlap=overlap, budget=left)
    return MemoryPlan(edge, batch, cached)
