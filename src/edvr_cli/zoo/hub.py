"""A Hugging Face Hub mirror, used only when one is named (``EDVR_HF_REPO`` or ``--hf-repo``).

``hf_hub_download`` does the work (its cache, ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE``, its retries);
its errors are caught by class. A quick metadata request first tells an unreachable or missing
mirror apart before any lock is taken.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edvr_cli import __version__, env
from edvr_cli.digest import hash_matches, sha256_file
from edvr_cli.guard.output import remove_path
from edvr_cli.zoo.failures import (
    Fetched,
    SourceFailure,
    checksum_failure,
    first_text_line,
)
from edvr_cli.zoo.progress import ProgressCallback

HF_DEFAULT_ENDPOINT = "https://huggingface.co"


def label_for(repo: str, filename: str) -> str:
    return f"Hugging Face Hub {repo}/{filename}"


def browser_link(repo: str, filename: str, revision: str | None) -> str:
    endpoint = env.hf_endpoint() or HF_DEFAULT_ENDPOINT
    return f"{endpoint}/{repo}/resolve/{revision or 'main'}/{filename}"


def _failure(label: str, exc: BaseException) -> SourceFailure:
    import httpx2
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return SourceFailure(label, "the repository is gated (request access on the Hub, then log in)")
    if isinstance(exc, RepositoryNotFoundError):
        return SourceFailure(label, "repository not found (or private)")
    if isinstance(exc, RevisionNotFoundError):
        return SourceFailure(label, "revision not found in the repository")
    if isinstance(exc, LocalEntryNotFoundError):
        return SourceFailure(label, "not in the local Hugging Face cache", unreachable=True)
    if isinstance(exc, EntryNotFoundError):
        return SourceFailure(label, "file not found in the repository")
    if isinstance(exc, OfflineModeIsEnabled):
        return SourceFailure(label, "huggingface_hub's offline mode is on (HF_HUB_OFFLINE)", unreachable=True)
    if isinstance(exc, httpx2.ConnectError):
        return SourceFailure(label, f"cannot reach the Hub ({first_text_line(exc)})", unreachable=True)
    if isinstance(exc, httpx2.TimeoutException):
        return SourceFailure(label, "timed out")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return SourceFailure(label, f"HTTP {exc.response.status_code} {exc.response.reason_phrase}".strip())
    return SourceFailure(label, first_text_line(exc))


def _errors() -> tuple[type[BaseException], ...]:
    """The exception classes huggingface_hub's download functions raise for a failed download."""
    import httpx2
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
    )

    return (HfHubHTTPError, EntryNotFoundError, OfflineModeIsEnabled, httpx2.HTTPError, OSError, ValueError)


def _tqdm_for(on_progress: ProgressCallback | None) -> Any:
    """A tqdm class that draws nothing and forwards the byte count to ``on_progress``."""
    from tqdm.std import tqdm

    class Forward(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            self._done = int(kwargs.get("initial") or 0)
            self._total = kwargs.get("total")
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            if on_progress is not None:
                on_progress(self._done, int(self._total) if self._total else None)
            return None

    return Forward


class HubSource:
    """The file's metadata fetched (or the local Hub cache checked when offline); ``complete`` downloads."""

    def __init__(self, repo: str, filename: str, revision: str | None, timeout: float, local_only: bool) -> None:
        self.repo, self.filename, self.revision = repo, filename, revision
        self.endpoint = env.hf_endpoint()
        self.cache_dir = env.hf_hub_cache()
        self.timeout = timeout
        self.label = label_for(repo, filename)
        self.ready: str | None = None
        if local_only:
            self.ready = self._download(local_only=True, on_progress=None)
            return
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(repo, filename, revision=revision, endpoint=self.endpoint)
        try:  # one quick HEAD: an unreachable or missing mirror is skipped at once
            get_hf_file_metadata(url, timeout=timeout, endpoint=self.endpoint)
        except _errors() as exc:
            raise _failure(self.label, exc) from None

    def _download(self, *, local_only: bool, on_progress: ProgressCallback | None) -> str:
        from huggingface_hub import hf_hub_download

        try:
            return str(
                hf_hub_download(
                    self.repo,
                    self.filename,
                    revision=self.revision,
                    endpoint=self.endpoint,
                    cache_dir=self.cache_dir,
                    etag_timeout=self.timeout,
                    local_files_only=local_only,
                    library_name="edvr-cli",
                    library_version=__version__,
                    tqdm_class=_tqdm_for(on_progress),
                )
            )
        except _errors() as exc:
            if local_only:
                raise SourceFailure(self.label, "not in the local Hugging Face cache", unreachable=True) from None
            raise _failure(self.label, exc) from None

    def close(self) -> None:
        pass

    def complete(self, target: Path, expected: str | None, on_progress: ProgressCallback | None) -> Fetched:
        path = self.ready or self._download(local_only=False, on_progress=on_progress)
        digest = sha256_file(path)
        if not hash_matches(digest, expected):
            blob = os.path.realpath(path)
            for p in {path, blob}:  # huggingface_hub's link and blob: the next try fetches it afresh
                try:
                    remove_path(Path(p))
                except OSError:
                    pass
            raise checksum_failure(self.label, digest, expected)
        return Fetched(Path(path), self.label, digest, owned=False)
