"""Training data: a folder of videos, image sequences or still photos, made into (input window, target) pairs.

Layout of a data folder (mixed freely):

* image files directly inside it: each one is a **still photo**, turned into a clip by a random smooth
  camera path (:func:`edvr_cli.lab.degrade.still_to_clip`);
* sub-folders of images: each is an **image sequence** (one clip);
* video files: each is a clip (its first ``max_frames`` frames are decoded and kept in memory).

Frames are read by :mod:`edvr_cli.video` (each stream's own colour matrix, the pipeline's 8-bit
rounding), so a model learns from the pictures ``edvr upscale`` will hand it.

Every sample is drawn from an explicit generator, so a batch is a pure function of ``(seed, step)``:
that is what makes ``--resume`` reproduce an uninterrupted run exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edvr_cli.errors import InputError
from edvr_cli.lab.degrade import Degradation, still_to_clip
from edvr_cli.video.images import is_still_image, iter_clip
from edvr_cli.video.paths import is_video_file, list_images, natural_sort_key


@dataclass
class Source:
    """One training source: a still photo (one frame) or a clip (several frames), uint8 ``(3, h, w)`` each."""

    name: str
    frames: list[torch.Tensor]
    still: bool

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frames[0].shape[-2:]
        return int(h), int(w)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


def scan_sources(root: str | Path, max_frames: int = 300) -> list[Source]:
    """Load every source under ``root`` (see the module docstring); natural name order."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"training data folder {root} does not exist")
    entries = [root] if root.is_file() else sorted(root.iterdir(), key=lambda q: natural_sort_key(q.name))
    sources: list[Source] = []
    for p in entries:
        if p.name.startswith(".") and p != root:  # hidden files, the output guard's temporaries
            continue
        if is_still_image(p):
            sources.append(Source(p.stem, [_to_tensor(next(iter_clip(p, 1)))], still=True))
        elif p.is_file() and is_video_file(p):
            frames = [_to_tensor(f) for f in iter_clip(p, max_frames)]
            if frames:
                sources.append(Source(p.stem, frames, still=False))
        elif p.is_dir() and list_images(p):
            frames = [_to_tensor(f) for f in iter_clip(p, max_frames)]
            sources.append(Source(p.name, frames, still=len(frames) == 1))
    if not sources:
        raise InputError(f"no images, image folders or videos found in {root}")
    return sources


def split_sources(sources: list[Source], val_fraction: float, seed: int) -> tuple[list[Source], list[Source]]:
    """Hold out ``val_fraction`` of the sources (at least one when there are two or more) for validation."""
    if val_fraction <= 0 or len(sources) < 2:
        return sources, []
    n_val = min(len(sources) - 1, max(1, round(val_fraction * len(sources))))
    order = torch.randperm(len(sources), generator=torch.Generator().manual_seed(seed)).tolist()
    val_ids = set(order[:n_val])
    return [s for i, s in enumerate(sources) if i not in val_ids], [s for i, s in enumerate(sources) if i in val_ids]


@dataclass
class ClipSampler:
    """Draws ``(lq (t, 3, h, w), gt (3, s*h, s*w))`` float pairs in [0, 1] from sources.

    Args:
        sources: what to draw from.
        num_frame: frames per input window.
        patch: input (low-res) patch size; a multiple of 4 (16 with ``hr_in``).
        degradation: how targets become inputs (scale, blur, compression).
        augment: random horizontal / vertical flips and transposition.
        motion: keyword arguments of :func:`edvr_cli.lab.degrade.random_camera_path` for stills.
        detail_candidates: stills: keep the most detailed of this many random crops (1: uniform).
    """

    sources: list[Source]
    num_frame: int = 5
    patch: int = 32
    degradation: Degradation = field(default_factory=Degradation)
    augment: bool = True
    motion: dict = field(default_factory=dict)
    detail_candidates: int = 1

    def __post_init__(self) -> None:
        hr = self.patch * self.degradation.scale
        self._floats: dict[tuple[int, int], torch.Tensor] = {}
        usable = []
        for s in self.sources:
            h, w = s.size
            if s.still or len(s.frames) >= self.num_frame:
                if min(h, w) >= hr or s.still:
                    usable.append(s)
        if not usable:
            raise InputError(
                f"no source is large enough: need clips of at least {self.num_frame} frames and "
                f"{hr}x{hr} pixels (or still photos)"
            )
        self.sources = usable
        self._weights = torch.ones(len(usable), dtype=torch.float64)  # every source equally often

    def _float(self, src: Source, i: int) -> torch.Tensor:
        key = (id(src), i)
        if key not in self._floats:
            self._floats[key] = src.frames[i].float() / 255
        return self._floats[key]

    def sample(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One ``(lq, gt)`` pair drawn with generator ``g``."""
        scale = self.degradation.scale
        hr = self.patch * scale
        src = self.sources[int(torch.multinomial(self._weights, 1, generator=g))]
        c = self.num_frame // 2
        if src.still:
            frames = still_to_clip(self._float(src, 0), self.num_frame, (hr, hr), g,
                                   candidates=self.detail_candidates, **self.motion)
        else:
            h, w = src.size
            start = int(torch.randint(0, len(src.frames) - self.num_frame + 1, (1,), generator=g))
            y = int(torch.randint(0, h - hr + 1, (1,), generator=g))
            x = int(torch.randint(0, w - hr + 1, (1,), generator=g))
            frames = torch.stack([self._float(src, start + i)[:, y : y + hr, x : x + hr]
                                  for i in range(self.num_frame)])
            if float(torch.rand(1, generator=g)) < 0.5:  # play backwards
                frames = frames.flip(0)
        if self.augment:
            flips = torch.rand(3, generator=g)
            if flips[0] < 0.5:
                frames = frames.flip(-1)
            if flips[1] < 0.5:
                frames = frames.flip(-2)
            if flips[2] < 0.5:
                frames = frames.transpose(-1, -2)
        lq = self.degradation.apply(frames, g)
        return lq, frames[c]

    def batch(self, size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, t, 3, h, w)`` inputs and ``(b, 3, s*h, s*w)`` targets."""
        pairs = [self.sample(g) for _ in range(size)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator that draws the batch of ``step``: independent of everything that came before."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + 17) % (2**63))


def fixed_samples(sampler: ClipSampler, count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` deterministic samples (no augmentation), e.g. a validation set."""
    g = torch.Generator().manual_seed(seed)
    augment, sampler.augment = sampler.augment, False
    try:
        return [sampler.sample(g) for _ in range(count)]
    finally:
        sampler.augment = augment
