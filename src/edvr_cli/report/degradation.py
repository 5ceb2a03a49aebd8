"""Which degradation the report puts the output back through: the model's training degradation when the
registry (or the file) says what the model is, else the one its scale implies, always said in words.

A published model's task (``sr``, ``srblur``, ``deblur``, ``deblurcomp``) and scale come from the registry
without downloading anything; a checkpoint file is read (never run) for its scale and recognised by its
SHA-256. Only MATLAB-bicubic downscaling can be reproduced from single frames: REDS' blur (averaging
frames of a high-frame-rate camera) and its compression cannot, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Degradation:
    """How an output frame is brought back to the input's grid for comparison.

    Args:
        kind: ``bicubic`` (MATLAB bicubic downscale by ``scale``) or ``identity`` (x1: no change).
        scale: output size / input size.
        description: what is done, in words.
        matches_training: True when it is the model's training degradation, False when the model was
            trained on something it does not reproduce, None when the model is not known.
    """

    kind: str
    scale: int
    description: str
    matches_training: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale, "description": self.description,
                "matches_training": self.matches_training}


@dataclass(frozen=True)
class ModelFacts:
    """What the report knows of the model that made the output.

    Args:
        name: registry name, file stem, or ``None`` (no model given: only the sizes were seen).
        task: registry task (``sr``, ``srblur``, ``deblur``, ``deblurcomp``), or None when unknown.
        scale: output size / input size; None until the frames are seen (no model given).
        source: how it was known: ``--model``, ``provenance`` (the output's own record), or ``sizes``.
    """

    name: str | None
    task: str | None
    scale: int | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "scale": self.scale, "known_from": self.source}


_BICUBIC = "MATLAB bicubic downscale by {s} (imresize, antialiased, edvr_cli.lab.imresize), not rounded to 8 bits"


def degradation_for(model: ModelFacts, scale: int) -> Degradation:
    """The degradation the report applies to the outputs of ``model`` (``scale``: the frames' ratio)."""
    task = model.task
    if scale == 1:
        trained = {"deblur": "REDS blur: averaged frames of a high-frame-rate camera",
                   "deblurcomp": "REDS blur plus video compression"}.get(task or "")
        why = (f"the model was trained on {trained}, which single frames cannot reproduce; " if trained
               else "")
        return Degradation("identity", 1, (
            "none: the output is compared with the input as it is (\"change PSNR\": high = the output stayed "
            f"close to the input, low = it changed it a lot; {why}it is not a measure of fidelity)"),
            False if trained else None)
    text = _BICUBIC.format(s=scale)
    if task == "sr":
        return Degradation("bicubic", scale, text + ": the degradation the model was trained to invert "
                           "(REDS sharp_bicubic / Vimeo-90K BI)", True)
    if task == "srblur":
        return Degradation("bicubic", scale, text + ": the model was trained on REDS blur_bicubic (motion "
                           "blur from averaged frames, then bicubic), whose blur single frames cannot "
                           "reproduce, so the blur is left out: a deblurring model scores lower by design",
                           False)
    return Degradation("bicubic", scale, text + ": assumed (the model's training degradation is not known)",
                       None)


def facts_of(spec: str, *, hf_repo: str | None = None) -> ModelFacts:
    """What ``spec`` (a registry name, an imported name or a checkpoint file) is, downloading nothing:
    a registry name is described by its entry; a file or a cached model is read for its scale.

    Raises:
        ModelNotFoundError: ``spec`` is none of those.
    """
    from edvr_cli.zoo.registry import default_registry

    entry = default_registry().get(spec)
    if entry is not None and not Path(spec).expanduser().is_file():
        return ModelFacts(entry.name, entry.task, entry.scale, "--model")
    from edvr_cli.zoo import inspect_file, resolve_model

    resolved = resolve_model(spec, hf_repo=hf_repo, quiet=True)  # a file or a cached model: no download
    info = inspect_file(resolved.path)
    known = info.entry or resolved.entry
    scale = known.scale if known is not None else _config_scale(info.config)
    return ModelFacts(known.name if known is not None else resolved.name, known.task if known else None,
                      scale, "--model")


def _config_scale(config: dict[str, Any]) -> int:
    """The scale of an architecture configuration (x1 for full-resolution input, else x4)."""
    return 1 if config.get("hr_in") else 4


def facts_from_provenance(output: str | Path) -> ModelFacts | None:
    """The stage-1 model the output's provenance names, when the registry knows it (by name or SHA-256)."""
    from edvr_cli.errors import EDVRError
    from edvr_cli.jobs.provenance import read_provenance
    from edvr_cli.zoo.registry import default_registry

    try:
        record = read_provenance(output)
    except (EDVRError, OSError, ValueError):  # an unreadable record is no record: the sizes still tell the scale
        return None
    models = (record or {}).get("models") or []
    if not models or not isinstance(models[0], dict):
        return None
    registry = default_registry()
    first = models[0]
    entry = registry.get(str(first.get("name") or "")) if first.get("name") else None
    if entry is None and isinstance(first.get("sha256"), str):
        entry = registry.by_sha256(first["sha256"])
    if entry is None:
        return None
    return ModelFacts(entry.name, entry.task, entry.scale, "provenance")
