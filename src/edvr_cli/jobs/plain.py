"""A plain run: every frame in one pass into a guarded temporary output (or standard output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edvr_cli.errors import InputError
from edvr_cli.guard.output import guarded_output
from edvr_cli.jobs.pipeline import run_pipeline
from edvr_cli.jobs.runplan import RunPlan


def run_plain(plan: RunPlan, models: Any, ctx: Any) -> int:
    """Restore the plan's input into its output in one pass; returns the frames written."""
    from edvr_cli.video.paths import OutputKind

    if plan.kind is OutputKind.STDOUT:  # a stream: nothing to guard or rename
        with ctx.reader() as reader, ctx.open_writer(Path("-")) as writer:
            return _pass(plan, models, ctx, reader, writer)
    with guarded_output(plan.dst, overwrite=plan.settings.overwrite, inputs=[plan.src],
                        folder=plan.kind is OutputKind.FRAMES) as tmp, \
            ctx.reader() as reader, ctx.open_writer(tmp) as writer:
        return _pass(plan, models, ctx, reader, writer)


def _pass(plan: RunPlan, models: Any, ctx: Any, reader: Any, writer: Any) -> int:
    def write(out: Any, index: int, timing: tuple[int, Any]) -> None:
        writer.write(out, *timing)

    done = run_pipeline(plan, models, reader, writer, write, clip_start=None, on_output=ctx.progress,
                        on_nonfinite=ctx.count_nonfinite)
    if done == 0:
        raise InputError(f"'{plan.info.label}': no frame could be decoded")
    return done
