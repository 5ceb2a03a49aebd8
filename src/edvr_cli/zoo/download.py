"""Downloading checkpoints: sources tried in order, each verified by SHA-256, one combined error.

What no library does for us lives here: the order of the sources and the fallback from one to the
next, the file lock that lets one process download while another waits, the SHA-256 check before a
file is used, and the one-line error naming every source tried. The transfers themselves are the
libraries': ``http`` (direct URLs, over huggingface_hub's transport), ``gdrive`` (gdown) and ``hub``
(``hf_hub_download``, only when a mirror repository is named).

A ``url`` source is first *connected* (no disk writes: an unreachable network leaves nothing behind),
then, under the lock, streamed into ``<file>.incomplete`` beside the target, resumed with ``Range``
after an interruption, checked and only then renamed into place.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol, TypeVar

from filelock import FileLock

from edvr_cli import env
from edvr_cli.digest import hash_matches, sha256_file
from edvr_cli.errors import ChecksumError, DownloadError, OfflineError
from edvr_cli.guard.output import move_into_place, remove_path
from edvr_cli.zoo import gdrive, http, hub
from edvr_cli.zoo.failures import Fetched, SourceFailure, checksum_failure
from edvr_cli.zoo.progress import ProgressCallback, progress_display
from edvr_cli.zoo.registry import ModelEntry, Source

T = TypeVar("T")

__all__ = [
    "Fetched",
    "SourceFailure",
    "download_entry",
    "hash_matches",
    "offline_hint",
    "partial_files",
    "sha256_file",
    "source_label",
    "source_link",
    "sources_for",
]


class Handle(Protocol):
    label: str

    def close(self) -> None: ...

    def complete(self, target: Path, expected: str | None, on_progress: ProgressCallback | None) -> Fetched: ...


def sources_for(entry: ModelEntry, hf_repo: str | None = None) -> list[Source]:
    """The sources tried, in order: a named Hugging Face mirror first (``--hf-repo`` / ``EDVR_HF_REPO``;
    none by default), then the registry's upstream sources."""
    repo = hf_repo or env.hf_repo()
    mirror = [Source(kind="hf", repo=repo)] if repo and entry.file else []
    return mirror + [s for s in entry.sources if not (s.kind == "hf" and repo and s.repo == repo and not s.filename)]


def _hf_repo(source: Source, hf_repo: str | None) -> str:
    repo = source.repo or hf_repo or env.hf_repo()
    if not repo:  # the registry requires a repo for its own hf sources
        raise SourceFailure("Hugging Face Hub", "no repository named (--hf-repo or EDVR_HF_REPO)")
    return repo


def source_label(source: Source, entry: ModelEntry, hf_repo: str | None = None) -> str:
    """The source in words, as errors name it."""
    if source.kind == "hf":
        repo = source.repo or hf_repo or env.hf_repo() or "?"
        return hub.label_for(repo, source.filename or str(entry.file))
    if source.kind == "gdrive":
        return gdrive.label_for(str(source.id))
    return str(source.url)


def source_link(source: Source, entry: ModelEntry, hf_repo: str | None = None) -> str:
    """A URL a person can open in a browser to fetch the file by hand."""
    if source.kind == "hf":
        repo = source.repo or hf_repo or env.hf_repo() or "?"
        return hub.browser_link(repo, source.filename or str(entry.file), source.revision)
    if source.kind == "gdrive":
        return gdrive.browser_link(str(source.id))
    return str(source.url)


def partial_files(target: Path) -> list[Path]:
    """Leftovers of an unfinished download of ``target``: our partial file, gdown's, the verified file."""
    partial = target.with_name(target.name + ".incomplete")
    found = [p for p in (partial, target) if p.is_file()]
    return found + gdrive.part_files(partial)


# ----------------------------------------------------------------------------------------------------
# Sources: connect (no disk writes where the transport allows it), then complete under the lock


class _UrlHandle:
    """A ``url`` source with its first response already open."""

    def __init__(self, url: str, label: str, partial: Path, timeout: float) -> None:
        self.url, self.label, self.timeout = url, label, timeout
        self.start = partial.stat().st_size if partial.exists() else 0
        self.first: http.Opened | None = None
        try:
            self.first = http.open_at(url, self.start, label=label, timeout=timeout)
        except http.RangeDone:
            pass
        except SourceFailure as failure:
            if not failure.transient:
                raise  # unreachable or refused: nothing written, next source

    def close(self) -> None:
        if self.first is not None:
            self.first.close()
            self.first = None

    def complete(self, target: Path, expected: str | None, on_progress: ProgressCallback | None) -> Fetched:
        partial = target.with_name(target.name + ".incomplete")
        first, self.first = self.first, None
        if target.exists() and hash_matches(digest := sha256_file(target), expected):
            if first is not None:  # verified earlier, its conversion did not finish
                first.close()
            return Fetched(target, self.label, digest, owned=True)
        for fresh in (False, True):
            resumed = partial.exists() and partial.stat().st_size > 0
            http.stream_to_file(
                self.url,
                partial,
                label=self.label,
                timeout=self.timeout,
                on_progress=on_progress,
                first=first,
                first_start=self.start,
            )
            first = None
            fetched, digest = _place_if_verified(partial, target, self.label, expected)
            if fetched is not None:
                return fetched
            if resumed and not fresh:
                continue  # the earlier partial file may have been the bad part: once more from scratch
            raise checksum_failure(self.label, digest, expected)
        raise AssertionError("unreachable")  # pragma: no cover


