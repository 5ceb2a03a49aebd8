"""A resumable run: the output made as segments in a work folder beside it, then joined exactly.

Each segment is restored from its plan's stage starts (on the batch grid, with the temporal context the
model needs) and outputs its own frames only, so a segment is the same whether it is made in a first
run or a later one, by any worker. An interrupted run keeps its finished segments; the same command
continues.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Any

from edvr_cli import __version__
from edvr_cli.errors import InputError, JoinError, ResumeError
from edvr_cli.guard.output import HeldFolder, move_into_place
from edvr_cli.jobs import segplan
from edvr_cli.jobs.context import RunContext
from edvr_cli.jobs.join import assemble
from edvr_cli.jobs.limits import explain_failure
from edvr_cli.jobs.pipeline import run_pipeline
from edvr_cli.jobs.runplan import RunPlan
from edvr_cli.jobs.workfolder import Segment, WorkFolder, input_identity
from edvr_cli.video.timing import Increasing, rescale


def run_resumable(plan: RunPlan, models: Any, ctx: RunContext) -> int:
    """Segments in the work folder (continuing an earlier attempt), then joined into the output."""
    from edvr_cli.video.paths import OutputKind

    assert plan.segments is not None
    work = WorkFolder(plan.dst, run_record(plan), frames_output=plan.kind is OutputKind.FRAMES)
    work.open(fresh=plan.settings.overwrite)
    try:
        held = HeldFolder(plan.dst.parent)
    except BaseException:
        work.close()
        raise
    try:
        if not work.finished:
            if plan.segments.independent:
                _independent_segments(plan, models, ctx, work)
            else:
                _sequential_segments(plan, models, ctx, work)
        final = assemble(work, plan.output_info, ctx.warn, ctx.tags, plan.streams if plan.copies_streams else None)
        work.record_assembly(final)
        held.check_in_place(plan.dst)
        move_into_place(final, plan.dst, overwrite=plan.settings.overwrite, inputs=[plan.src],
                        folder=not work.suffix)
    except BaseException as exc:
        if held.moved():  # nothing is touched by its old name: that path leads elsewhere now
            work.close()
            raise held.moved_error(plan.dst, kept=work.path.name) from exc
        work.discard_partial()
        kept = ""
        if work.segments and not isinstance(exc, JoinError):  # a rerun continues after them
            kept = (f"; {work.frames_done} finished frames are kept in '{work.path.name}': "
                    "rerun the same command to continue")
            work.close()
        else:
            work.remove()
        mapped = explain_failure(exc, plan.src, plan.dst, ctx.done, kept)
        if mapped is not None:
            raise mapped from exc
        raise
    finally:
        held.close()
    work.remove()
    return work.frames_done


def run_record(plan: RunPlan) -> dict[str, Any]:
    """What a resumable run's output depends on; a work folder made for another record is not continued."""
    from edvr_cli.video.paths import OutputKind

    s, ex = plan.settings, plan.execution
    assert plan.segments is not None
    record: dict[str, Any] = {
        "input": input_identity(plan.src),
        "output": "frames" if plan.kind is OutputKind.FRAMES else "video",
        "segment_frames": plan.segments.segment_frames,
        "edvr_cli": __version__,
        "settings": {
            "task": s.task,
            "stage1_sha256": plan.stage1.sha256,
            "stage2_sha256": plan.stage2.sha256 if plan.stage2 is not None else None,
            "padding": plan.stage1.padding,
            "tile": list(ex.tiles),
            "tile_overlap": ex.tile_overlap,
            "device": ex.device.split(":")[0],
            "precision": ex.precision,
            "batch": ex.batch,
            "threads": ex.threads,
            "codec": s.codec,
            "crf": s.crf,
            "preset": s.preset,
            "pix_fmt": s.pix_fmt,
            "size": [plan.width, plan.height],
            "deinterlace": s.deinterlace,
            "span": [str(t) if t is not None else None for t in (plan.info.span or ())],
            "shots": plan.shot_plan.mode,
            "shots_sha256": plan.shot_plan.sha256,  # a cut file's content, not its path
            "strength": float(s.strength),
        },
    }
    if plan.kind is OutputKind.FRAMES:  # the frames carry the provenance of the run that made them
        record["settings"]["provenance"] = s.provenance
    return record


