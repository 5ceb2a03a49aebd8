"""What the rest of the program asks the zoo: resolve, download, import, inspect and remove models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edvr_cli.digest import sha256_file
from edvr_cli.errors import (
    DownloadError,
    EDVRError,
    ModelNameError,
    ModelNameTakenError,
    ModelNotFoundError,
)
from edvr_cli.zoo import cache
from edvr_cli.zoo.download import Fetched, download_entry, source_label, sources_for
from edvr_cli.zoo.names import check_model_name
from edvr_cli.zoo.progress import ProgressCallback
from edvr_cli.zoo.registry import (
    ModelEntry,
    Registry,
    close_matches,
    default_registry,
)

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt", ".bin")


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load.

    Args:
        path: a file ``load_model`` reads.
        name: registry or imported name (the file's stem for a plain path).
        entry: the registry entry (task, scale, frames, default padding, scores), None for a plain
            file or a model imported under a name of its own.
        origin: ``file`` (a path given as is), ``bundled``, ``cache`` or ``download`` (fetched now).
    """

    path: Path
    name: str
    entry: ModelEntry | None
    origin: str

    @property
    def padding(self) -> str | None:
        """The temporal padding the published results used, when known."""
        return self.entry.padding if self.entry else None


def _registry(registry: Registry | None) -> Registry:
    return registry if registry is not None else default_registry()


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.lower().endswith(CHECKPOINT_SUFFIXES) or text.startswith("~")


def _not_found(name: str, registry: Registry) -> ModelNotFoundError:
    names = registry.names() + [c.name for c in cache.list_models()]
    hits = close_matches(name, names)
    hint = f" Did you mean {', '.join(hits)}?" if hits else ""
    return ModelNotFoundError(
        f"unknown model {name!r}: not a published model, an imported one, or an existing file.{hint}"
        " (edvr weights list shows them all)"
    )


