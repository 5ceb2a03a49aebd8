"""The model zoo: published EDVR checkpoints, downloaded, verified, converted and cached on first use.

    from edvr_cli.zoo import resolve_model
    resolved = resolve_model("EDVR_L_x4_SR_REDS")     # downloads once, then reads the cache
    model = load_model(resolved.path)                  # resolved.entry.padding: the published padding

Modules: ``registry`` (what is published), ``download`` (sources, resume, verification),
``cache`` (where models live), ``models`` (the operations the CLI and the pipeline use).
"""

from __future__ import annotations

from edvr_cli.zoo.cache import CachedModel
from edvr_cli.zoo.models import (
    FileInfo,
    ImportResult,
    ResolvedModel,
    download_model,
    import_model,
    inspect_file,
    model_path,
    remove_model,
    resolve_model,
)
from edvr_cli.zoo.registry import ModelEntry, Registry, Score, Source, default_registry

__all__ = [
    "CachedModel",
    "FileInfo",
    "ImportResult",
    "ModelEntry",
    "Registry",
    "ResolvedModel",
    "Score",
    "Source",
    "default_registry",
    "download_model",
    "import_model",
    "inspect_file",
    "model_path",
    "remove_model",
    "resolve_model",
]
