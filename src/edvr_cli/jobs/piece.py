"""One segment, made anywhere: decode its frames by seeking, restore them, encode a video-only piece.

A :class:`Recipe` is everything a worker needs (picklable: it travels to processes and Ray actors);
:class:`PieceMaker` loads the models once per worker and makes any number of pieces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edvr_cli.jobs.segplan import SegmentSpec, decode_range, output_times
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.jobs.workfolder import Segment


@dataclass(frozen=True)
class ModelRef:
    """Where a worker loads a model from (its file), and how it is run."""

    path: str
    name: str
    padding: str


@dataclass(frozen=True)
class Recipe:
    """What a worker needs to make the segments of one input."""

    src: str
    dst: str
    info: Any  # VideoInfo
    index: Any  # FrameIndex
    settings: RestoreSettings
    stage1: ModelRef
    stage2: ModelRef | None
    tile: int | None
    batch: int
    context: int
    reach: int
    aheads: tuple[int, ...]

    @property
    def total(self) -> int:
        return int(self.index.frames)


def model_refs(models: Any) -> tuple[ModelRef, ModelRef | None]:
    """The files of loaded models, for workers to load them again."""
    refs: list[ModelRef | None] = []
    for d in (models.stage1, models.stage2):
        if d is None:
            refs.append(None)
            continue
        if d.path is None:
            raise ValueError("a model built in memory cannot be sent to workers; save it to a file first")
        refs.append(ModelRef(str(d.path), d.name, d.padding))
    assert refs[0] is not None
    return refs[0], refs[1]


def _with(settings: RestoreSettings, **changes: Any) -> RestoreSettings:
    """A copy of ``settings`` with some fields changed (without calling a subclass's ``__init__``)."""
    import copy

    out = copy.copy(settings)
    for key, value in changes.items():
        setattr(out, key, value)
    return out


class PieceMaker:
    """A worker's models (loaded once) and the making of pieces.

    Args:
        recipe: the input and how to restore it.
        device: this worker's device (``cpu``, ``cuda:1`` ...).
        threads: torch threads for this worker on the CPU (None leaves torch's choice).
    """

    def __init__(self, recipe: Recipe, device: str, threads: int | None = None) -> None:
        import torch

        from edvr_cli.engine.device import default_precision, resolve_device
        from edvr_cli.jobs.models import Models
        from edvr_cli.model.descriptor import load_descriptor

        if threads:
            torch.set_num_threads(threads)
        self.recipe = recipe
        dev = resolve_device(device)
        s = recipe.settings
        stage1 = load_descriptor(recipe.stage1.path, dev, padding=recipe.stage1.padding, name=recipe.stage1.name)
        stage2 = None
        if recipe.stage2 is not None:
            stage2 = load_descriptor(recipe.stage2.path, dev, padding=recipe.stage2.padding, name=recipe.stage2.name)
        settings = _with(s, device=str(dev), batch=recipe.batch)
        self.models = Models(stage1, stage2, dev, s.precision or default_precision(dev))
        self.settings = settings

    @classmethod
    def from_models(cls, recipe: Recipe, models: Any) -> PieceMaker:
        """A maker over models this process already loaded (the one-worker case)."""
        maker = cls.__new__(cls)
        maker.recipe = recipe
        maker.models = models
        maker.settings = _with(recipe.settings, batch=recipe.batch)
        return maker

    def make(self, spec: SegmentSpec, part: str | os.PathLike, on_frame: Callable[[], None] | None = None,
             warn: Callable[[str], None] | None = None) -> Segment:
        """Restore and encode segment ``spec`` into the piece file ``part``; returns it as a finished segment."""
        from edvr_cli.jobs.job import Job
        from edvr_cli.video.reader import FrameReader

        r = self.recipe
        job = Job(Path(r.src), Path(r.dst), r.info, self.settings, self.models, r.tile, warn or (lambda m: None), None)
        start, stop = decode_range(spec, r.total, r.context, r.reach)
        reader = FrameReader(r.src, r.info, on_warning=job.warn, deinterlace=self.settings.deinterlace,
                             start=r.index.seconds(spec.first),
                             end=r.index.seconds(spec.stop) if spec.stop < r.total else None,
                             context_before=spec.first - start, context_after=stop - spec.stop)
        writer = job.open_writer(Path(part), copy_streams=False)
        try:
            video = hasattr(writer, "time_base")
            times: list[int] = []
            if video:
                tb = r.index.time_base
                floor = output_times([r.index.pts[spec.first - 1]], tb, writer.time_base)[0] if spec.first else None
                times = output_times(r.index.pts[spec.first:spec.stop], tb, writer.time_base, floor)

            def restore(frames: Iterator[Any]) -> Iterator[Any]:
                stream: Any = (f.image for f in frames)
                first = start
                for j, restorer in enumerate(job.restorers(writer)):
                    out_start = max(0, spec.first - sum(r.aheads[j + 1:]))
                    stream = restorer.run(stream, first_index=first, start=out_start)
                    first = out_start
                return stream

            def write(out: Any, n: int) -> None:
                if video:
                    writer.write(out, times[n], writer.time_base)
                else:
                    writer.write(out)

            written = job.overlapped(reader, restore, write, count=spec.count, on_output=on_frame,
                                     offset=spec.first)
            if written != spec.count:
                raise RuntimeError(f"segment {spec.index} made {written} of {spec.count} frames")
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            reader.close()
        return Segment(spec.index, spec.first, spec.count, times[-1] if times else None)
