"""Restoring one input into one output: checks, then a plain or a resumable run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edvr_cli.errors import UsageError, WarningCallback
from edvr_cli.guard.inputs import check_input
from edvr_cli.guard.output import check_output, remove_path
from edvr_cli.jobs.job import Job
from edvr_cli.jobs.limits import check_frame_size, check_model_fit, check_tile, effective_tile
from edvr_cli.jobs.models import Models, load_models
from edvr_cli.jobs.settings import TASK_SCALE, RestoreResult, RestoreSettings
from edvr_cli.jobs.workfolder import RESUME_MIN_FRAMES, remove_if_placed, work_dir


def wants_resume(settings: RestoreSettings, num_frames: int | None, output: Path) -> bool:
    """Whether a run is resumable: as told, else for long (or unknown-length) inputs and unfinished runs."""
    if (settings.workers or 1) > 1 or settings.cluster:
        return True  # segments in a work folder are how parallel work is joined
    if settings.resume is not None:
        return settings.resume
    if work_dir(output).is_dir():
        return True
    return num_frames is None or num_frames > RESUME_MIN_FRAMES


def _stream_plan(info: Any, dst: Path, settings: RestoreSettings) -> list[str]:
    """What happens to the audio and subtitles (conversions and drops, one line each); with
    ``strict_streams`` any of them is an error now, before the work."""
    from edvr_cli.video import is_frame_folder_output
    from edvr_cli.video.streams import plan_streams

    if info.is_image_sequence or info.is_pipe or str(dst) == "-" or is_frame_folder_output(dst):
        return []
    plan = plan_streams(info, dst)
    if settings.strict_streams:
        plan.check_strict(dst.name)
    return plan.summary()


def restore_video(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    settings: RestoreSettings | None = None,
    *,
    models: Models | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    on_warning: WarningCallback | None = None,
) -> RestoreResult:
    """Restore one video file or image folder into a video file or a folder of PNG frames.

    Args:
        input_path: a video file or a folder of images (one sequence).
        output_path: a video file (container from the extension) or a folder for PNG frames.
        settings: the run's options (defaults: :class:`RestoreSettings`).
        models: already loaded models (batch runs load them once); loaded from ``settings`` if None.
        on_progress: called as ``(frames_done, frames_total_or_None)`` after each frame.
        on_warning: called with each warning (copied streams dropped, truncated input ...).

    Raises:
        EDVRError: with a one-line message for every expected failure: unusable input
            (:class:`InputError`, :class:`FrameSizeError`), an output the guard refuses
            (:class:`OutputError`, :class:`OutputExistsError`), a full disk (:class:`OutOfSpaceError`),
            a failing GPU (:class:`DeviceError`), a work folder made with other arguments (:class:`ResumeError`) ...
    """
    from edvr_cli.video import is_frame_folder_output, probe

    settings = settings or RestoreSettings()
    src = check_input(input_path)
    dst = Path(output_path)
    if not dst.name and str(output_path) != "-":  # '.', '..': the folder itself, by its name
        dst = dst.resolve()
    to_stdout = str(output_path) == "-"
    if not to_stdout:
        remove_if_placed(dst)  # a work folder whose output a killed run had already put in place
        check_output(dst, overwrite=settings.overwrite, inputs=[src], folder=is_frame_folder_output(dst))
    try:
        info = probe(src, start=settings.start, end=settings.end)
    except ValueError as exc:  # a malformed --start / --end
        raise UsageError(str(exc)) from None
    check_frame_size(info.width, info.height, TASK_SCALE.get(settings.task, 1))
    if on_progress is not None:
        on_progress(0, info.num_frames)  # the total, when the container knows it, before the first frame
    models = models or load_models(settings)
    check_tile(settings, models.stage1.multiple_of)
    check_model_fit(info.width, info.height, models.stage1.multiple_of)
    if models.stage2 is not None:
        check_model_fit(info.width * models.scale, info.height * models.scale, models.stage2.multiple_of)
    warnings: list[str] = []

    def warn(message: str) -> None:
        if message in warnings:
            return  # segments repeat the encoder's remarks
        warnings.append(message)
        if on_warning is not None:
            on_warning(message)

    tile = effective_tile(settings.tile, info.width, info.height)
    if tile != settings.tile:
        warn(f"{info.width}x{info.height} frames are too large to restore whole; tiling them (--tile auto)")
    job = Job(src, dst, info, settings, models, tile, warn, on_progress)
    start = time.perf_counter()
    streams = _stream_plan(info, dst, settings)
    if not to_stdout and not info.is_pipe and wants_resume(settings, info.num_frames, dst):
        from edvr_cli.jobs.segments import run_resumable

        done = run_resumable(job)
        job.streams = streams  # the join converts them
    else:
        from edvr_cli.jobs.plain import run_plain

        stale = work_dir(dst)
        if stale.is_dir():
            if settings.overwrite:
                remove_path(stale)
            else:
                warn(f"'{stale.name}' holds an unfinished resumable run of this output; --no-resume leaves it alone")
        done = run_plain(job)
    return RestoreResult(src, dst, done, time.perf_counter() - start, warnings, job.encoder, job.streams)
