"""``--dry-run``: the plan of a run, in lines a person reads, and nothing written.

The lines are :func:`~edvr_cli.jobs.runplan.plan_lines` of the very :class:`~edvr_cli.jobs.runplan.RunPlan`
a run would execute: the same checks (input, output guard, frame sizes, tile), the same encoder, streams
and segments. The model is read from where it is (a file, the cache, the bundled one) without
downloading it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction

from edvr_cli.jobs.runplan import RunPlan, make_plan, model_specs, plan_lines, to_download
from edvr_cli.jobs.settings import RestoreSettings


def _local_models(settings: RestoreSettings) -> object:
    """A loader of the models when every one is on this machine; None when a real run would download one
    first (the plan then reads each model where it is and the registry's entry of the others)."""
    if any(to_download(spec) is not None for spec in model_specs(settings)):
        return None
    from edvr_cli.jobs.models import load_models

    return lambda: load_models(settings)


def dry_plan(input_path: str | os.PathLike, output_path: str | os.PathLike, settings: RestoreSettings) -> RunPlan:
    """The plan a run of these arguments executes (raises the error it would raise first); writes nothing."""
    import dataclasses

    return make_plan(input_path, output_path, dataclasses.replace(settings, dry_run=True), _local_models(settings))


def plan_run(input_path: str | os.PathLike, output_path: str | os.PathLike, settings: RestoreSettings) -> list[str]:
    """The lines ``--dry-run`` prints for one input."""
    return plan_lines(dry_plan(input_path, output_path, settings))


def scan_shots(plan: RunPlan, on_progress: Callable[[int, int | None], None] | None = None) \
        -> list[tuple[int, Fraction]]:
    """The cuts a run of ``plan`` pads at (``--shots-only``): found by reading its clip, or a cut file's
    placed on its frames; each as (clip frame index, seconds from the input's first frame, as ``--start``
    and ``--shots FILE`` count)."""
    from edvr_cli.jobs.context import RunContext
    from edvr_cli.video.shots import CutDetector

    if plan.shot_plan.mode == "off":
        return []
    origin = plan.info.span[0] if plan.info.span is not None else Fraction(0)
    times: dict[int, Fraction] = {}
    cuts: list[int] = []
    detector = CutDetector() if plan.shot_plan.live else None
    with RunContext(plan).reader(context_before=0, context_after=0) as reader:
        for frame in reader:
            times[frame.index] = origin + Fraction(frame.pts) * frame.time_base
            if detector is not None:
                cuts += detector.push(frame.image)
            if on_progress is not None:
                on_progress(frame.index + 1, plan.frames)
    cuts = cuts + detector.finish() if detector is not None else list(plan.shot_plan.cuts or ())
    return [(c, times[c]) for c in cuts if c in times]
