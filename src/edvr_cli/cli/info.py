"""``edvr info``: what an output records of the run that made it (its provenance), and its size and length."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edvr_cli.cli.options import path_argument
from edvr_cli.errors import UsageError

NO_PROVENANCE = ("provenance: none recorded (not made by edvr, made with --no-provenance, or in a container "
                 "that keeps no tags)")


@click.command("info")
@click.argument("path", metavar="PATH", callback=path_argument)
@click.option("--json", "as_json", is_flag=True, help="Print the provenance as JSON (null when there is none).")
def info(path: Path, as_json: bool) -> None:
    """Show the provenance of an edvr output (the edvr version, the models with their SHA-256, the settings
    that change pixels) and its length and size.

    PATH is a video file, a folder of PNG frames, or one PNG frame.
    """
    from edvr_cli.jobs.provenance import describe, read_provenance
    from edvr_cli.video.probe import probe

    if str(path) == "-":
        raise UsageError("edvr info reads a file or a folder, not standard input")
    facts = probe(path)  # a file that is no video or image: one line, as every command says it
    record = read_provenance(path)
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    click.echo(container_line(path, facts))
    if record is None:
        click.echo(NO_PROVENANCE)
        return
    for line in describe(record):
        click.echo(line)


def container_line(path: Path, facts: Any) -> str:
    """``out.mp4: mp4, h264 128x96, 12 frames, 0.480 s`` (a folder: its frames and their size)."""
    from edvr_cli.video.paths import is_image_file

    if facts.num_frames is None:
        frames = "frame count unknown"
    else:
        frames = f"{'' if facts.num_frames_exact else '~'}{facts.num_frames} frames"
    if facts.is_image_sequence:
        return f"{path.name}/: {frames} ({facts.codec_name}), {facts.width}x{facts.height}"
    if is_image_file(path):
        return f"{path.name}: {facts.codec_name} image, {facts.width}x{facts.height}"
    duration = f"{float(facts.duration):.3f} s" if facts.duration is not None else "duration unknown"
    kind = path.suffix.lstrip(".").lower() or (facts.container_format or "?").split(",")[0]
    return f"{path.name}: {kind}, {facts.codec_name} {facts.width}x{facts.height}, {frames}, {duration}"