def _independent_segments(plan: RunPlan, models: Any, ctx: RunContext, work: WorkFolder) -> None:
    """Make the unfinished segments with the plan's executor, committing each as it arrives."""
    from edvr_cli.jobs.executors import executor_for

    assert plan.segments is not None
    specs = plan.segments.specs
    planned = {(s.index, s.first, s.count) for s in specs}
    if any((seg.index, seg.first, seg.frames) not in planned for seg in work.segments):
        # made under another plan (cannot happen with the same run record, but never join them)
        raise ResumeError(f"the work folder '{work.path.name}' holds segments of another plan; "
                          "pass --overwrite to start afresh")
    todo = [s for s in specs if s.index not in work.done_indices]
    if work.frames_done:
        ctx.progress(work.frames_done)  # where an earlier run stopped
    executor_for(plan, models, ctx.count_nonfinite).run(plan, todo, work.part_path, work.commit, ctx.progress,
                                                        ctx.warn)
    work.finish()


def _sequential_segments(plan: RunPlan, models: Any, ctx: RunContext, work: WorkFolder) -> None:
    """One decoding pass from the first unfinished segment on (inputs that cannot be cut): the outputs
    are cut into segments as they come, the last taking in a remainder shorter than the shortest tail."""
    assert plan.segments is not None
    n = plan.segments.segment_frames
    begin = len(work.prefix) * n
    if sum(s.frames for s in work.prefix) != begin:  # a short segment was the last one
        work.finish()
        return
    if begin:
        ctx.progress(begin)  # where an earlier run stopped
    with ctx.reader() as reader:
        sink = SegmentSink(work, ctx, begin, n)
        try:
            run_pipeline(plan, models, reader, sink, sink.write, first=begin, clip_start=None,
                         on_output=ctx.progress, drain=True, on_nonfinite=ctx.count_nonfinite)
            sink.close()
        finally:
            sink.abort()
    if ctx.done == 0:
        raise InputError(f"'{plan.info.label}': no frame could be decoded")
    work.finish()


class SegmentSink:
    """The encoder thread's side of a sequential resumable run: outputs into part files, cut into segments.

    A segment is committed at a boundary once the shortest tail of frames after it has come (else the
    clip's remainder joins it, as :func:`~edvr_cli.jobs.segplan.plan_segments` cuts a known length).
    Video segments continue the previous segment's times in the output time base, so the joined stream
    is timed as one writer would time it.
    """

    def __init__(self, work: WorkFolder, ctx: RunContext, begin: int, segment_frames: int) -> None:
        self.work, self.ctx, self.n = work, ctx, segment_frames
        self.index = begin // segment_frames
        self.first = begin
        self.count = 0
        self.held: deque[tuple[Any, int, tuple[int, Fraction]]] = deque()
        self.times = Increasing(work.prefix[-1].last_pts if work.prefix else None)
        self.video = bool(work.suffix)
        self.writer: Any = ctx.open_writer(work.part_path(self.index), copy_streams=False)
        self.plane_layout = getattr(self.writer, "plane_layout", None)

    def write(self, out: Any, index: int, timing: tuple[int, Fraction]) -> None:
        self.held.append((out, index, timing))
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        """Write the held outputs: a full segment is committed once the shortest tail of frames after it
        has come; at the end of the stream a shorter remainder joins the last segment."""
        while self.held:
            if self.count >= self.n:
                if len(self.held) >= segplan.SHORTEST_TAIL:
                    self._commit()
                elif not final:
                    return  # these may be the clip's short remainder: wait
            self._write(*self.held.popleft())

    def _write(self, out: Any, index: int, timing: tuple[int, Fraction]) -> None:
        if self.writer is None:
            self.writer = self.ctx.open_writer(self.work.part_path(self.index), copy_streams=False)
        if self.video:
            t = self.times(rescale(timing[0], timing[1], self.writer.time_base))
            self.writer.write(out, t, self.writer.time_base)
        else:
            self.writer.write(out)
        self.count += 1

    def _commit(self) -> None:
        writer, self.writer = self.writer, None
        writer.close()
        self.work.commit(Segment(self.index, self.first, self.count, self.times.last if self.video else None))
        self.index += 1
        self.first += self.count
        self.count = 0

    def close(self) -> None:
        """The stream ended: the held frames are written (a short remainder joins the last segment)."""
        self._drain(final=True)
        if self.count:
            self._commit()

    def abort(self) -> None:
        """Drop an unfinished segment's writer (its part file is discarded by the work folder)."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
