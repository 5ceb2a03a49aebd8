"""One segment, made anywhere: decode its frames by seeking, restore them, encode a video-only piece.

Workers receive the run's :class:`~edvr_cli.jobs.runplan.RunPlan` (picklable: it travels to processes
and Ray actors); :class:`PieceMaker` loads the plan's models once per worker, from their files and with
their recorded digests, and makes any number of pieces.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from edvr_cli.jobs.context import RunContext
from edvr_cli.jobs.pipeline import run_pipeline
from edvr_cli.jobs.runplan import RunPlan
from edvr_cli.jobs.segplan import SegmentSpec, decode_range
from edvr_cli.jobs.workfolder import Segment
from edvr_cli.video.timing import output_times


def load_plan_models(plan: RunPlan, device: str) -> Any:
    """The plan's models on ``device``, loaded from their files (digests as recorded: not read again),
    run with the plan's precision and threads."""
    import torch

    from edvr_cli.engine.device import resolve_device, use_device
    from edvr_cli.jobs.models import Models
    from edvr_cli.model.descriptor import load_descriptor

    dev = resolve_device(device)
    use_device(dev)
    if plan.execution.threads and dev.type == "cpu":
        torch.set_num_threads(plan.execution.threads)
    loaded = []
    for ref in plan.stages:
        if ref.path is None:
            raise ValueError("a model built in memory cannot be sent to workers; save it to a file first")
        loaded.append(load_descriptor(ref.path, dev, padding=ref.padding, name=ref.name, sha256=ref.sha256))
    return Models(loaded[0], loaded[1] if len(loaded) > 1 else None, dev, plan.execution.precision)


class PieceMaker:
    """A worker's models (loaded once) and the making of pieces.

    Args:
        plan: the run's plan.
        models: loaded models (the driver's, in this process), or None to load the plan's on ``device``.
        device: this worker's device (``cpu``, ``cuda:1`` ...).
    """

    def __init__(self, plan: RunPlan, models: Any = None, device: str | None = None) -> None:
        self.plan = plan
        self.models = models if models is not None else load_plan_models(plan, device or plan.execution.device)
        self._times: dict[Fraction, list[int]] = {}

    def _clip_times(self, time_base: Fraction) -> list[int]:
        """Every frame's output time in ``time_base`` (computed once per worker, not per segment)."""
        if time_base not in self._times:
            index = self.plan.segments.index if self.plan.segments is not None else None
            assert index is not None
            self._times[time_base] = output_times(index.pts, index.time_base, time_base)
        return self._times[time_base]

    def make(self, spec: SegmentSpec, part: str | os.PathLike, on_frame: Callable[[int], None] | None = None,
             warn: Callable[[str], None] | None = None, on_nonfinite: Callable[[int], None] | None = None) -> Segment:
        """Restore and encode segment ``spec`` into the piece file ``part``; returns it as a finished segment."""
        plan = self.plan
        seg = plan.segments
        assert seg is not None and seg.index is not None
        index, total = seg.index, seg.index.frames
        lowest = spec.first if spec.first in (plan.shot_plan.cuts or ()) else 0  # a shot begins here
        start, stop = decode_range(spec, total, plan.aheads, plan.grid, lowest)
        ctx = RunContext(plan, warn)
        end = index.seconds(spec.stop) if spec.stop < total else None
        reader = ctx.reader(start=index.seconds(spec.first), end=end, context_before=spec.first - start,
                            context_after=stop - spec.stop)
        writer = ctx.open_writer(Path(part), copy_streams=False)
        try:
            video = hasattr(writer, "time_base")
            times: list[int] = []
            if video:  # the clip's times in the output time base, made increasing over the whole clip
                times = self._clip_times(writer.time_base)[spec.first:spec.stop]

            def write(out: Any, clip_index: int, timing: Any) -> None:
                if video:
                    writer.write(out, times[clip_index - spec.first], writer.time_base)
                else:
                    writer.write(out)

            tick = (lambda: on_frame(1)) if on_frame is not None else None
            written = run_pipeline(plan, self.models, reader, writer, write,
                                   first=spec.first, clip_start=lowest, count=spec.count, offset=spec.first,
                                   on_output=tick, on_nonfinite=on_nonfinite)
            if written != spec.count:
                raise RuntimeError(f"segment {spec.index} made {written} of {spec.count} frames")
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            reader.close()
        return Segment(spec.index, spec.first, spec.count, times[-1] if times else None)
