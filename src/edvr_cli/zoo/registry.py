"""The model registry: every published EDVR checkpoint, what it does and where to get it.

The data lives in ``edvr_cli/weights/registry.json`` (package data); this module reads and checks it,
and answers look-ups: by name (exact, then case-insensitive), by SHA-256 (full or prefix), by the
original file name, and "did you mean" suggestions.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edvr_cli.errors import ModelNameError
from edvr_cli.zoo.names import check_model_name

TASKS = (
    "sr",
    "srblur",
    "deblur",
    "deblurcomp",
    "stage2-sr",
    "stage2-srblur",
    "stage2-deblur",
    "stage2-deblurcomp",
)
PADDINGS = ("replicate", "reflection", "reflection_circle", "circle")
SOURCE_KINDS = ("hf", "url", "gdrive")
NAMINGS = ("basicsr", "original", "mmagic")

_HEX = re.compile(r"^[0-9a-f]{8,64}$")


def default_padding(task: str) -> str:
    """Temporal edge padding the published results used: reflection_circle for sharp SR, else replicate."""
    return "reflection_circle" if task in ("sr", "stage2-sr") else "replicate"


def weights_dir() -> Path:
    """The package's ``weights`` folder (registry and bundled files)."""
    return Path(str(resources.files("edvr_cli") / "weights"))


@dataclass(frozen=True)
class Source:
    """One place a checkpoint can be downloaded from.

    Args:
        kind: ``hf`` (a Hugging Face Hub repository), ``url`` (direct HTTPS) or ``gdrive`` (Google Drive file id).
        url: for ``url``.
        id: for ``gdrive``.
        repo: for ``hf``, the repository (required in the registry: there is no default mirror; a mirror
            named with ``EDVR_HF_REPO`` / ``--hf-repo`` is tried first without being listed here).
        filename: for ``hf``, the file in the repository (default: the entry's original file name).
        revision: for ``hf``, branch, tag or commit (default ``main``).
    """

    kind: str
    url: str | None = None
    id: str | None = None
    repo: str | None = None
    filename: str | None = None
    revision: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        kind = data.get("kind")
        if kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {kind!r} (expected one of {', '.join(SOURCE_KINDS)})")
        src = cls(
            kind=str(kind),
            url=data.get("url"),
            id=data.get("id"),
            repo=data.get("repo"),
            filename=data.get("filename"),
            revision=data.get("revision"),
        )
        if kind == "url" and not (src.url and src.url.startswith(("https://", "http://"))):
            raise ValueError(f"url source needs an http(s) 'url', got {src.url!r}")
        if kind == "gdrive" and not src.id:
            raise ValueError("gdrive source needs an 'id'")
        if kind == "hf" and not src.repo:
            raise ValueError("hf source needs a 'repo' (there is no default Hugging Face mirror)")
        return src

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Score:
    """A published result: PSNR (dB) / SSIM on a test set, on RGB or the Y channel."""

    dataset: str
    psnr: float
    ssim: float | None = None
    channel: str = "RGB"

    def short(self) -> str:
        channel = "-Y" if self.channel == "Y" else ""
        return f"{self.dataset}{channel} {self.psnr:.2f}"

    def long(self) -> str:
        ssim = f"/{self.ssim:.4f}" if self.ssim is not None else ""
        return f"{self.dataset} {self.channel} PSNR/SSIM {self.psnr:.2f}{ssim}"


