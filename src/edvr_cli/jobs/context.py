"""What executing a plan needs around the pipeline: its reader and writers, warnings and progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edvr_cli.errors import WarningCallback
from edvr_cli.jobs.provenance import run_tags
from edvr_cli.jobs.runplan import RunPlan

ProgressCallback = Callable[[int, "int | None"], None]


class RunContext:
    """Opens the plan's reader and writers (with what the plan chose: no decision is made again), passes
    warnings on once each, and counts finished frames for the progress callback."""

    def __init__(self, plan: RunPlan, warn: WarningCallback | None = None,
                 on_progress: ProgressCallback | None = None) -> None:
        self.plan = plan
        self.on_progress = on_progress
        self.warnings: list[str] = []
        self._warn = warn
        self.done = 0
        self.nonfinite = 0  # output values that were NaN or infinite (reported once, at the end)
        self.encoder = plan.encoder.description if plan.encoder is not None else ""
        self.tags = run_tags(plan)  # the provenance every writer records (None: --no-provenance)

    def warn(self, message: str) -> None:
        if message in self.warnings:
            return  # segments repeat the encoder's remarks
        self.warnings.append(message)
        if self._warn is not None:
            self._warn(message)

    def count_nonfinite(self, values: int) -> None:
        self.nonfinite += values

    def report_nonfinite(self) -> None:
        """One warning line for the whole run, when any output value was not finite."""
        if not self.nonfinite:
            return
        p = self.plan.execution.precision
        if p == "fp32":
            why = "the model gives NaN or infinity: is its checkpoint damaged?"
        else:
            why = f"{p} overflow; rerun with --precision " + ("bf16 or fp32" if p == "fp16" else "fp32")
        self.warn(f"{self.nonfinite} output values were not finite and were written as black ({why})")

    def progress(self, frames: int = 1) -> None:
        self.done += frames
        if self.on_progress is not None:
            self.on_progress(self.done, self.plan.frames)

    def reader(self, **span: Any) -> Any:
        """A reader of the input (or of a part of it: ``start``, ``end``, ``context_before/after``); the
        plan's span comes with the frames around it that its edge windows use (as a whole run would)."""
        from edvr_cli.jobs.segplan import context_before, reach
        from edvr_cli.video import FrameReader

        p = self.plan
        if not span and p.info.span is not None:
            span = {"context_before": context_before(p.aheads, p.grid), "context_after": reach(p.aheads, p.grid)}
        return FrameReader(p.src, p.info, on_warning=self.warn, deinterlace=p.settings.deinterlace, **span)

    def open_writer(self, path: Path, copy_streams: bool | None = None) -> Any:
        """A writer of the plan's output kind at ``path`` (the output, a temporary or a segment's part);
        ``copy_streams``: carry audio and subtitles (default: when the plan does). Every writer records the
        run's provenance (container tags, PNG text chunks), so segments joined keep it too."""
        from edvr_cli.video import open_writer
        from edvr_cli.video.paths import OutputKind

        p, s = self.plan, self.plan.settings
        copy = p.copies_streams if copy_streams is None else copy_streams and p.copies_streams
        if p.kind is OutputKind.FRAMES:  # the plan's notes say what frames cannot hold (audio, encoder options)
            return open_writer(path, p.output_info, p.width, p.height, copy_streams=False, on_warning=self.warn,
                               label=p.label, metadata=self.tags)
        return open_writer(path, p.output_info, p.width, p.height, copy_streams=copy, progressive=p.deinterlacing,
                           strict_streams=s.strict_streams, encoder=p.encoder, source=p.source,
                           stream_plan=p.streams if copy else None, codec=s.codec, crf=s.crf, preset=s.preset,
                           pix_fmt=s.pix_fmt, on_warning=self.warn, label=p.label, metadata=self.tags)
