"""Direct HTTP(S) sources (MMagic's checkpoints, a mirror URL), over huggingface_hub's transport.

Requests go through ``huggingface_hub.utils.http_stream_backoff`` (its shared ``httpx2`` client from
``get_session``, its retries with exponential back-off on 408/429/5xx and on transient network
errors) and ``hf_raise_for_status`` (its error classes, caught by class). What the Hub's helpers do
not do for an arbitrary URL, and this module does: honour ``EDVR_DOWNLOAD_TIMEOUT`` per request (
``http_get`` reads one global timeout at import), fail at once on a refused connection (``http_get``
retries it five times, one second apart), refuse an HTML page, and resume into *our* partial file
after a dropped connection with ``Range`` (also across runs), checking the ``Content-Range`` answer.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from edvr_cli import __version__
from edvr_cli.zoo.failures import SourceFailure, first_text_line
from edvr_cli.zoo.progress import ProgressCallback

if TYPE_CHECKING:
    import httpx2

CHUNK_SIZE = 1 << 20
RETRIES = 3  # consecutive attempts that bring no new bytes before a source is given up
MAX_ATTEMPTS = 30  # hard bound on attempts per source, whatever the progress
MIN_PROGRESS = 1 << 16  # an attempt bringing fewer new bytes than this counts as stalled
RETRY_WAIT = 1.0  # first back-off wait in seconds (doubling, at most 8 s)
USER_AGENT = f"edvr-cli/{__version__}"
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


class RangeDone(Exception):
    """HTTP 416: the server has nothing after the requested offset (the partial file may be complete)."""


def _describe(exc: BaseException, timeout: float) -> tuple[str, bool, bool]:
    """(reason, unreachable, transient) for a transport or HTTP error, by class."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, HfHubHTTPError):
        response = exc.response
        code = response.status_code if response is not None else None
        phrase = response.reason_phrase if response is not None else ""
        reason = f"HTTP {code} {phrase}".strip() if code else first_text_line(exc)
        return reason, False, code in TRANSIENT_STATUS
    if isinstance(exc, OfflineModeIsEnabled):
        return "huggingface_hub's offline mode is on (HF_HUB_OFFLINE)", True, False
    if isinstance(exc, httpx2.TimeoutException):
        return f"no data for {timeout:g} s (timed out)", isinstance(exc, httpx2.ConnectTimeout), True
    if isinstance(exc, httpx2.ConnectError):
        text = first_text_line(exc)
        if "refused" in text.lower():
            text = "connection refused"
        return text, True, False
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError)):
        return first_text_line(exc), False, True
    return first_text_line(exc), False, False


def _content_range(response: httpx2.Response) -> tuple[int | None, int | None]:
    """(first byte, total size) of a 206 answer."""
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range") or "")
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != "*" else None)


class Opened:
    """An open streaming response and the stack that closes it."""

    def __init__(self, response: httpx2.Response, stack: ExitStack) -> None:
        self.response = response
        self._stack = stack

    def close(self) -> None:
        self._stack.close()


def open_at(url: str, start: int, *, label: str, timeout: float, retries: int = RETRIES - 1) -> Opened:
    """GET ``url`` from byte ``start`` through huggingface_hub's retrying transport (``retries`` more tries).

    Raises ``RangeDone`` (416 after a non-zero offset) or ``SourceFailure``; an HTML answer is a failure.
    """
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    stack = ExitStack()
    try:
        response = stack.enter_context(
            http_stream_backoff(
                "GET",
                url,
                headers=headers,
                timeout=timeout,
                max_retries=retries,
                base_wait_time=RETRY_WAIT,
                max_wait_time=8 * RETRY_WAIT,
                # a refused connection is not retried: no network fails at once
                retry_on_exceptions=(httpx2.TimeoutException, httpx2.RemoteProtocolError, httpx2.ReadError),
                retry_on_status_codes=TRANSIENT_STATUS,
            )
        )
        if response.status_code == 416 and start > 0:
            raise RangeDone()
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
    except RangeDone:
        stack.close()
        raise
    except (httpx2.HTTPError, HfHubHTTPError, OfflineModeIsEnabled) as exc:
        stack.close()
        reason, unreachable, transient = _describe(exc, timeout)
        raise SourceFailure(label, reason, unreachable=unreachable, transient=transient) from None
    except BaseException:
        stack.close()
        raise
    if (response.headers.get("Content-Type") or "").lower().startswith("text/html"):
        stack.close()
        raise SourceFailure(label, "the server answered with an HTML page, not the checkpoint")
    return Opened(response, stack)


def stream_to_file(
    url: str,
    partial: Path,
    *,
    label: str,
    timeout: float,
    on_progress: ProgressCallback | None,
    first: Opened | None = None,
    first_start: int = 0,
) -> None:
    """Download into ``partial``, appending to what it holds, until the server's size is reached.

    A dropped or stalled connection (or a transient HTTP error) is reopened from the current size with
    ``Range``; ``RETRIES`` consecutive attempts without new bytes, or ``MAX_ATTEMPTS`` in all, give up
    with ``SourceFailure``. ``first`` is an already-open response for offset ``first_start``.
    """
    import httpx2

    opened = first
    if opened is not None and first_start != (partial.stat().st_size if partial.exists() else 0):
        opened.close()  # the partial file changed since we connected: ask again
        opened = None
    stalled = 0
    attempt = 0
    last_error = "connection closed early"
    while attempt < MAX_ATTEMPTS and stalled < RETRIES:
        attempt += 1
        if attempt > 1:
            time.sleep(RETRY_WAIT * min(attempt - 1, 5))
        size = partial.stat().st_size if partial.exists() else 0
        try:
            if opened is None:
                opened = open_at(url, size, label=label, timeout=timeout, retries=0)  # this loop retries
            if opened.response.status_code == 206 and _content_range(opened.response)[0] != size:
                opened.close()  # not the range we asked for: start over without one
                opened = None
                size = 0
                opened = open_at(url, 0, label=label, timeout=timeout, retries=0)
        except RangeDone:
            return  # nothing after our offset: the caller checks the hash
        except SourceFailure as failure:
            if not failure.transient:
                raise
            last_error, stalled, opened = failure.reason, stalled + 1, None
            continue
        response = opened.response
        total: int | None
        if response.status_code == 206:
            total = _content_range(response)[1]
        else:
            size = 0  # 200: the server ignored Range (or there was nothing to resume): from the start
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = size
        if on_progress is not None:
            on_progress(done, total)
        error: str | None = None
        try:
            with open(partial, "r+b" if size else "wb") as f:
                f.seek(size)
                f.truncate()
                try:
                    for block in response.iter_bytes():  # as received: a cut keeps every byte so far
                        f.write(block)
                        done += len(block)
                        if on_progress is not None:
                            on_progress(done, total)
                except httpx2.TransportError as exc:
                    error = _describe(exc, timeout)[0]
        finally:
            opened.close()
            opened = None
        new_size = partial.stat().st_size
        if error is None and (total is None or new_size >= total):
            return
        last_error = error or f"connection closed after {new_size} of {total} bytes"
        stalled = 0 if new_size - size >= MIN_PROGRESS else stalled + 1
    raise SourceFailure(label, f"{last_error}; gave up after {attempt} attempts")
