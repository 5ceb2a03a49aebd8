"""The model cache: canonical ``.safetensors`` files under ``$EDVR_HOME/models``.

Layout, one pair per model (downloaded or imported)::

    $EDVR_HOME/models/<name>.safetensors        canonical (BasicSR-named, float32) weights; the header
                                                 carries the config and the source file's name and SHA-256
    $EDVR_HOME/models/<name>.json               sidecar: source, source file and its full SHA-256, the cached
                                                 file's own full SHA-256 (``sha256``, checked on every use),
                                                 naming, config, params
    $EDVR_HOME/models/<name>.safetensors.lock   file lock held while the model is fetched, imported or removed
    $EDVR_HOME/models/<file>.incomplete         a download in progress (resumed by the next attempt)

Writes: both files are written under hidden temporary names (the output guard's, so a run killed
with SIGKILL leaves temporaries the next write removes) and renamed into place together with the
handled signals held back: a model is cached exactly when its ``.safetensors`` exists, and nothing
partial ever appears under a final name.

Names and paths: every path made from a model name goes through ``names.check_model_name`` (a name is
never a path: ``/``, ``..`` and a leading dot are refused), and every file this module, ``models`` and
``download_file`` delete or rename here goes through :func:`inside` (``delete``, ``rename``), which refuses
any path that is not strictly inside the cache folder.

Checking on use: ``check_intact`` re-hashes the whole file on every use (about 0.2 s for an 80 MB
EDVR-L file, small next to loading it) rather than trusting size and modification time, which a
changed file can keep.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edvr_cli import __version__, env
from edvr_cli.digest import hash_matches, sha256_file
from edvr_cli.errors import CachedModelChangedError, ModelCacheError, is_disk_full
from edvr_cli.guard import jsontext
from edvr_cli.zoo.names import check_model_name

SUFFIX = ".safetensors"


def models_dir() -> Path:
    return env.edvr_home() / "models"


def model_file(name: str) -> Path:
    """The cached weights of model ``name``; ``ModelNameError`` when ``name`` is no model name (a path...)."""
    return models_dir() / f"{check_model_name(name)}{SUFFIX}"


def sidecar_file(name: str) -> Path:
    return models_dir() / f"{check_model_name(name)}.json"


def lock_file(name: str) -> Path:
    return models_dir() / f"{check_model_name(name)}{SUFFIX}.lock"


def inside(path: str | os.PathLike[str]) -> Path:
    """``path`` when it lies strictly inside the cache folder; ModelCacheError (one line) otherwise.

    The one check before the zoo deletes or renames anything in the cache (:func:`delete`,
    :func:`rename`). The folders above the last part are resolved (``..``, links); the last part is
    not, so a link in the cache is what gets removed, never its target.
    """
    path = Path(path)
    root = os.path.realpath(models_dir())
    parent = os.path.realpath(path.parent)
    if path.name in ("", ".", "..") or not (parent == root or parent.startswith(root + os.sep)):
        raise ModelCacheError(f"refusing to touch '{path}': it is outside the model cache {models_dir()}")
    return path


def delete(path: str | os.PathLike[str]) -> bool:
    """Delete one file (or link) inside the cache folder (see :func:`inside`); False when it was not there."""
    try:
        inside(path).unlink()
    except FileNotFoundError:
        return False
    return True


def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Rename a file inside the cache folder onto another name there (atomic; see :func:`inside`)."""
    os.replace(inside(src), inside(dst))


def download_file(file_name: str) -> Path:
    """Where the download of the checkpoint ``file_name`` goes: inside the cache folder, or ModelCacheError."""
    return inside(models_dir() / file_name)