def _place_if_verified(partial: Path, target: Path, label: str, expected: str | None) -> tuple[Fetched | None, str]:
    """Rename a downloaded file onto ``target`` when its hash is the expected one; else delete it.

    Returns the fetched file (None when the hash did not match) and the file's SHA-256.
    """
    digest = sha256_file(partial)
    if hash_matches(digest, expected):
        move_into_place(partial, target, overwrite=True)  # the guard: never onto a folder, device or FIFO
        return Fetched(target, label, digest, owned=True), digest
    remove_path(partial)
    return None, digest


class _DriveHandle:
    """A ``gdrive`` source: gdown connects and downloads in one call, under the lock."""

    def __init__(self, file_id: str, timeout: float) -> None:
        self.file_id, self.timeout = file_id, timeout
        self.label = gdrive.label_for(file_id)

    def close(self) -> None:
        pass

    def complete(self, target: Path, expected: str | None, on_progress: ProgressCallback | None) -> Fetched:
        if target.exists() and hash_matches(digest := sha256_file(target), expected):
            return Fetched(target, self.label, digest, owned=True)  # verified earlier, not converted
        partial = target.with_name(target.name + ".incomplete")
        for fresh in (False, True):
            resumed = partial.exists() or bool(gdrive.part_files(partial))
            gdrive.fetch(self.file_id, partial, timeout=self.timeout, on_progress=on_progress)
            fetched, digest = _place_if_verified(partial, target, self.label, expected)
            if fetched is not None:
                return fetched
            if resumed and not fresh:
                continue
            raise checksum_failure(self.label, digest, expected)
        raise AssertionError("unreachable")  # pragma: no cover


def _connect(
    source: Source, entry: ModelEntry, target: Path, hf_repo: str | None, timeout: float, offline: bool
) -> Handle:
    label = source_label(source, entry, hf_repo)
    if source.kind == "hf":
        local_only = offline or env.hf_hub_offline()
        return hub.HubSource(
            _hf_repo(source, hf_repo), source.filename or str(entry.file), source.revision, timeout, local_only
        )
    if offline:
        raise SourceFailure(label, "offline", unreachable=True)
    if source.kind == "gdrive":
        return _DriveHandle(str(source.id), timeout)
    return _UrlHandle(str(source.url), label, target.with_name(target.name + ".incomplete"), timeout)


def offline_hint(entry: ModelEntry, hf_repo: str | None = None) -> str:
    """How to get the file by hand."""
    links = ", ".join(source_link(s, entry, hf_repo) for s in sources_for(entry, hf_repo))
    where = f" (from {links})" if links else ""
    return f"download {entry.file or entry.name}{where} on a connected machine and run: edvr weights import FILE"


def download_entry(
    entry: ModelEntry,
    target: Path,
    *,
    installed: Callable[[], T | None],
    install: Callable[[Fetched], T],
    lock: Callable[[], AbstractContextManager[object]] | None = None,
    prepare: Callable[[], object] | None = None,
    hf_repo: str | None = None,
    quiet: bool = False,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> T:
    """Fetch ``entry`` from its sources in order and hand the verified file to ``install``.

    ``target`` is where the downloaded file goes (its partial file beside it); ``lock()`` gives the
    lock held while fetching and installing (default: a FileLock on ``<target>.lock``); ``prepare()``
    (default: create ``target``'s folder) runs before it is first taken. Each ``url``
    source is connected before that, so an unreachable server writes nothing. Under the lock,
    ``installed()`` is asked first: a non-None answer (another process finished meanwhile) is returned
    as is. Progress goes to ``on_progress``, else (unless ``quiet``) to the shared progress bar.
    Raises ``OfflineError`` (offline, or no source reachable), ``ChecksumError`` (a source served a
    wrong file) or ``DownloadError``.
    """
    sources = sources_for(entry, hf_repo)
    if not sources:
        raise DownloadError(f"{entry.name} has no download source; {offline_hint(entry, hf_repo)}")
    timeout = env.download_timeout() if timeout is None else timeout
    offline = env.is_offline()
    failures: list[SourceFailure] = []
    for source in sources:
        try:
            handle = _connect(source, entry, target, hf_repo, timeout, offline)
        except SourceFailure as failure:
            failures.append(failure)
            continue
        try:
            if prepare is not None:
                prepare()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
            guard = lock() if lock is not None else FileLock(str(target) + ".lock")
            with guard:
                done = installed()
                if done is not None:
                    return done
                shown = nullcontext(on_progress) if on_progress is not None else progress_display(target.name, quiet)
                with shown as callback:
                    fetched = handle.complete(target, entry.sha256, callback)
                result = install(fetched)
                if fetched.owned:
                    remove_path(fetched.path)
                return result
        except SourceFailure as failure:
            failures.append(failure)
        finally:
            handle.close()
    raise _combined_error(entry, failures, offline, hf_repo)


def _combined_error(
    entry: ModelEntry, failures: list[SourceFailure], offline: bool, hf_repo: str | None
) -> DownloadError:
    tried = "; ".join(str(f) for f in failures)
    if offline:
        switch = "HF_HUB_OFFLINE" if env.hf_hub_offline() and not env.edvr_offline_set() else "EDVR_OFFLINE"
        return OfflineError(
            f"{entry.name} is not downloaded and the network is off ({switch}=1); {offline_hint(entry, hf_repo)}"
        )
    if any(f.checksum for f in failures):
        return ChecksumError(f"{entry.name}: no source served the published file ({tried})")
    if failures and all(f.unreachable for f in failures):
        return OfflineError(
            f"cannot reach any source of {entry.name} (no network?): {tried}. {offline_hint(entry, hf_repo)}"
        )
    return DownloadError(f"could not download {entry.name}: {tried}")
