"""The model descriptor: a loaded network plus everything the pipeline needs to know to run it.

As in spandrel, loading returns a descriptor rather than a bare module: the pipeline asks it for the
scale, window length, centre frame, size multiple, temporal padding and precision support, and nothing
downstream parses file names or patches attributes onto the module::

    from edvr_cli.model.descriptor import load_descriptor
    d = load_descriptor("EDVR_L_x4_SR_REDS_official-9f5f5039.pth", device="cuda")
    d.scale, d.num_frame, d.center_frame_idx, d.padding    # 4, 5, 2, 'reflection_circle'
    h, w = d.padded_size(180, 322)                         # (180, 324): pad, run, crop
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from edvr_cli.digest import sha256_file
from edvr_cli.errors import EDVRCheckpointError, UsageError
from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.model.checkpoint import FORMAT_TAG, PADDING_KEY, load_checkpoint
from edvr_cli.model.padding import PADDINGS, published_padding

#: Values of :attr:`ModelDescriptor.naming`.
NAMINGS = ("basicsr", "original", "mmagic", "edvr-cli")


@dataclass(frozen=True)
class ModelDescriptor:
    """An EDVR network loaded from a file, and what callers need to run it.

    Args:
        model: the network, in eval mode on the requested device (float32).
        config: its hyper-parameters (read from the tensors; centre frame as resolved below).
        name: a label for messages (the caller's, else the file's stem).
        path: the file it was loaded from (None for a network built in memory, see :meth:`of`).
        sha256: hex SHA-256 of that file's bytes (None without a file).
        naming: the file's key naming: ``basicsr``, ``original``, ``mmagic``, or ``edvr-cli`` for
            files edvr wrote (canonical tensors with the configuration in the header).
        padding: temporal padding at clip ends: the caller's, else the file's ``edvr_padding``
            metadata, else the rule the published models were tested with
            (:func:`edvr_cli.model.padding.published_padding`).
        metadata: the file's safetensors metadata (empty for ``.pth`` files).
        supports_half: float16/bfloat16 inference is safe: the network is convolutions and
            LeakyReLU without normalisation, and the deformable sampling already runs in float32.
        supports_tiling: the network is local, so large frames can be restored in blended tiles.
    """

    model: EDVR
    config: EDVRConfig
    name: str
    path: Path | None
    sha256: str | None
    naming: str
    padding: str
    metadata: dict[str, str] = field(default_factory=dict)
    supports_half: bool = True
    supports_tiling: bool = True

    @classmethod
    def of(cls, model: EDVR, name: str = "in-memory", padding: str | None = None) -> ModelDescriptor:
        """A descriptor for a network built in memory (tests, benchmarks, training)."""
        padding = padding or published_padding(model.config.with_predeblur)
        return cls(model, model.config, name, None, None, "basicsr", padding)

    @property
    def scale(self) -> int:
        """Output size / input size: 4 for super-resolution, 1 with high-resolution input."""
        return self.config.scale

    @property
    def num_frame(self) -> int:
        """Frames in a window."""
        return self.config.num_frame

    @property
    def center_frame_idx(self) -> int:
        """Index of the reference frame in the window (the middle for every published model)."""
        return self.config.center

    @property
    def multiple_of(self) -> int:
        """Input height and width must be multiples of this (4; 16 with ``hr_in``)."""
        return self.config.multiple_of

    @property
    def hr_in(self) -> bool:
        """Input at output resolution (deblur models and the two-stage Stage 2)."""
        return self.config.hr_in

    @property
    def with_predeblur(self) -> bool:
        """Has the pre-deblur module (SRblur, deblur, deblurcomp)."""
        return self.config.with_predeblur

    @property
    def device(self) -> torch.device:
        """Where the network's weights are."""
        return next(self.model.parameters()).device

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The smallest input size at least ``height`` x ``width`` that the network accepts."""
        m = self.multiple_of
        return -(-height // m) * m, -(-width // m) * m


def load_descriptor(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    center_frame_idx: int | None = None,
    padding: str | None = None,
    name: str | None = None,
    sha256: str | None = None,
) -> ModelDescriptor:
    """Load a checkpoint file of any upstream codebase (``.pth``/``.pt``/``.safetensors``) as a descriptor.

    Args:
        path: the checkpoint file (read through the safe reader: no code runs, no oversized or
            non-finite weights load).
        device: where to put the network.
        center_frame_idx: override the reference frame (default: the file's metadata, else the middle).
        padding: override the temporal padding (one of ``model.padding.PADDINGS``).
        name: a label for messages (default: the file's stem).
        sha256: the file's digest when the caller already has it (a run's plan): not read again.

    Raises:
        EDVRCheckpointError: the file is not a loadable EDVR checkpoint, or its metadata is invalid.
        UsageError: ``center_frame_idx`` or ``padding`` cannot work with this model.
    """
    path = Path(path)
    if padding is not None and padding not in PADDINGS:
        raise UsageError(f"unknown temporal padding {padding!r}; choose one of {', '.join(PADDINGS)}")
    try:
        loaded = load_checkpoint(path, device, center_frame_idx=center_frame_idx)
    except ValueError as exc:  # only the caller's centre frame raises a plain ValueError
        raise UsageError(str(exc)) from None
    digest = sha256 or sha256_file(path)
    metadata = loaded.metadata
    config = loaded.model.config
    if padding is None:
        saved = metadata.get(PADDING_KEY)
        if saved is not None and saved not in PADDINGS:
            raise EDVRCheckpointError(f"{path.name}: its {PADDING_KEY} metadata {saved!r} is not one of "
                                      f"{', '.join(PADDINGS)}")
        padding = saved or published_padding(config.with_predeblur)
    naming = "edvr-cli" if metadata.get("format") == FORMAT_TAG else loaded.naming
    return ModelDescriptor(
        model=loaded.model,
        config=config,
        name=name or path.stem,
        path=path,
        sha256=digest,
        naming=naming,
        padding=padding,
        metadata=metadata,
    )


__all__ = ["NAMINGS", "ModelDescriptor", "load_descriptor"]
