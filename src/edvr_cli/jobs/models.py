"""Loading the models a run needs (resolving names, downloading on first use) onto one device."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from edvr_cli.engine.device import default_precision, resolve_device, use_device
from edvr_cli.errors import EDVRError, ModelKindError
from edvr_cli.jobs.settings import DEFAULT_MODELS, TASK_SCALE, RestoreSettings
from edvr_cli.model.descriptor import ModelDescriptor


@dataclass
class Models:
    """Stage 1 and the optional stage 2, on one device, each with what the run needs to know of it."""

    stage1: ModelDescriptor
    stage2: ModelDescriptor | None
    device: torch.device
    precision: str

    @property
    def scale(self) -> int:
        return self.stage1.scale


def load_one(spec: str, device: torch.device, *, padding: str | None = None, hf_repo: str | None = None,
             quiet: bool = False) -> tuple[ModelDescriptor, str | None]:
    """(descriptor, registry task or None) of one model name, imported name or path.

    The temporal padding is ``padding``, else the registry's published one, else the descriptor's rule.
    """
    from edvr_cli.model.descriptor import load_descriptor
    from edvr_cli.zoo import resolve_model

    resolved = resolve_model(spec, hf_repo=hf_repo, quiet=quiet)
    entry = resolved.entry
    padding = padding or (entry.padding if entry is not None else None)
    descriptor = load_descriptor(resolved.path, device, padding=padding, name=resolved.name)
    return descriptor, (entry.task if entry is not None else None)


def load_models(settings: RestoreSettings) -> Models:
    """Resolve (downloading on first use), load and check the models a run needs."""
    if settings.task not in TASK_SCALE:
        raise ValueError(f"unknown task {settings.task!r}")
    device = resolve_device(settings.device)
    use_device(device)
    precision = settings.precision or default_precision(device)
    spec = settings.model or DEFAULT_MODELS[settings.task]
    try:
        stage1, task = load_one(spec, device, padding=settings.padding, hf_repo=settings.hf_repo, quiet=settings.quiet)
    except EDVRError as exc:
        if settings.model is None and settings.task == "upscale":
            raise type(exc)(f"{exc}. To work offline now, use the bundled model: --model edvr-tiny") from None
        raise
    want = TASK_SCALE[settings.task]
    if task is not None and task.startswith("stage2"):
        raise ModelKindError(f"{stage1.name} is a stage-2 model; pass it with --stage2 after a stage-1 model")
    if stage1.scale != want:
        hint = "use `edvr deblur`" if settings.task == "upscale" else "use `edvr upscale`"
        raise ModelKindError(
            f"{stage1.name} is a x{stage1.scale} model, but `edvr {settings.task}` needs x{want}; {hint}")
    stage2 = None
    if settings.stage2:
        stage2, _ = load_one(settings.stage2, device, hf_repo=settings.hf_repo, quiet=settings.quiet)
        if not stage2.hr_in:
            raise ModelKindError(
                f"{stage2.name} is not a stage-2 model (stage 2 takes full-resolution input and keeps its size)"
            )
        stage2 = dataclasses.replace(stage2, padding=stage1.padding)  # one padding mode in both stages, as the original
    return Models(stage1, stage2, device, precision)
