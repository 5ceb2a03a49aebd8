"""Where a report goes (``PATH.json`` and ``PATH.html``) and writing both through the output guard."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from edvr_cli.report.collect import Report


def report_paths(base: str | os.PathLike) -> tuple[Path, Path]:
    """``(PATH.json, PATH.html)`` of a report base path; a ``.json`` or ``.html`` ending is dropped first
    (``--report r.html`` writes ``r.html`` and ``r.json``)."""
    path = Path(base)
    if path.suffix.lower() in (".json", ".html"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".json"), path.with_name(path.name + ".html")


def default_base(output: str | os.PathLike) -> Path:
    """The report beside an output: ``clip_x4.mp4`` -> ``clip_x4.report`` (``.json``, ``.html``)."""
    out = Path(output)
    stem = out.stem if out.suffix and not out.is_dir() else out.name
    return out.with_name(f"{stem}.report")


def check_report(base: str | os.PathLike, *, overwrite: bool, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse (before any work) report files the guard will not write: existing ones without ``overwrite``,
    an input, a device."""
    from edvr_cli.guard.output import check_output

    inputs = list(inputs)
    for path in report_paths(base):
        check_output(path, overwrite=overwrite, inputs=inputs)


def write_report(report: Report, base: str | os.PathLike, *, overwrite: bool,
                 inputs: Iterable[str | os.PathLike]) -> tuple[Path, Path]:
    """Write ``PATH.json`` and ``PATH.html`` through the output guard, both written before either is put in
    place (a failed write, such as a full disk, leaves neither); returns their paths."""
    from edvr_cli.guard.output import guarded_output
    from edvr_cli.report.html import render

    inputs = list(inputs)
    json_path, html_path = report_paths(base)
    text = json.dumps(report.data, indent=2, allow_nan=False) + "\n"
    page = render(report, json_path.name)
    with guarded_output(json_path, overwrite=overwrite, inputs=inputs) as json_temp, \
            guarded_output(html_path, overwrite=overwrite, inputs=inputs) as html_temp:
        for temp, content in ((json_temp, text), (html_temp, page)):
            with open(temp, "wb") as f:
                f.write(content.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
    return json_path, html_path
