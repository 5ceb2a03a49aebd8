"""Downloading checkpoints: sources tried in order, resumable streaming, SHA-256 verification.

A source is first *connected* (no disk writes: an unreachable network leaves nothing behind), then,
under a file lock on the target, streamed into ``<file>.incomplete`` beside the target: resumed with
an HTTP ``Range`` header after an interruption (a rerun, or a dropped connection retried a few times),
checked against the published SHA-256 and only then renamed into place. Sources:

- ``hf``: the Hugging Face Hub mirror, through ``huggingface_hub.hf_hub_download`` (its cache, its
  ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` conventions);
- ``url``: a direct HTTP(S) URL (MMagic's checkpoints);
- ``gdrive``: a Google Drive file id, including Drive's HTML confirmation page for large files.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Callable, TypeVar

from filelock import FileLock

from edvr_cli import __version__

from edvr_cli import env as constants
from edvr_cli.errors import ChecksumError, DownloadError, OfflineError
from edvr_cli.zoo.registry import ModelEntry, Source

CHUNK_SIZE = 1 << 20
RETRIES = 3  # consecutive attempts that bring no new bytes before a source is given up
MAX_ATTEMPTS = 30  # hard bound on attempts per source, whatever the progress
RETRY_WAIT = 1.0  # seconds before retry n is n * RETRY_WAIT
MAX_PAGE_BYTES = 2 << 20  # an HTML page larger than this is not a confirmation page
USER_AGENT = f"edvr-cli/{__version__}"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------------
# Hashes


def sha256_file(path: str | Path) -> str:
    """Full hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            h.update(block)
    return h.hexdigest()


def hash_matches(digest: str, expected: str | None) -> bool:
    """Whether a full digest agrees with an expected full hash or hash prefix (None: nothing to check)."""
    return expected is None or digest.lower().startswith(expected.lower())


# ----------------------------------------------------------------------------------------------------
# Failures of one source (internal); ``download_entry`` turns them into one of our errors.


class SourceFailure(Exception):
    """One source did not deliver a verified file.

    Args:
        label: the source, in words (named in the final error).
        reason: what went wrong.
        unreachable: the host could not be reached at all (no network, DNS failure, refused).
        checksum: the source served a file whose hash is wrong.
        transient: worth retrying (timeout, reset connection, HTTP 408/429/5xx).
    """

    def __init__(
        self,
        label: str,
        reason: str,
        *,
        unreachable: bool = False,
        checksum: bool = False,
        transient: bool = False,
    ):
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason
        self.unreachable = unreachable
        self.checksum = checksum
        self.transient = transient


_UNREACHABLE_ERRNOS = {101, 111, 113, 10051, 10061, 10065}  # ENETUNREACH, ECONNREFUSED, EHOSTUNREACH (+ WSA)


def _is_unreachable(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
        return True
    return isinstance(reason, OSError) and getattr(reason, "errno", None) in _UNREACHABLE_ERRNOS


_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in _TRANSIENT_STATUS
    reason = getattr(exc, "reason", exc)
    return isinstance(
        reason, (TimeoutError, socket.timeout, ConnectionResetError, ConnectionAbortedError, http.client.HTTPException)
    )


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no data for {timeout:g} s (timed out)"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror or reason})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    text = str(reason).strip() or type(reason).__name__
    return text.splitlines()[0]


# ----------------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A rich progress bar with size and speed on a terminal; silent otherwise."""

    def __init__(self, label: str, quiet: bool):
        self._label = label
        self._enabled = False
        self._progress = None
        self._task = None
        if not quiet:
            from rich.console import Console

            console = Console(stderr=True)
            self._enabled = console.is_terminal
            self._console = console

    def __enter__(self) -> "_Progress":
        if self._enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self._label, total=None)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def start(self, total: int | None, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total, completed=completed)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)


class _SilentTqdm:
    """What huggingface_hub accepts as ``tqdm_class`` to show nothing."""

    def __init__(self, *args: object, **kwargs: object):
        pass

    def __enter__(self) -> "_SilentTqdm":
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def update(self, n: float | None = 1) -> None:
        pass

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------------
# HTTP: opening a response at a byte offset