def _not_a_file(path: Path) -> str:
    """Why ``path`` is no checkpoint file: missing, or a folder, FIFO, socket or device."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return f"no such checkpoint file: {path}"
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device")
    return f"{path} is {kind}, not a checkpoint file"


def as_cache_name(text: str) -> str:
    """What the user typed where a checkpoint file or a model name goes (``info``, ``--model``), once it
    is not an existing file: a model name (``check_model_name``), else one line saying what is wrong:
    ``no such checkpoint file`` when it looks like a path, ``bad model name`` otherwise."""
    try:
        return check_model_name(text)
    except ModelNameError:
        if _looks_like_path(text):
            raise ModelNotFoundError(_not_a_file(Path(text))) from None
        raise


def _import_only_error(entry: ModelEntry) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"{entry.name} has no public download source ({entry.origin or 'import only'}); get {entry.file}"
        f" and run: edvr weights import {entry.file}"
    )


def _install_fetched(entry: ModelEntry, fetched: Fetched) -> cache.CachedModel:
    return cache.install(
        fetched.path,
        entry.name,
        source=fetched.source,
        source_sha256=fetched.sha256,
        registry_name=entry.name,
        source_file=entry.file,
    )


def check_intact(cached: cache.CachedModel, entry: ModelEntry | None = None) -> cache.CachedModel:
    """The cached model, after checking its bytes still have the SHA-256 recorded when it was cached.

    A changed file is refused (never loaded, never silently replaced) with ``CachedModelChangedError``
    (a ``ChecksumError``), one line saying how to fix it.
    """
    if cache.is_intact(cached, entry.sha256 if entry is not None else None):
        return cached
    remove = f"edvr weights remove {cached.name}"
    if entry is not None and entry.sources:
        how = f"download it again: edvr weights download {entry.name} --force (or {remove})"
    elif cached.source.startswith("import "):
        source = cached.source[len("import "):]
        how = f"replace it: edvr weights import {source} --force --name {cached.name}, or {remove}"
    else:
        how = f"replace it: {remove}, then download or import it again"
    raise cache.changed_error(cached, how)


def _usable_or_removed(cached: cache.CachedModel, entry: ModelEntry, hf_repo: str | None) -> bool:
    """True for an intact cached file. A published model whose bytes changed is removed (under its lock)
    so that a verified download replaces it; one that cannot be downloaded is refused (see :func:`check_intact`)."""
    if cache.is_intact(cached, entry.sha256):
        return True
    if not sources_for(entry, hf_repo):
        check_intact(cached, entry)
    with cache.locked(cached.name):
        current = cache.get(cached.name)
        if current is not None and cache.is_intact(current, entry.sha256):
            return True  # another process replaced it meanwhile
        cache.remove(cached.name)
    return False


def download_model(
    name: str,
    *,
    hf_repo: str | None = None,
    quiet: bool = False,
    force: bool = False,
    registry: Registry | None = None,
    on_progress: ProgressCallback | None = None,
) -> cache.CachedModel:
    """Download a published model into the cache (nothing to do when it is there already).

    ``on_progress(done, total)`` receives the bytes as they arrive (else, unless ``quiet``, the shared
    progress bar shows them on a terminal). Raises ``ModelNotFoundError`` (unknown or import-only),
    ``OfflineError``, ``ChecksumError``, ``DownloadError``, ``ModelCacheError`` (EDVR_HOME unusable),
    ``ModelNameError`` (``name`` is no model name: a path, ``..``...).
    """
    check_model_name(name)
    reg = _registry(registry)
    entry = reg.get(name)
    if entry is None:
        raise _not_found(name, reg)
    if entry.bundled:
        raise DownloadError(f"{entry.name} ships with edvr-cli; there is nothing to download")
    if not sources_for(entry, hf_repo):
        raise _import_only_error(entry)
    target = cache.download_file(str(entry.file))  # a registry's file name never leads out of the cache
    existing = cache.get(entry.name)
    if existing is not None and not force:
        return existing
    if force and existing is not None:
        with cache.locked(entry.name):
            cache.remove(entry.name)
    return download_entry(
        entry,
        target,
        installed=lambda: cache.get(entry.name),
        install=lambda fetched: _install_fetched(entry, fetched),
        lock=lambda: cache.locked(entry.name),
        prepare=cache.ensure_models_dir,
        hf_repo=hf_repo,
        quiet=quiet,
        on_progress=on_progress,
    )


def resolve_model(
    name_or_path: str | os.PathLike,
    *,
    hf_repo: str | None = None,
    quiet: bool = False,
    registry: Registry | None = None,
    on_progress: ProgressCallback | None = None,
) -> ResolvedModel:
    """Turn what the user typed into a loadable file, downloading a published model on first use.

    An existing file is returned as is; a registry name resolves to its bundled file, its cached file,
    or a fresh download; an imported name resolves to its cached file, checked against the SHA-256
    recorded when it was cached (``CachedModelChangedError`` when it changed). Anything else raises
    ``ModelNotFoundError`` naming close matches (``ModelNameError`` for text that is no model name, or
    ``no such checkpoint file`` when it looks like a path): the cache is only ever asked for model names.
    """
    reg = _registry(registry)
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return ResolvedModel(path, path.stem, None, "file")
    if path.is_dir() and _looks_like_path(text):
        raise ModelNotFoundError(f"{text} is a folder, not a checkpoint file")
    entry = reg.get(text)
    if entry is not None:
        if entry.bundled:
            bundled = entry.bundled_path()
            if bundled is None or not bundled.is_file():
                raise ModelNotFoundError(f"{entry.name}: its bundled file is missing; reinstall edvr-cli")
            return ResolvedModel(bundled, entry.name, entry, "bundled")
        cached = cache.get(entry.name)
        if cached is not None and _usable_or_removed(cached, entry, hf_repo):
            return ResolvedModel(cached.path, entry.name, entry, "cache")
        if not sources_for(entry, hf_repo):
            raise _import_only_error(entry)
        cached = download_model(entry.name, hf_repo=hf_repo, quiet=quiet, registry=reg, on_progress=on_progress)
        return ResolvedModel(cached.path, entry.name, entry, "download")
    cached = cache.get(as_cache_name(text))
    if cached is not None:
        known = reg.get(cached.registry_name) if cached.registry_name else None
        check_intact(cached, known)
        return ResolvedModel(cached.path, cached.name, known, "cache")
    if _looks_like_path(text):
        raise ModelNotFoundError(_not_a_file(Path(text)))
    raise _not_found(text, reg)


def model_path(name: str, *, registry: Registry | None = None) -> Path:
    """Where a bundled, downloaded or imported model's file is; ModelNotFoundError when it is not there
    (``ModelNameError`` when ``name`` is no model name)."""
    check_model_name(name)
    reg = _registry(registry)
    entry = reg.get(name)
    if entry is not None and entry.bundled:
        return resolve_model(entry.name, registry=reg).path
    cached = cache.get(entry.name if entry else name)
    if cached is not None:
        return cached.path
    if entry is None:
        raise _not_found(name, reg)
    if not entry.sources:
        raise _import_only_error(entry)
    raise ModelNotFoundError(f"{entry.name} is not downloaded yet; run: edvr weights download {entry.name}")


def remove_model(name: str, *, registry: Registry | None = None) -> list[Path]:
    """Delete a cached model and any unfinished download of it; the paths removed.

    ``name`` must be a model name (``ModelNameError`` for a path, ``..``...: nothing is touched); only
    files inside the cache folder are ever deleted (``cache.delete``).
    """
    check_model_name(name)
    reg = _registry(registry)
    entry = reg.get(name)
    if entry is not None and entry.bundled:
        raise EDVRError(f"{entry.name} ships with edvr-cli and cannot be removed")
    cached = cache.get(entry.name if entry else name)
    leftovers = cache.partial_files(entry.file) if entry else []
    if cached is None and not leftovers:
        if entry is None:
            raise _not_found(name, reg)
        raise ModelNotFoundError(f"{entry.name} is not in the cache ({cache.models_dir()})")
    key = cached.name if cached else entry.name  # type: ignore[union-attr]
    with cache.locked(key):
        removed = cache.remove(key)
        for path in leftovers:
            cache.delete(path)
            removed.append(path)
    return removed


# ----------------------------------------------------------------------------------------------------
# Import and inspection


@dataclass(frozen=True)
class FileInfo:
    """What a checkpoint file is: its hash, the published model it is (if any), naming and config."""

    path: Path
    sha256: str
    entry: ModelEntry | None
    naming: str
    config: dict[str, Any]
    params: int
    metadata: dict[str, str]


def _config_agrees(entry: ModelEntry, config: dict[str, Any]) -> bool:
    return all(config.get(k) == v for k, v in entry.config.items() if k in config)


def recognise(path: Path, digest: str, config: dict[str, Any] | None, registry: Registry) -> ModelEntry | None:
    """The published model a file is: by SHA-256 (full or prefix), else by its original file name when
    the registry knows no hash for it (the Stage-2 models) and the architecture agrees."""
    entry = registry.by_sha256(digest)
    if entry is not None:
        return entry
    entry = registry.by_file_name(path.name)
    if entry is not None and entry.sha256 is None and (config is None or _config_agrees(entry, config)):
        return entry
    return None


def inspect_file(path: str | os.PathLike, *, registry: Registry | None = None) -> FileInfo:
    """Read a checkpoint file (never running code) and describe it."""
    from edvr_cli.model.checkpoint import (
        describe_state_dict,
        read_metadata,
        read_state_dict,
    )

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(_not_a_file(path))
    raw = read_state_dict(path)
    canonical, config, naming = describe_state_dict(raw, path.name)
    params = sum(t.numel() for t in canonical.values())
    digest = sha256_file(path)
    cfg = config.to_dict()
    entry = recognise(path, digest, cfg, _registry(registry))
    return FileInfo(path, digest, entry, naming, cfg, params, read_metadata(path))


@dataclass(frozen=True)
class ImportResult:
    """Outcome of ``import_model``: the cache entry, the published model recognised (if any), and
    whether the file was already there."""

    cached: cache.CachedModel
    entry: ModelEntry | None
    already: bool


def import_model(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    force: bool = False,
    registry: Registry | None = None,
) -> ImportResult:
    """Put a checkpoint file (any format ``load_model`` reads) into the cache.

    A published file (recognised by its SHA-256) is filed under its registry name; any other file
    under ``name``, which is then required, must be a model name (``ModelNameError`` otherwise, checked
    before the file is read) and must not be a registry name.
    """
    if name:
        check_model_name(name)
    reg = _registry(registry)
    info = inspect_file(path, registry=reg)
    entry = info.entry
    if entry is not None:
        target = entry.name
    else:
        if not name:
            raise ModelNotFoundError(
                f"{info.path.name} is not a published checkpoint (SHA-256 {info.sha256[:16]}...); "
                f"import it under a name of your choosing: edvr weights import {info.path.name} --name NAME"
            )
        clash = reg.get(name)
        if clash is not None:
            raise EDVRError(
                f"{name!r} is the name of the published model {clash.name}, and this file is not it;"
                " choose another --name"
            )
        target = name
    existing = cache.get(target)
    if existing is not None and existing.name != target:
        target = existing.name  # same name in another case: keep one entry
    with cache.locked(target):  # the name is checked and claimed under one lock
        existing = cache.get(target)
        if existing is not None and not force:
            if existing.source_sha256 == info.sha256:
                return ImportResult(existing, entry, already=True)
            raise ModelNameTakenError(
                f"a model named {existing.name} is already in the cache "
                f"(from {existing.source_file or existing.source}); add --force to replace it"
            )
        cached = cache.install(
            info.path,
            target,
            source=f"import {info.path.resolve()}",
            source_sha256=info.sha256,
            registry_name=entry.name if entry else None,
            source_file=info.path.name,
        )
    return ImportResult(cached, entry, already=False)


def describe_sources(entry: ModelEntry, hf_repo: str | None = None) -> list[str]:
    """The entry's sources in words, in the order they are tried."""
    return [source_label(s, entry, hf_repo) for s in sources_for(entry, hf_repo)]


__all__ = [
    "FileInfo",
    "as_cache_name",
    "ImportResult",
    "ResolvedModel",
    "check_intact",
    "describe_sources",
    "download_model",
    "import_model",
    "inspect_file",
    "model_path",
    "recognise",
    "remove_model",
    "resolve_model",
]
