"""Loading the models a run needs (resolving names, downloading on first use) onto one device."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from edvr_cli.engine.device import default_precision, resolve_device
from edvr_cli.engine.windows import PADDINGS
from edvr_cli.errors import EDVRError, ModelKindError
from edvr_cli.jobs.settings import DEFAULT_MODELS, TASK_SCALE, RestoreSettings
from edvr_cli.model.arch import EDVR
from edvr_cli.model.checkpoint import load_model


@dataclass
class LoadedModel:
    """A network ready to run, with what the pipeline needs to know about it."""

    model: EDVR
    name: str
    padding: str
    task: str | None = None
    path: Path | None = None

    @cached_property
    def sha256(self) -> str | None:
        """SHA-256 of the file the weights came from (what a resumable run records)."""
        from edvr_cli.zoo.download import sha256_file

        return sha256_file(self.path) if self.path is not None else None


@dataclass
class Models:
    """Stage 1 and the optional stage 2, on one device."""

    stage1: LoadedModel
    stage2: LoadedModel | None
    device: torch.device
    precision: str

    @property
    def scale(self) -> int:
        return self.stage1.model.scale



def _published_padding(resolved_entry, scale: int) -> str:
    if resolved_entry is not None and getattr(resolved_entry, "padding", None):
        return resolved_entry.padding
    return "reflection_circle" if scale == 4 else "replicate"


def _load_one(spec: str, settings: RestoreSettings, device: torch.device) -> LoadedModel:
    from edvr_cli.zoo import resolve_model

    resolved = resolve_model(spec, hf_repo=settings.hf_repo, quiet=settings.quiet)
    model = load_model(resolved.path, device=device)
    entry = resolved.entry
    return LoadedModel(model, resolved.name, _published_padding(entry, model.scale), getattr(entry, "task", None),
                       Path(resolved.path))


def load_models(settings: RestoreSettings) -> Models:
    """Resolve (downloading on first use), load and check the models a run needs."""
    if settings.task not in TASK_SCALE:
        raise ValueError(f"unknown task {settings.task!r}")
    if settings.padding is not None and settings.padding not in PADDINGS:
        raise EDVRError(f"unknown --padding {settings.padding!r}; choose one of {', '.join(PADDINGS)}")
    try:
        device = resolve_device(settings.device)
    except (ValueError, RuntimeError) as exc:
        raise EDVRError(str(exc)) from None
    precision = settings.precision or default_precision(device)
    spec = settings.model or DEFAULT_MODELS[settings.task]
    try:
        stage1 = _load_one(spec, settings, device)
    except EDVRError as exc:
        if settings.model is None and settings.task == "upscale":
            raise type(exc)(f"{exc}. To work offline now, use the bundled model: --model edvr-tiny") from None
        raise
    want = TASK_SCALE[settings.task]
    if stage1.task is not None and stage1.task.startswith("stage2"):
        raise ModelKindError(f"{stage1.name} is a stage-2 model; pass it with --stage2 after a stage-1 model")
    if stage1.model.scale != want:
        kind = f"x{stage1.model.scale}"
        hint = "use `edvr deblur`" if settings.task == "upscale" else "use `edvr upscale`"
        raise ModelKindError(f"{stage1.name} is a {kind} model, but `edvr {settings.task}` needs x{want}; {hint}")
    padding = settings.padding or stage1.padding
    stage1.padding = padding
    stage2 = None
    if settings.stage2:
        stage2 = _load_one(settings.stage2, settings, device)
        if not stage2.model.config.hr_in:
            raise ModelKindError(
                f"{stage2.name} is not a stage-2 model (stage 2 takes full-resolution input and keeps its size)"
            )
        stage2.padding = padding  # the same padding mode in both stages, as the original did
    return Models(stage1, stage2, device, precision)