def _cache_error(path: Path, exc: OSError | None = None) -> ModelCacheError:
    """One line naming the real offending path (the first existing one up the tree) and what to do."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        why = f"'{probe}' is a file, not a folder"
    elif exc is not None and is_disk_full(exc):
        why = f"no space left on the device of '{probe}' ({exc.strerror or exc})"
    elif exc is None or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"'{probe}' is not writable"
    else:
        why = f"'{probe}': {exc.strerror or exc}"
    return ModelCacheError(
        f"cannot write the model cache {path} ({why}); set EDVR_HOME to a folder you can write"
    )


def ensure_models_dir() -> Path:
    """Create the cache folder if needed; ModelCacheError (one line) when it cannot be used."""
    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error(folder, exc) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _cache_error(folder)
    return folder


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the file lock of model ``name`` (creating the cache folder); ModelCacheError if it cannot."""
    from filelock import FileLock

    ensure_models_dir()
    lock = FileLock(str(lock_file(name)))
    try:
        lock.acquire()
    except OSError as exc:
        raise _cache_error(lock_file(name), exc) from None
    try:
        yield
    finally:
        lock.release()


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
        """Full SHA-256 of the file it came from (the verified download, or the imported file)."""
        return self.record.get("source_sha256")

    @property
    def sha256(self) -> str | None:
        """Full SHA-256 of the cached file as written (None for entries cached by older versions)."""
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


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = jsontext.loads(f.read())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def get(name: str) -> CachedModel | None:
    """The cached model ``name`` (exact, else case-insensitive), or None; ModelNameError for no model name."""
    path = model_file(name)
    if path.is_file():
        return CachedModel(name, path, _read_sidecar(sidecar_file(name)))
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
        found.append(CachedModel(name, path, _read_sidecar(path.with_name(f"{name}.json"))))
    return found


def install(
    src: str | os.PathLike[str],
    name: str,
    *,
    source: str,
    source_sha256: str,
    registry_name: str | None = None,
    source_file: str | None = None,
) -> CachedModel:
    """Convert a checkpoint (any format ``load_model`` reads) into the cache as ``name``.

    The caller holds ``locked(name)``. The file is loaded strictly (so a broken checkpoint raises
    ``EDVRCheckpointError`` and nothing is written), then saved as canonical ``.safetensors``.
    """
    from edvr_cli.guard.output import (
        check_output,
        remove_path,
        remove_stale_temporaries,
        temporary_sibling,
    )
    from edvr_cli.guard.signals import signals_deferred
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
    ensure_models_dir()
    metadata = {
        "edvr_name": name,
        "edvr_source": source,
        "edvr_source_file": source_file,
        "edvr_source_sha256": source_sha256,
        "edvr_naming": str(record["naming"]),
    }
    if registry_name:
        metadata["edvr_registry"] = registry_name
    final, sidecar = model_file(name), sidecar_file(name)
    for target in (final, sidecar):
        check_output(target, overwrite=True)  # never onto a device, FIFO or socket, or a folder
        remove_stale_temporaries(target)  # left by a run killed with SIGKILL
    weights_tmp, sidecar_tmp = temporary_sibling(final), temporary_sibling(sidecar)
    try:
        try:
            save_model(model, weights_tmp, metadata=metadata)
            record["sha256"] = sha256_file(weights_tmp)
            with open(sidecar_tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps(record, indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())
            with signals_deferred():  # both or neither
                rename(sidecar_tmp, sidecar)
                rename(weights_tmp, final)
        except OSError as exc:
            raise _cache_error(final, exc) from None
    finally:
        with signals_deferred():
            remove_path(weights_tmp)
            remove_path(sidecar_tmp)
    return CachedModel(name, final, record)


def changed_error(cached: CachedModel, how: str) -> CachedModelChangedError:
    if not cached.sha256:
        return CachedModelChangedError(
            f"the cached model {cached.name} cannot be checked: the record of its SHA-256 "
            f"({sidecar_file(cached.name).name}) is missing or unreadable; {how}")
    return CachedModelChangedError(
        f"the cached model {cached.name} is damaged: {cached.path} no longer has the SHA-256 recorded when it"
        f" was cached ({cached.sha256[:16]}...); {how}"
    )


def is_intact(cached: CachedModel, published: str | None = None) -> bool:
    """Whether a cached file still has the SHA-256 recorded when it was written. Without that record (its
    sidecar deleted or unreadable) only a published hash (``published``, possibly a prefix) can vouch for
    it; with neither it counts as changed: nothing says it is what was cached."""
    try:
        if cached.sha256:
            return sha256_file(cached.path) == cached.sha256
        return published is not None and hash_matches(sha256_file(cached.path), published)
    except OSError:
        return False


def remove(name: str) -> list[Path]:
    """Delete a cached model (weights first, then its sidecar); the paths removed."""
    return [path for path in (model_file(name), sidecar_file(name)) if delete(path)]


def partial_files(file_name: str | None) -> list[Path]:
    """Leftovers of an unfinished download of ``file_name`` (partial files, a verified-but-unconverted file)."""
    if not file_name:
        return []
    from edvr_cli.zoo.download import partial_files as leftovers

    return leftovers(download_file(file_name))
