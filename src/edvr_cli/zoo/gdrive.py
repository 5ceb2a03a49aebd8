"""Google Drive sources (BasicSR's official checkpoints), through ``gdown``.

gdown walks Drive's "can't scan this file for viruses" confirmation page, retries and resumes
(``resume=True``: its ``<output>XXXXXXXX.part`` file beside the output is continued by the next
run) and reports progress to our callback. It always asks ``https://drive.google.com`` (tests put a
local TLS stand-in in front of it with ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE``). Our part:
where the file goes, the lock around it (``download.download_entry``), the SHA-256 check, and
turning gdown's and requests' errors (caught by class) into one line.
"""

from __future__ import annotations

import re
from pathlib import Path

from edvr_cli.guard.output import remove_path
from edvr_cli.zoo.failures import SourceFailure, first_text_line
from edvr_cli.zoo.progress import ProgressCallback

RETRIES = 3
PART_SUFFIX = ".part"


def label_for(file_id: str) -> str:
    return f"Google Drive file {file_id}"


def browser_link(file_id: str) -> str:
    return f"https://drive.google.com/uc?export=download&id={file_id}"


def part_files(output: Path) -> list[Path]:
    """gdown's partial files for ``output`` (``<name>`` + 8 random characters + ``.part``); files only,
    so that deleting them never takes a folder with it."""
    try:
        return sorted(
            p
            for p in output.parent.iterdir()
            if p.name.startswith(output.name)
            and p.name.endswith(PART_SUFFIX)
            and len(p.name) == len(output.name) + 8 + len(PART_SUFFIX)
            and not p.is_dir()
        )
    except OSError:
        return []


def _drive_says(exc: BaseException) -> str:
    """Drive's own message out of gdown's multi-line FileURLRetrievalError."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    body: list[str] = []
    for line in lines[1:]:
        if line.startswith("You may still"):
            break
        body.append(line)
    text = " ".join(body) or (lines[0] if lines else "")
    if "Cannot retrieve the public link" in text:
        return (
            "Google Drive answered with a page instead of the file (not shared publicly, or its download"
            " quota is exhausted for now; try again later)"
        )
    text = re.sub(r"<[^>]+>", "", text)
    return f"Google Drive says: {text}"


def fetch(
    file_id: str,
    output: Path,
    *,
    timeout: float,
    on_progress: ProgressCallback | None,
    retries: int = RETRIES,
) -> None:
    """Download Drive file ``file_id`` to ``output`` (resuming gdown's partial file); SourceFailure otherwise."""
    import gdown
    import requests
    from gdown.exceptions import DownloadError as GdownDownloadError
    from gdown.exceptions import FileURLRetrievalError

    label = label_for(file_id)
    if len(part_files(output)) > 1:  # gdown refuses to choose: keep none
        for part in part_files(output):
            remove_path(part)
    try:
        gdown.download(
            id=file_id,
            output=str(output),
            quiet=True,
            use_cookies=False,  # no cookie file in the user's home
            resume=True,
            timeout=timeout,
            retries=retries,
            progress=on_progress,
        )
    except FileURLRetrievalError as exc:
        raise SourceFailure(label, _drive_says(exc)) from None
    except requests.exceptions.ConnectionError as exc:  # also ProxyError, SSLError
        raise SourceFailure(label, f"cannot reach Google Drive ({first_text_line(exc)})", unreachable=True) from None
    except requests.exceptions.Timeout:
        raise SourceFailure(label, f"no data for {timeout:g} s (timed out)") from None
    except requests.exceptions.HTTPError as exc:
        response = exc.response
        reason = f"HTTP {response.status_code} {response.reason}" if response is not None else first_text_line(exc)
        raise SourceFailure(label, reason) from None
    except GdownDownloadError as exc:  # retries exhausted (the cause says why) or a broken transfer
        cause = exc.__cause__
        if isinstance(cause, requests.exceptions.ConnectionError) and not isinstance(
            cause, requests.exceptions.ChunkedEncodingError
        ):
            reason = f"cannot reach Google Drive ({first_text_line(cause)})"
            raise SourceFailure(label, reason, unreachable=True) from None
        if isinstance(cause, requests.exceptions.Timeout):
            raise SourceFailure(label, f"no data for {timeout:g} s (timed out)") from None
        raise SourceFailure(label, first_text_line(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise SourceFailure(label, first_text_line(exc)) from None