def _opener() -> tuple[urllib.request.OpenerDirector, CookieJar]:
    jar = CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _request(url: str, start: int) -> urllib.request.Request:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.Request(url, headers=headers)


def _is_html(response: http.client.HTTPResponse) -> bool:
    return (response.headers.get("Content-Type") or "").lower().startswith("text/html")


class _RangeDone(Exception):
    """HTTP 416: the server has nothing after the requested offset (the partial file may be complete)."""


def _open(opener: urllib.request.OpenerDirector, url: str, start: int, timeout: float, label: str):
    try:
        return opener.open(_request(url, start), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and start > 0:
            raise _RangeDone() from None
        raise SourceFailure(label, _describe(exc, timeout), transient=_is_transient(exc)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        unreachable = _is_unreachable(exc)
        raise SourceFailure(
            label, _describe(exc, timeout), unreachable=unreachable, transient=not unreachable and _is_transient(exc)
        ) from None


def open_url(url: str, label: str, timeout: float) -> Callable[[int], http.client.HTTPResponse]:
    """A function opening ``url`` at a byte offset; an HTML answer is a failure (not a checkpoint)."""
    opener, _ = _opener()

    def open_at(start: int) -> http.client.HTTPResponse:
        response = _open(opener, url, start, timeout, label)
        if _is_html(response):
            response.close()
            raise SourceFailure(label, "the server answered with an HTML page, not the checkpoint")
        return response

    return open_at


class _FormParser(HTMLParser):
    """Collects the forms of a page: action, id and hidden inputs (Drive's confirmation form)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = {"id": a.get("id", ""), "action": a.get("action", ""), "inputs": []}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            if a.get("type", "text").lower() in ("hidden", "text"):
                self._current["inputs"].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def gdrive_confirmation_url(page: str, page_url: str, file_id: str, jar: CookieJar | None = None) -> str:
    """The URL that Drive's "can't scan this file for viruses" page leads to.

    Understands, in order: the download form (action + hidden ``id``/``export``/``confirm``/``uuid``),
    a link carrying a ``confirm=`` token, a ``confirm=`` token anywhere in the page, and the
    ``download_warning`` cookie. Raises ``SourceFailure`` with Drive's own message otherwise.
    """
    label = f"Google Drive file {file_id}"
    parser = _FormParser()
    try:
        parser.feed(page)
    except Exception:  # a malformed page: fall through to the regular expressions
        pass
    forms = [f for f in parser.forms if f["id"] == "download-form"] or [
        f for f in parser.forms if any(name in ("confirm", "id") for name, _ in f["inputs"])
    ]
    for form in forms:
        action = urllib.parse.urljoin(page_url, form["action"] or page_url)
        query = urllib.parse.urlencode(form["inputs"])
        return action + ("&" if "?" in action else "?") + query if query else action
    base = constants.gdrive_url()
    for href in re.findall(r'href="([^"]*confirm=[^"]*)"', page):
        return urllib.parse.urljoin(page_url, html.unescape(href))
    token = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    if token is None and jar is not None:
        for cookie in jar:
            if cookie.name.startswith("download_warning"):
                token = re.match(r"(.+)", cookie.value)
                break
    if token is not None:
        query = urllib.parse.urlencode({"export": "download", "confirm": token.group(1), "id": file_id})
        return f"{base}?{query}"
    error = re.search(r'class="uc-error-subcaption"[^>]*>(.*?)</', page, re.S)
    if error:
        message = " ".join(html.unescape(re.sub(r"<[^>]+>", "", error.group(1))).split())
        raise SourceFailure(label, f"Google Drive says: {message}")
    raise SourceFailure(
        label,
        "Google Drive answered with a page instead of the file (not shared publicly, or its download quota"
        " is exhausted for now; try again later)",
    )


def open_gdrive(file_id: str, label: str, timeout: float) -> Callable[[int], http.client.HTTPResponse]:
    """A function opening a Drive file at a byte offset, walking through the confirmation page."""
    opener, jar = _opener()
    query = urllib.parse.urlencode({"export": "download", "id": file_id})
    first_url = f"{constants.gdrive_url()}?{query}"
    resolved: list[str] = []  # the file's final URL once known: resumed requests go straight there

    def open_at(start: int) -> http.client.HTTPResponse:
        url = resolved[0] if resolved else first_url
        for _ in range(4):  # the page, its confirmation, at most two more hops
            response = _open(opener, url, start, timeout, label)
            if not _is_html(response):
                resolved[:] = [response.geturl()]
                return response
            try:
                page = response.read(MAX_PAGE_BYTES).decode("utf-8", errors="replace")
                page_url = response.geturl()
            except (OSError, http.client.HTTPException) as exc:
                raise SourceFailure(label, _describe(exc, timeout), transient=_is_transient(exc)) from None
            finally:
                response.close()
            url = gdrive_confirmation_url(page, page_url, file_id, jar)
        raise SourceFailure(label, "Google Drive kept answering with confirmation pages")

    return open_at


# ----------------------------------------------------------------------------------------------------
# Streaming into the partial file, with resume


def _content_range(response: http.client.HTTPResponse) -> tuple[int | None, int | None]:
    """(first byte, total size) of a 206 answer."""
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range") or "")
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != "*" else None)


def stream_to_file(
    open_at: Callable[[int], http.client.HTTPResponse],
    partial: Path,
    *,
    label: str,
    timeout: float,
    progress: _Progress,
    first: http.client.HTTPResponse | None = None,
    first_start: int = 0,
) -> None:
    """Download into ``partial``, appending to what it holds, until the server's size is reached.

    A dropped or stalled connection (or a transient HTTP error) is reopened from the current size with
    ``Range``; ``RETRIES`` consecutive attempts without new bytes, or ``MAX_ATTEMPTS`` in all, give up
    with ``SourceFailure``. ``first`` is an already-open response for offset ``first_start``.
    """
    response = first
    if response is not None and first_start != (partial.stat().st_size if partial.exists() else 0):
        response.close()  # the partial file changed since we connected: ask again
        response = None
    stalled = 0
    attempt = 0
    last_error = "connection closed early"
    while attempt < MAX_ATTEMPTS and stalled < RETRIES:
        attempt += 1
        if attempt > 1:
            time.sleep(RETRY_WAIT * min(attempt - 1, 5))
        size = partial.stat().st_size if partial.exists() else 0
        try:
            if response is None:
                response = open_at(size)
            if response.status == 206 and _content_range(response)[0] != size:
                response.close()  # not the range we asked for: start over without one
                response = None
                size = 0
                response = open_at(0)
        except _RangeDone:
            return  # nothing after our offset: the caller checks the hash
        except SourceFailure as failure:
            if not failure.transient:
                raise
            last_error, stalled, response = failure.reason, stalled + 1, None
            continue
        if response.status == 206:
            total = _content_range(response)[1]
        else:
            size = 0  # 200: the server ignored Range (or there was nothing to resume): from the start
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        progress.start(total, size)
        error: str | None = None
        with open(partial, "r+b" if size else "wb") as f:
            f.seek(size)
            f.truncate()
            try:
                while True:
                    block = response.read(CHUNK_SIZE)
                    if not block:
                        break
                    f.write(block)
                    progress.advance(len(block))
            except (OSError, http.client.HTTPException) as exc:
                error = _describe(exc, timeout)
            finally:
                response.close()
                response = None
        new_size = partial.stat().st_size
        if error is None and (total is None or new_size >= total):
            return
        last_error = error or f"connection closed after {new_size} of {total} bytes"
        stalled = 0 if new_size > size else stalled + 1
    raise SourceFailure(label, f"{last_error}; gave up after {attempt} attempts")


# ----------------------------------------------------------------------------------------------------
# Sources: connect first (no disk writes), then complete under the lock


@dataclass
class Fetched:
    """A verified checkpoint: where it is, who served it, its full SHA-256, and whether it is ours to delete."""

    path: Path
    source: str
    sha256: str
    owned: bool


class _HttpHandle:
    """A ``url`` or ``gdrive`` source with its first response already open."""

    def __init__(self, label: str, open_at: Callable[[int], http.client.HTTPResponse], partial: Path):
        self.label = label
        self.open_at = open_at
        self.start = partial.stat().st_size if partial.exists() else 0
        self.first: http.client.HTTPResponse | None = None
        try:
            self.first = open_at(self.start)
        except _RangeDone:
            pass
        except SourceFailure as failure:
            if not failure.transient:
                raise  # unreachable or refused: nothing written, next source

    def close(self) -> None:
        if self.first is not None:
            self.first.close()
            self.first = None

    def complete(self, target: Path, expected: str | None, timeout: float, quiet: bool) -> Fetched:
        partial = target.with_name(target.name + ".incomplete")
        first, self.first = self.first, None
        if target.exists() and hash_matches(digest := sha256_file(target), expected):
            if first is not None:  # verified earlier, its conversion did not finish
                first.close()
            return Fetched(target, self.label, digest, owned=True)
        for fresh in (False, True):
            resumed = partial.exists() and partial.stat().st_size > 0
            with _Progress(target.name, quiet) as progress:
                stream_to_file(
                    self.open_at,
                    partial,
                    label=self.label,
                    timeout=timeout,
                    progress=progress,
                    first=first,
                    first_start=self.start,
                )
            first = None
            digest = sha256_file(partial)
            if hash_matches(digest, expected):
                os.replace(partial, target)
                return Fetched(target, self.label, digest, owned=True)
            partial.unlink()
            if resumed and not fresh:
                continue  # the earlier partial file may have been the bad part: once more from scratch
            raise SourceFailure(
                self.label,
                f"served a file with SHA-256 {digest[:16]}..., not the published {expected}; deleted it",
                checksum=True,
            )
        raise AssertionError("unreachable")  # pragma: no cover


def _hub_error(label: str, exc: BaseException) -> SourceFailure:
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if names & {"RepositoryNotFoundError", "GatedRepoError"}:
        return SourceFailure(label, "repository not found (or private)")
    if names & {"EntryNotFoundError", "RemoteEntryNotFoundError", "RevisionNotFoundError"}:
        return SourceFailure(label, "file not found in the repository")
    if names & {"ConnectError", "ConnectionError", "NameResolutionError", "OfflineModeIsEnabled"}:
        return SourceFailure(label, f"cannot reach the Hub ({text})", unreachable=True)
    if names & {"TimeoutException", "Timeout", "ReadTimeout", "ConnectTimeout"}:
        return SourceFailure(label, "timed out")
    return SourceFailure(label, text)


class _HubHandle:
    """An ``hf`` source: the file's metadata fetched (or the local Hub cache checked when offline)."""

    def __init__(self, repo: str, filename: str, revision: str | None, timeout: float, local_only: bool):
        self.repo, self.filename, self.revision = repo, filename, revision
        self.endpoint = constants.hf_endpoint()
        self.cache_dir = constants.hf_hub_cache()
        self.timeout = timeout
        self.label = f"Hugging Face Hub {repo}/{filename}"
        self.ready: str | None = None
        if local_only:
            self.ready = self._download(local_only=True, quiet=True)
            return
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(repo, filename, revision=revision, endpoint=self.endpoint)
        try:  # one quick HEAD, no retries: an unreachable Hub is skipped at once
            get_hf_file_metadata(url, timeout=timeout, endpoint=self.endpoint)
        except Exception as exc:
            raise _hub_error(self.label, exc) from None

    def _download(self, local_only: bool, quiet: bool) -> str:
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(
                self.repo,
                self.filename,
                revision=self.revision,
                endpoint=self.endpoint,
                cache_dir=self.cache_dir,
                etag_timeout=self.timeout,
                local_files_only=local_only,
                library_name="edvr-cli",
                library_version=__version__,
                tqdm_class=_SilentTqdm if quiet else None,
            )
        except Exception as exc:
            if local_only:
                raise SourceFailure(self.label, "not in the local Hugging Face cache", unreachable=True) from None
            raise _hub_error(self.label, exc) from None

    def close(self) -> None:
        pass

    def complete(self, target: Path, expected: str | None, timeout: float, quiet: bool) -> Fetched:
        path = self.ready or self._download(local_only=False, quiet=quiet)
        digest = sha256_file(path)
        if not hash_matches(digest, expected):
            blob = os.path.realpath(path)
            for p in {path, blob}:
                try:
                    os.unlink(p)
                except OSError:
                    pass
            raise SourceFailure(
                self.label,
                f"served a file with SHA-256 {digest[:16]}..., not the published {expected}; deleted it",
                checksum=True,
            )
        return Fetched(Path(path), self.label, digest, owned=False)


def source_label(source: Source, entry: ModelEntry, hf_repo: str | None = None) -> str:
    """The source in words, as errors name it."""
    if source.kind == "hf":
        return f"Hugging Face Hub {source.repo or hf_repo or constants.hf_repo()}/{source.filename or entry.file}"
    if source.kind == "gdrive":
        return f"Google Drive file {source.id}"
    return str(source.url)


def source_link(source: Source, entry: ModelEntry, hf_repo: str | None = None) -> str:
    """A URL a person can open in a browser to fetch the file by hand."""
    if source.kind == "hf":
        repo = source.repo or hf_repo or constants.hf_repo()
        endpoint = constants.hf_endpoint() or HF_DEFAULT_ENDPOINT
        return f"{endpoint}/{repo}/resolve/{source.revision or 'main'}/{source.filename or entry.file}"
    if source.kind == "gdrive":
        return f"https://drive.google.com/uc?export=download&id={source.id}"
    return str(source.url)


def _connect(source: Source, entry: ModelEntry, target: Path, hf_repo: str | None, timeout: float, offline: bool):
    label = source_label(source, entry, hf_repo)
    partial = target.with_name(target.name + ".incomplete")
    if source.kind == "hf":
        repo = source.repo or hf_repo or constants.hf_repo()
        local_only = offline or constants.hf_hub_offline()
        return _HubHandle(repo, source.filename or str(entry.file), source.revision, timeout, local_only)
    if offline:
        raise SourceFailure(label, "offline", unreachable=True)
    if source.kind == "gdrive":
        return _HttpHandle(label, open_gdrive(str(source.id), label, timeout), partial)
    return _HttpHandle(label, open_url(str(source.url), label, timeout), partial)


def offline_hint(entry: ModelEntry, hf_repo: str | None = None) -> str:
    """How to get the file by hand."""
    links = ", ".join(source_link(s, entry, hf_repo) for s in entry.sources)
    where = f" (from {links})" if links else ""
    return f"download {entry.file or entry.name}{where} on a connected machine and run: edvr weights import FILE"


def download_entry(
    entry: ModelEntry,
    target: Path,
    *,
    installed: Callable[[], T | None],
    install: Callable[[Fetched], T],
    lock: Path | None = None,
    hf_repo: str | None = None,
    quiet: bool = False,
    timeout: float | None = None,
) -> T:
    """Fetch ``entry`` from its sources in order and hand the verified file to ``install``.

    ``target`` is where the downloaded file goes (its ``.incomplete`` partial file beside it); ``lock``
    (default ``<target>.lock``) is held while fetching and installing. Each source is connected before
    the lock is taken, so an unreachable network writes nothing. Under the lock, ``installed()`` is asked
    first: a non-None answer (another process finished meanwhile) is returned as is. Raises
    ``OfflineError`` (offline, or no source reachable), ``ChecksumError`` (a source served a wrong file)
    or ``DownloadError``.
    """
    if not entry.sources:
        raise DownloadError(f"{entry.name} has no download source; {offline_hint(entry, hf_repo)}")
    timeout = constants.download_timeout() if timeout is None else timeout
    offline = constants.is_offline()
    failures: list[SourceFailure] = []
    for source in entry.sources:
        try:
            handle = _connect(source, entry, target, hf_repo, timeout, offline)
        except SourceFailure as failure:
            failures.append(failure)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(lock or str(target) + ".lock")):
                done = installed()
                if done is not None:
                    return done
                fetched = handle.complete(target, entry.sha256, timeout, quiet)
                result = install(fetched)
                if fetched.owned:
                    fetched.path.unlink(missing_ok=True)
                return result
        except SourceFailure as failure:
            failures.append(failure)
        finally:
            handle.close()
    raise _combined_error(entry, failures, offline, hf_repo)


def _combined_error(entry: ModelEntry, failures: list[SourceFailure], offline: bool, hf_repo: str | None):
    tried = "; ".join(str(f) for f in failures)
    if offline:
        switch = "HF_HUB_OFFLINE" if constants.hf_hub_offline() and "EDVR_OFFLINE" not in os.environ else "EDVR_OFFLINE"
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
