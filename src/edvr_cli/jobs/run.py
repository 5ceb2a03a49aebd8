"""Restoring one input into one output: the plan, then a plain or a resumable run that executes it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from edvr_cli.errors import WarningCallback
from edvr_cli.jobs.models import Models, load_models
from edvr_cli.jobs.runplan import RunPlan, make_plan
from edvr_cli.jobs.settings import RestoreResult, RestoreSettings


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
        input_path: a video file or a folder of images (one sequence), or ``-`` (YUV4MPEG2 on stdin).
        output_path: a video file (container from the extension), a folder for PNG frames, or ``-``.
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
    settings = settings or RestoreSettings()

    def load() -> Models:  # after the input and output checks: their errors come first
        nonlocal models
        models = models or load_models(settings)
        return models

    plan = make_plan(input_path, output_path, settings, load)
    assert models is not None  # the plan loaded them
    return execute(plan, models, on_progress=on_progress, on_warning=on_warning)


def execute(plan: RunPlan, models: Models, *, on_progress: Callable[[int, int | None], None] | None = None,
            on_warning: WarningCallback | None = None) -> RestoreResult:
    """Run a plan (made by :func:`~edvr_cli.jobs.runplan.make_plan` with these ``models``)."""
    from edvr_cli.jobs.context import RunContext

    ctx = RunContext(plan, on_warning, on_progress)
    if on_progress is not None:
        on_progress(0, plan.frames)  # the total, when it is known, before the first frame
    for note in plan.notes:
        ctx.warn(note)
    start = time.perf_counter()
    with _threads(plan):
        if plan.resumable:
            from edvr_cli.jobs.segments import run_resumable

            done = run_resumable(plan, models, ctx)
        else:
            done = _one_pass(plan, models, ctx)
    ctx.report_nonfinite()
    streams = plan.streams.summary() if plan.copies_streams else []
    return RestoreResult(plan.src, plan.dst, done, time.perf_counter() - start, ctx.warnings, ctx.encoder, streams)


def _one_pass(plan: RunPlan, models: Models, ctx: Any) -> int:
    """A plain run; an unfinished resumable run of the output is discarded with ``--overwrite`` (through the
    work folder's checks), else left alone (the plan's notes say which)."""
    from edvr_cli.jobs.limits import explain_failure
    from edvr_cli.jobs.plain import run_plain
    from edvr_cli.jobs.workfolder import discard
    from edvr_cli.video.paths import OutputKind

    if plan.kind is not OutputKind.STDOUT and plan.settings.overwrite:
        discard(plan.dst)  # the plan's notes said so
    try:
        return run_plain(plan, models, ctx)
    except BaseException as exc:
        mapped = explain_failure(exc, plan.src, plan.dst, ctx.done)
        if mapped is not None:
            raise mapped from exc
        raise


@contextlib.contextmanager
def _threads(plan: RunPlan) -> Iterator[None]:
    """This process's torch threads as the plan says while it restores here on the CPU; the caller's count
    afterwards (a library call leaves torch as it found it)."""
    ex = plan.execution
    if not (ex.threads and ex.device == "cpu" and ex.executor == "inline"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(ex.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