@dataclass(frozen=True)
class ModelEntry:
    """A published model.

    Args:
        name: registry name (what users type).
        task: one of ``TASKS``.
        scale: output size / input size (4 for SR, 1 for deblurring and stage 2).
        frames: input frames per output frame.
        padding: default temporal edge padding (see ``default_padding``).
        config: the architecture's hyper-parameters (BasicSR argument names).
        params: number of parameters.
        scores: published results.
        sha256: the file's SHA-256, full or its leading hex digits; None when unknown.
        file: original file name.
        naming: key naming inside the file (``basicsr``, ``original``, ``mmagic``).
        sources: download sources, tried in order; empty: import-only.
        bundled: file shipped in the package's ``weights`` folder (no download).
        stage1: for a stage-2 model, the stage-1 model it refines.
        origin: where the weights come from, in words.
    """

    name: str
    task: str
    scale: int
    frames: int
    padding: str
    config: dict[str, Any] = field(default_factory=dict)
    params: int | None = None
    scores: tuple[Score, ...] = ()
    sha256: str | None = None
    file: str | None = None
    naming: str | None = None
    sources: tuple[Source, ...] = ()
    bundled: str | None = None
    stage1: str | None = None
    origin: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelEntry:
        try:
            name = check_model_name(data.get("name"))
        except ModelNameError as exc:
            raise ValueError(str(exc)) from None
        try:
            task = data["task"]
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}")
            sha = data.get("sha256")
            if sha is not None:
                sha = sha.lower()
                if not _HEX.match(sha):
                    raise ValueError(f"sha256 must be 8 to 64 hex digits, got {sha!r}")
            padding = data.get("padding") or default_padding(task)
            if padding not in PADDINGS:
                raise ValueError(f"unknown padding {padding!r}")
            naming = data.get("naming")
            if naming is not None and naming not in NAMINGS:
                raise ValueError(f"unknown naming {naming!r}")
            bundled = data.get("bundled")
            if bundled is not None and (Path(bundled).is_absolute() or ".." in Path(bundled).parts):
                raise ValueError(f"bundled must be a path inside the weights folder, got {bundled!r}")
            entry = cls(
                name=name,
                task=task,
                scale=int(data["scale"]),
                frames=int(data["frames"]),
                padding=padding,
                config=dict(data.get("config") or {}),
                params=data.get("params"),
                scores=tuple(Score(**s) for s in data.get("scores") or ()),
                sha256=sha,
                file=data.get("file"),
                naming=naming,
                sources=tuple(Source.from_dict(s) for s in data.get("sources") or ()),
                bundled=bundled,
                stage1=data.get("stage1"),
                origin=data.get("origin", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"registry entry {name}: {exc}") from exc
        hf_sources = [s for s in entry.sources if s.kind == "hf"]
        if hf_sources and not entry.file and not all(s.filename for s in hf_sources):
            raise ValueError(f"registry entry {name}: an hf source needs a file name")
        if entry.sources and not entry.sha256:
            raise ValueError(f"registry entry {name}: a downloadable model needs a sha256 to verify")
        return entry

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "scale": self.scale,
            "frames": self.frames,
            "padding": self.padding,
            "config": dict(self.config),
            "params": self.params,
            "scores": [dict(s.__dict__) for s in self.scores],
            "sha256": self.sha256,
            "file": self.file,
            "naming": self.naming,
            "sources": [s.to_dict() for s in self.sources],
            "origin": self.origin,
        }
        if self.bundled:
            data["bundled"] = self.bundled
        if self.stage1:
            data["stage1"] = self.stage1
        return data

    @property
    def downloadable(self) -> bool:
        return bool(self.sources)

    @property
    def import_only(self) -> bool:
        return not self.sources and not self.bundled

    def bundled_path(self) -> Path | None:
        return weights_dir() / self.bundled if self.bundled else None

    def matches_sha256(self, digest: str) -> bool:
        """Whether a full hex digest agrees with the registry's (full or prefix) hash."""
        return self.sha256 is not None and digest.lower().startswith(self.sha256)


class Registry:
    """An ordered, name-indexed collection of ``ModelEntry``."""

    def __init__(self, entries: Iterable[ModelEntry]):
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.name.lower() in (n.lower() for n in self._entries):
                raise ValueError(f"duplicate model name {entry.name!r} in the registry")
            self._entries[entry.name] = entry

    @classmethod
    def from_json(cls, data: dict[str, Any] | list[Any]) -> Registry:
        models = data["models"] if isinstance(data, dict) else data
        return cls(ModelEntry.from_dict(m) for m in models)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Registry:
        """Read a registry file (default: the one shipped with the package)."""
        path = Path(path) if path is not None else weights_dir() / "registry.json"
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))

    def to_json(self) -> dict[str, Any]:
        return {"schema": 1, "models": [e.to_dict() for e in self]}

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> ModelEntry | None:
        """Exact name, else a case-insensitive match."""
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        folded = name.lower()
        for key, entry in self._entries.items():
            if key.lower() == folded:
                return entry
        return None

    def by_sha256(self, digest: str) -> ModelEntry | None:
        """The entry whose published hash (full or prefix) the full hex ``digest`` agrees with."""
        for entry in self:
            if entry.matches_sha256(digest):
                return entry
        return None

    def by_file_name(self, file_name: str) -> ModelEntry | None:
        """The entry published under this original file name."""
        for entry in self:
            if entry.file and entry.file == file_name:
                return entry
        return None

    def stage2_for(self, name: str) -> ModelEntry | None:
        """The stage-2 model refining the stage-1 model ``name``, if one is published."""
        for entry in self:
            if entry.stage1 == name:
                return entry
        return None

    def replace(self, entry: ModelEntry) -> Registry:
        """A copy with ``entry`` replacing (or added after) the entry of the same name."""
        entries = [entry if e.name == entry.name else e for e in self]
        if entry.name not in self._entries:
            entries.append(entry)
        return Registry(entries)


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names resembling ``name`` (case-insensitive), best first."""
    candidates = list(dict.fromkeys(candidates))
    folded = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(folded), n=n, cutoff=0.5)
    result = [folded[h] for h in hits]
    if len(result) < n:  # also suggest names containing what was typed (``edvr_l`` -> EDVR_L_...)
        for c in candidates:
            if len(name) >= 3 and name.lower() in c.lower() and c not in result:
                result.append(c)
                if len(result) == n:
                    break
    return result


_default: Registry | None = None


def default_registry() -> Registry:
    """The shipped registry (read once)."""
    global _default
    if _default is None:
        _default = Registry.load()
    return _default
