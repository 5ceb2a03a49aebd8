"""``--dry-run``: the plan of a run, in lines a person reads, and nothing written.

The plan runs the same checks as a real run (input, output guard, frame sizes, tile), chooses the
encoder by opening the writer on a throw-away file outside the output's folder, and reads the model
from where it is (a file, the cache, the bundled one) without downloading it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from edvr_cli.errors import EDVRError
from edvr_cli.guard.inputs import check_input
from edvr_cli.guard.output import check_output
from edvr_cli.jobs.limits import check_frame_size, check_model_fit, check_tile, effective_tile
from edvr_cli.jobs.settings import DEFAULT_MODELS, TASK_SCALE, RestoreSettings
from edvr_cli.jobs.workfolder import RESUME_MIN_FRAMES, work_dir


def _input_line(info: Any) -> str:
    kind = "image sequence" if info.is_image_sequence else info.codec_name
    fps = f"{float(info.fps):.3f}".rstrip("0").rstrip(".") + " fps" if info.fps else "unknown rate"
    frames = f"{info.num_frames} frames" if info.num_frames else "frame count unknown"
    extra = [s for s, on in (("audio", info.has_audio), ("subtitles", info.has_subtitles)) if on]
    return (f"input: {info.path.name}: {kind} {info.width}x{info.height} {info.pix_fmt} {info.bit_depth}-bit, "
            f"{fps}, {frames}" + (f", {' and '.join(extra)}" if extra else ""))


def _colour_line(info: Any) -> str:
    from edvr_cli.video.colour import RANGE_FULL

    c = info.color
    if c.matrix_name == "rgb" or info.pix_fmt.startswith(("rgb", "bgr", "gbr")):
        return "colour: RGB source (no matrix)"
    rng = "full" if c.range == RANGE_FULL else "limited"
    big = info.height >= 720 or info.width >= 1280
    rule = "720 lines or more" if big else "under 720 lines"
    matrix = "tagged" if c.matrix_tagged else f"assumed: untagged, {rule}"
    ranged = "tagged" if c.range_tagged else "assumed: untagged"
    return f"colour: {c.matrix_name} ({matrix}), {rng} range ({ranged})"


def _model_lines(settings: RestoreSettings) -> tuple[list[str], int, int, Any]:
    """(lines, scale, size multiple, loaded models or None when the model is not on this machine)."""
    from edvr_cli.zoo import cache
    from edvr_cli.zoo.registry import default_registry

    spec = settings.model or DEFAULT_MODELS[settings.task]
    entry = default_registry().get(spec)
    local = Path(spec).expanduser().is_file() or entry is None or bool(entry.bundled) or cache.get(entry.name)
    if not local and entry is not None:
        multiple = 16 if entry.scale == 1 else 4
        return ([f"model: {entry.name} (x{entry.scale}, {entry.frames} frames, padding {entry.padding}; not "
                 f"downloaded yet: a real run downloads {entry.file} first)"], entry.scale, multiple, None)
    from edvr_cli.jobs.models import load_models

    models = load_models(settings)
    lines = []
    for label, d in (("model", models.stage1), ("stage 2", models.stage2)):
        if d is not None:
            digest = f", sha256 {d.sha256[:16]}..." if d.sha256 else ""
            lines.append(f"{label}: {d.name} (x{d.scale}, {d.num_frame} frames, centre {d.center_frame_idx}, "
                         f"padding {d.padding}, {d.naming} naming{digest})")
    lines.append(f"device: {models.device}, {models.precision}")
    return lines, models.scale, models.stage1.multiple_of, models


def plan_run(input_path: str | os.PathLike, output_path: str | os.PathLike,
             settings: RestoreSettings) -> list[str]:
    """The lines ``--dry-run`` prints for one input; raises the error a real run would raise first."""
    from edvr_cli.engine.resize import plan_output_size, size_alignment
    from edvr_cli.video import is_frame_folder_output, open_writer, probe

    src = check_input(input_path)
    dst = Path(output_path)
    folder = is_frame_folder_output(dst)
    check_output(dst, overwrite=settings.overwrite, inputs=[src], folder=folder)
    info = probe(src)
    check_frame_size(info.width, info.height, TASK_SCALE.get(settings.task, 1))
    lines = [_input_line(info), _colour_line(info)]
    model_lines, scale, multiple, models = _model_lines(settings)
    lines += model_lines
    check_tile(settings, multiple)
    check_model_fit(info.width, info.height, multiple)
    try:
        width, height = plan_output_size(info.width, info.height, scale, size=settings.size, scale=settings.scale,
                                         align=size_alignment(info.chroma, settings.pix_fmt))
    except ValueError as exc:
        raise EDVRError(str(exc)) from None
    tile = effective_tile(settings.tile, info.width, info.height)
    tiles = {None: "automatic (whole frames when they fit the device)", 0: "whole frames"}.get(
        tile, f"{tile} px tiles, {settings.tile_overlap} px overlap")
    batch = "automatic" if settings.batch is None else str(settings.batch)
    lines.append(f"tiles: {tiles}; centre frames per forward: {batch}")
    with tempfile.TemporaryDirectory(prefix="edvr-plan-") as tmp:
        probe_out = Path(tmp) / ("frames" if folder else f"plan{dst.suffix}")
        warnings: list[str] = []
        writer = open_writer(probe_out, info, width, height, codec=settings.codec, crf=settings.crf,
                             preset=settings.preset, pix_fmt=settings.pix_fmt, on_warning=warnings.append,
                             label=dst.name)
        try:
            if folder:
                depth = "16-bit" if info.bit_depth > 8 else "8-bit"
                lines.append(f"output: {dst.name}/: {width}x{height} {depth} PNG frames")
            else:
                es = writer.settings  # type: ignore[union-attr]
                crf = f" crf {es.crf}" if es.crf is not None else ""
                preset = f" preset {es.preset}" if es.preset else ""
                lines.append(f"output: {dst.name}: {width}x{height}, encoder {es.codec}{crf}{preset}, {es.pix_fmt}")
            plan = getattr(writer, "stream_plan", None)
            for line in plan.lines() if plan is not None else []:
                lines.append(f"stream: {line}")
            lines += [f"note: {w}" for w in warnings]
        finally:
            writer.abort()
    resumable = settings.resume if settings.resume is not None else (
        work_dir(dst).is_dir() or info.num_frames is None or info.num_frames > RESUME_MIN_FRAMES)
    if resumable:
        n = max(1, settings.segment_frames)
        count = f"{-(-info.num_frames // n)} segment(s)" if info.num_frames else "segments"
        lines.append(f"run: resumable, {count} of {n} frames in '{work_dir(dst).name}', joined at the end")
    else:
        lines.append("run: one pass into a temporary file, renamed into place at the end")
    lines.append("nothing was written (--dry-run)")
    del models
    return lines
