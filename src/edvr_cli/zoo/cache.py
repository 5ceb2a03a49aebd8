"""The model cache: canonical ``.safetensors`` files under ``$EDVR_HOME/models``.

Layout, one pair per model (downloaded or imported)::

    $EDVR_HOME/models/<name>.safetensors        canonical (BasicSR-named, float32) weights; the header
                                                 carries the config and the source file's name and SHA-256
    $EDVR_HOME/models/<name>.json               sidecar: source, source file and its SHA-256, the cached file's
                                                 own SHA-256 (``sha256``, checked on use), naming, config, params
    $EDVR_HOME/models/<name>.safetensors.lock   file lock held while the model is fetched or written
    $EDVR_HOME/models/<file>.incomplete         a download in progress (resumed by the next attempt)

The ``.safetensors`` file is written last (atomically): a model is cached exactly when it exists.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edvr_cli import __version__

from edvr_cli import env as constants
from edvr_cli.zoo.download import sha256_file

SUFFIX = ".safetensors"


def models_dir() -> Path:
    return constants.edvr_home() / "models"


def model_file(name: str) -> Path:
    return models_dir() / f"{name}{SUFFIX}"


def sidecar_file(name: str) -> Path:
    return models_dir() / f"{name}.json"


def lock_file(name: str) -> Path:
    return models_dir() / f"{name}{SUFFIX}.lock"


@dataclass(frozen=True)
class CachedModel:
    """A model in the cache and what its sidecar says about it."""

    name: str
    path: Path
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.record.get("source", "?"))

    @property
    def source_sha256(self) -> str | None:
        return self.record.get("source_sha256")

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the cached file as written (None for entries cached by older versions)."""
        return self.record.get("sha256")

    @property
    def source_file(self) -> str | None:
        return self.record.get("source_file")

    @property
    def registry_name(self) -> str | None:
        return self.record.get("registry")

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.record.get("config") or {})

    @property
    def params(self) -> int | None:
        return self.record.get("params")

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def _read_sidecar(name: str) -> dict[str, Any]:
    try:
        with open(sidecar_file(name), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def get(name: str) -> CachedModel | None:
    """The cached model ``name`` (exact, else case-insensitive), or None."""
    path = model_file(name)
    if path.is_file():
        return CachedModel(name, path, _read_sidecar(name))
    folded = name.lower()
    for cached in list_models():
        if cached.name.lower() == folded:
            return cached
    return None


def list_models() -> list[CachedModel]:
    """Every cached model, by name."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name[: -len(SUFFIX)]
        if name.startswith("."):
            continue  # a temporary file being written
        found.append(CachedModel(name, path, _read_sidecar(name)))
    return found


def install(
    src: str | os.PathLike,
    name: str,
    *,
    source: str,
    source_sha256: str,
    registry_name: str | None = None,
    source_file: str | None = None,
) -> CachedModel:
    """Convert a checkpoint (any format ``load_model`` reads) into the cache as ``name``.

    The caller holds ``lock_file(name)``. The file is loaded strictly (so a broken checkpoint raises
    ``EDVRCheckpointError`` and nothing is written), then saved as canonical ``.safetensors``.
    """
    from edvr_cli.model.checkpoint import load_model, save_model

    src = Path(src)
    model = load_model(src)
    params = sum(p.numel() for p in model.parameters())
    source_file = source_file or src.name
    record: dict[str, Any] = {
        "name": name,
        "file": model_file(name).name,
        "registry": registry_name,
        "source": source,
        "source_file": source_file,
        "source_sha256": source_sha256,
        "naming": getattr(model, "naming", None),
        "config": model.config.to_dict(),
        "params": params,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "edvr_cli": __version__,
    }
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {
        "edvr_name": name,
        "edvr_source": source,
        "edvr_source_file": source_file,
        "edvr_source_sha256": source_sha256,
        "edvr_naming": str(record["naming"]),
    }
    if registry_name:
        metadata["edvr_registry"] = registry_name
    # weights under a hidden name first, so the sidecar can record their hash before they appear
    weights = folder / f".{model_file(name).name}.new-{os.getpid()}"
    sidecar = sidecar_file(name)
    tmp = sidecar.with_name(f".{sidecar.name}.tmp-{os.getpid()}")
    try:
        save_model(model, weights, metadata=metadata)
        record["sha256"] = sha256_file(weights)
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, sidecar)
        os.replace(weights, model_file(name))
    finally:
        tmp.unlink(missing_ok=True)
        weights.unlink(missing_ok=True)
    return CachedModel(name, model_file(name), record)


def is_intact(cached: CachedModel) -> bool:
    """Whether a cached file still has the SHA-256 recorded when it was written (True when none was)."""
    if not cached.sha256:
        return True
    try:
        return sha256_file(cached.path) == cached.sha256
    except OSError:
        return False


def remove(name: str) -> list[Path]:
    """Delete a cached model (weights first, then its sidecar); the paths removed."""
    removed = []
    for path in (model_file(name), sidecar_file(name)):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def partial_files(file_name: str | None) -> list[Path]:
    """Leftovers of an unfinished download of ``file_name`` (partial or verified-but-unconverted file)."""
    if not file_name:
        return []
    folder = models_dir()
    return [p for p in (folder / f"{file_name}.incomplete", folder / file_name) if p.is_file()]
