"""The plan of one run: every decision a restoration makes, computed once in the driver.

:func:`make_plan` reads the settings, the input (one :func:`~edvr_cli.video.source.inspect`, and the
frame index when the run is cut into independent segments) and the loaded models, and returns a
:class:`RunPlan`. ``--dry-run`` prints :func:`plan_lines` of it; a run executes it; worker processes
and Ray actors receive it and read no fact again.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edvr_cli.errors import UsageError
from edvr_cli.guard.inputs import check_input
from edvr_cli.jobs.segplan import (
    SegmentSpec,
    plan_segments,
    segment_frames_on_grid,
)
from edvr_cli.jobs.settings import DEFAULT_MODELS, TASK_SCALE, RestoreSettings
from edvr_cli.jobs.workfolder import RESUME_MIN_FRAMES, work_dir
from edvr_cli.video.shots import ShotPlan

if TYPE_CHECKING:
    from edvr_cli.video.paths import OutputKind


@dataclass(frozen=True)
class ModelRef:
    """A model of the run as workers load it: its file and digest, and the facts the plan uses."""

    name: str
    path: str | None  # None: not on this machine yet (a dry run of a model a real run downloads)
    sha256: str | None
    padding: str
    scale: int
    num_frame: int
    centre: int
    multiple_of: int
    naming: str = ""
    hr_in: bool = False
    file: str = ""  # the registry's file name of a model not downloaded yet

    @property
    def ahead(self) -> int:
        """Frames a window may need on either side of its centre (:func:`~edvr_cli.model.padding.lookahead`)."""
        from edvr_cli.model.padding import lookahead

        return lookahead(self.num_frame)

    @classmethod
    def of(cls, d: Any) -> ModelRef:
        """The reference of a loaded :class:`~edvr_cli.model.descriptor.ModelDescriptor`."""
        return cls(d.name, None if d.path is None else str(d.path), d.sha256, d.padding, d.scale, d.num_frame,
                   d.center_frame_idx, d.multiple_of, d.naming, d.hr_in)


@dataclass(frozen=True)
class Execution:
    """How the models run: resolved once, the same for every segment and worker.

    ``tiles`` holds each stage's tile edge (0: whole frames; None: automatic, decided where the model
    runs, when the plan was made without the model); ``threads`` is torch's thread count per CPU worker
    (None on GPUs); ``executor`` is ``inline`` (this process), ``processes`` or ``ray``.
    """

    device: str
    precision: str
    tiles: tuple[int | None, ...]
    tile_overlap: int
    batch: int
    threads: int | None
    compile: bool
    channels_last: bool | None
    cache_features: bool = True
    executor: str = "inline"
    workers: int = 1
    devices: tuple[str, ...] = ()
    cluster: str | None = None


@dataclass(frozen=True)
class SegmentPlan:
    """How a resumable run is cut: segments of ``segment_frames`` (a whole number of batches), made
    independently from the frame ``index`` when the input can be cut, else in one sequential pass."""

    segment_frames: int
    specs: tuple[SegmentSpec, ...]
    independent: bool
    index: Any = None  # FrameIndex when independent


@dataclass(frozen=True)
class RunPlan:
    """Everything one run does, decided before any frame is decoded (see the module doc)."""

    src: Path
    dst: Path
    kind: OutputKind
    settings: RestoreSettings
    info: Any  # VideoInfo, with the span
    source: Any  # SourceVideo
    deinterlacing: bool
    fps: Fraction | None
    frames: int | None
    source_frames: int | None
    stage1: ModelRef
    stage2: ModelRef | None
    execution: Execution
    width: int
    height: int
    encoder: Any  # EncoderSettings, None for frame folders
    out_bits: int
    streams: Any  # StreamPlan
    resumable: bool
    why: str
    segments: SegmentPlan | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    shot_plan: ShotPlan = ShotPlan("off")

    @property
    def aheads(self) -> tuple[int, ...]:
        """Frames each stage's windows may reach on either side of a centre."""
        return tuple(s.ahead for s in self.stages)

    @property
    def grid(self) -> int:
        """The batch grid: centres are batched in blocks of this many clip indices."""
        return self.execution.batch

    @property
    def field_rate(self) -> bool:
        """One output frame per field (the rate doubled)."""
        return field_rate(self.settings, self.info)

    @property
    def output_info(self) -> Any:
        """The input's facts as the writers see the restored frames: at the field rate, in half the time
        base, when each field becomes a frame."""
        if not self.field_rate:
            return self.info
        return dataclasses.replace(self.info, fps=self.fps, time_base=self.info.time_base / 2)

    @property
    def stages(self) -> tuple[ModelRef, ...]:
        return (self.stage1,) if self.stage2 is None else (self.stage1, self.stage2)

    @property
    def scale(self) -> int:
        return self.stage1.scale

    @property
    def label(self) -> str:
        """How messages name the output."""
        return "standard output" if self.kind.value == "stdout" else self.dst.name

    @property
    def copies_streams(self) -> bool:
        return self.kind.value == "file" and not self.info.is_image_sequence and not self.info.is_pipe

    @property
    def segment_count(self) -> int | None:
        if self.segments is None:
            return 1
        return len(self.segments.specs) or None


# -- making the plan ---------------------------------------------------------------------------------

def asks_parallel(settings: RestoreSettings) -> bool:
    """Whether the options ask for segments made at once (``--workers N`` or ``--cluster``)."""
    return (settings.workers or 1) > 1 or bool(settings.cluster)


def field_rate(settings: RestoreSettings, info: Any) -> bool:
    """Whether each field becomes a frame (``--deinterlace field``; image sequences have no fields)."""
    return settings.deinterlace == "field" and not info.is_image_sequence


def output_path(output_path: str | os.PathLike) -> Path:
    """The output as a Path: ``-`` as is, ``.`` / ``..`` as the folder they name."""
    from edvr_cli.video.paths import is_stdout

    dst = Path(output_path)
    if not dst.name and not is_stdout(output_path):
        dst = dst.resolve()
    return dst


def make_plan(input_path: str | os.PathLike, output_path_: str | os.PathLike, settings: RestoreSettings,
              models: Any = None) -> RunPlan:
    """The plan of restoring ``input_path`` into ``output_path_``; raises the error a run would raise first.

    ``models`` are the loaded :class:`~edvr_cli.jobs.models.Models`, or a function loading them (called
    after the input and output checks, so their errors come first); None plans from the registry (a dry
    run of a model that is not on this machine yet).
    """
    from edvr_cli.guard.output import check_output
    from edvr_cli.jobs.limits import check_frame_size
    from edvr_cli.jobs.provenance import notes as provenance_notes
    from edvr_cli.jobs.workfolder import remove_if_placed
    from edvr_cli.video.encoder import output_format
    from edvr_cli.video.paths import OutputKind, output_kind
    from edvr_cli.video.source import inspect

    if settings.task not in TASK_SCALE:
        raise UsageError(f"unknown task {settings.task!r}")
    if settings.devices and not ((settings.workers or 1) > 1 and not settings.cluster):
        raise UsageError("--devices names the devices of local workers: use it with --workers N "
                         "(Ray gives each worker its own GPU; one process uses --device)")
    src = check_input(input_path)
    dst = output_path(output_path_)
    kind = output_kind(dst)
    notes: list[str] = []
    if kind is not OutputKind.STDOUT:
        if not settings.dry_run:
            remove_if_placed(dst)  # a work folder whose output a killed run had already put in place
        check_output(dst, overwrite=settings.overwrite, inputs=[src], folder=kind is OutputKind.FRAMES)
    fmt = "yuv4mpegpipe" if kind is OutputKind.STDOUT else output_format(dst) if kind is OutputKind.FILE else None
    try:
        seen = inspect(src, start=settings.start, end=settings.end,
                       output_format=fmt if kind is OutputKind.FILE else None)
    except ValueError as exc:  # a malformed --start / --end
        raise UsageError(str(exc)) from None
    info = seen.info
    check_frame_size(info.width, info.height, TASK_SCALE[settings.task])
    if callable(models):
        models = models()
    stages = _model_refs(settings, models)
    _check_fit(settings, info, stages)
    width, height = _output_size(info, settings, stages[0].scale)

    fields = field_rate(settings, info)
    deinterlacing = settings.deinterlace in ("on", "field") or (settings.deinterlace == "auto" and info.interlaced)
    fps = None if info.fps is None else info.fps * (2 if fields else 1)
    frames = _frame_count(info, seen.index, fields)

    encoder, out_bits = _encoding(info, seen.source, fmt, width, height, settings, notes)
    streams = seen.streams
    _stream_notes(kind, info, settings, streams, dst, notes)
    notes += provenance_notes(settings, kind, fmt)

    resumable, why = decide_resume(settings, kind, info, frames, work_dir(dst) if kind is not OutputKind.STDOUT
                                else None)
    parallel = resumable and _independent(info, fields, seen.index) and asks_parallel(settings)
    execution, tile_note = _execution(settings, models, stages, info, parallel)
    if tile_note:
        notes.append(tile_note)
    asked = [o for o, on in (("--cluster", settings.cluster), ("--workers", (settings.workers or 1) > 1),
                             ("--resume", settings.resume)) if on]
    if asked and (kind.value == "stdout" or info.is_pipe):  # a stream is never resumable
        notes.append(f"{' and '.join(asked)} {'is' if len(asked) == 1 else 'are'} not used: {why}")
    work = work_dir(dst) if kind.value != "stdout" else None
    if not resumable and work is not None and work.is_dir():
        notes.append(f"'{work.name}' holds an unfinished resumable run of this output; " + (
            "it is discarded (--overwrite)" if settings.overwrite else "--no-resume leaves it alone"))
    shots = shot_plan(settings, info, seen.index, fields)
    segments = None
    if resumable:
        execution = _as_recorded(execution, settings, dst)
        segments = _segments(info, settings, execution.batch, frames, fields, seen.index, shots)
        execution = _executor(settings, execution, segments, info, notes)
    source_frames = frames if not fields else _frame_count(info, seen.index, False)
    return RunPlan(src, dst, kind, settings, info, seen.source, deinterlacing, fps, frames, source_frames, stages[0],
                   stages[1] if len(stages) > 1 else None, execution, width, height, encoder, out_bits, streams,
                   resumable, why, segments, tuple(notes), shots)


def _check_fit(settings: RestoreSettings, info: Any, stages: tuple[ModelRef, ...]) -> None:
    """Refuse a tile or frames the models cannot take (stage 2 at stage 1's output size)."""
    from edvr_cli.jobs.limits import check_model_fit, check_tile

    check_tile(settings, stages[0].multiple_of)
    check_model_fit(info.width, info.height, stages[0].multiple_of)
    if len(stages) > 1:
        check_model_fit(info.width * stages[0].scale, info.height * stages[0].scale, stages[1].multiple_of)


def _encoding(info: Any, source: Any, fmt: str | None, width: int, height: int, settings: RestoreSettings,
              notes: list[str]) -> tuple[Any, int]:
    """(encoder settings or None for frame folders, bits the restored frames are quantised to)."""
    if fmt is None:
        unused = [f"--{k.replace('_', '-')}" for k in ("codec", "crf", "preset", "pix_fmt")
                  if getattr(settings, k) is not None]
        if unused:
            notes.append(f"PNG frame output ignores {', '.join(unused)}")
        return None, 16 if info.bit_depth > 8 else 8  # PNG frames: 16-bit files for >8-bit sources
    from edvr_cli.video.writer import output_notes, plan_encoder

    encoder, said = plan_encoder(info, source, fmt, width, height, codec=settings.codec, crf=settings.crf,
                                 preset=settings.preset, pix_fmt=settings.pix_fmt)
    notes += said + output_notes(info, fmt, encoder.codec, width, height, to_stdout=fmt == "yuv4mpegpipe")
    return encoder, 16 if info.bit_depth > 8 and encoder.bit_depth > 8 else 8


def _stream_notes(kind: OutputKind, info: Any, settings: RestoreSettings, streams: Any, dst: Path,
                  notes: list[str]) -> None:
    """``--strict-streams`` refuses now; outputs that carry no audio or subtitles say so."""
    others = info.has_audio or info.has_subtitles
    if kind.value == "file" and settings.strict_streams and not info.is_image_sequence:
        streams.check_strict(dst.name)
    if kind.value == "stdout" and others:
        notes.append("standard output (YUV4MPEG2) carries video only; audio and subtitles are not written")
    if kind.value == "frames" and others:
        notes.append("PNG frame output has no audio or subtitles; they are not copied")


def _output_size(info: Any, settings: RestoreSettings, scale: int) -> tuple[int, int]:
    """The stored size of the written frames. ``--size`` names the displayed size, as ffmpeg's (which
    rotates, then scales): on a clip shown turned by 90 or 270 degrees its sides are the stored ones
    swapped (the rotation itself is carried as metadata)."""
    from edvr_cli.engine.resize import plan_output_size, size_alignment

    size = settings.size
    if size is not None and info.rotation % 180 == 90:
        size = (size[1], size[0])
    try:
        return plan_output_size(info.width, info.height, scale, size=size, scale=settings.scale,
                                align=size_alignment(info.chroma, settings.pix_fmt))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _model_refs(settings: RestoreSettings, models: Any) -> tuple[ModelRef, ...]:
    """The models' references: of the loaded ones; else each read where it is, or the registry's entry
    of one a real run downloads first (a dry run downloads nothing)."""
    if models is not None:
        return tuple(ModelRef.of(d) for d in (models.stage1, models.stage2) if d is not None)
    specs = model_specs(settings)
    first = _unloaded_ref(specs[0], settings.padding, settings)
    if len(specs) == 1:
        return (first,)
    return first, _unloaded_ref(specs[1], first.padding, settings, stage2=True)


def to_download(spec: str) -> Any:
    """The registry entry of a published model a real run would download first; None for one that is here
    (a file, a bundled or cached model) or that the registry does not know."""
    from edvr_cli.zoo import cache
    from edvr_cli.zoo.registry import default_registry

    entry = default_registry().get(spec)
    if entry is None or entry.bundled or Path(spec).expanduser().is_file() or cache.get(entry.name):
        return None
    return entry


def model_specs(settings: RestoreSettings) -> list[str]:
    """The models a run names: stage 1 (the task's default unless given), and stage 2 when given."""
    return [settings.model or DEFAULT_MODELS[settings.task], *([settings.stage2] if settings.stage2 else [])]


def _unloaded_ref(spec: str, padding: str | None, settings: RestoreSettings, stage2: bool = False) -> ModelRef:
    from edvr_cli.model.arch import EDVRConfig

    entry = to_download(spec)
    if entry is not None:
        hr_in = stage2 or entry.scale == 1  # published x1 models take full-resolution input
        multiple = EDVRConfig(num_frame=entry.frames, hr_in=hr_in).multiple_of
        return ModelRef(entry.name, None, entry.sha256 or None, padding or entry.padding, entry.scale,
                        entry.frames, entry.frames // 2, multiple, "", hr_in, entry.file or "")
    import torch

    from edvr_cli.jobs.models import load_one

    descriptor, _ = load_one(spec, torch.device("cpu"), padding=padding, hf_repo=settings.hf_repo, quiet=True)
    return ModelRef.of(descriptor)


def _execution(settings: RestoreSettings, models: Any, stages: tuple[ModelRef, ...], info: Any,
               parallel: bool) -> tuple[Execution, str]:
    """Device, precision, threads, batch and tiles, resolved once (one thread policy, one batch rule).
    Without the models (a dry run before a download) tiles stay as given: the run decides them. The
    cores and GPUs are shared among workers only when the run is ``parallel`` (cut into independent
    segments for several workers)."""
    from edvr_cli.engine.device import auto_batch, default_precision, resolve_device, worker_threads
    from edvr_cli.jobs.limits import effective_tile

    device = models.device if models is not None else resolve_device(settings.device)
    precision = models.precision if models is not None else settings.precision or default_precision(device)
    workers = _workers_here(settings) if parallel else 1
    threads = None
    if device.type == "cpu":
        threads = worker_threads(workers, settings.threads) if workers else settings.threads
    batch = settings.batch or auto_batch(device, threads)
    tile = effective_tile(settings.tile, info.width, info.height)
    note = ""
    if tile != settings.tile:
        note = f"{info.width}x{info.height} frames are too large to restore whole; tiling them (--tile auto)"
    tiles: tuple[int | None, ...] = (tile,) * len(stages)
    cache = True
    if models is not None:
        tiles, batch, cache = _tiles(models, device, precision, tile, batch, settings, info,
                                      _sharing(settings) if parallel else 1)
    if not cache:
        note = (note + "; " if note else "") + ("the feature cache does not fit the device: features are "
                                                "recomputed for every window (slower)")
    return Execution(str(device), precision, tiles, settings.tile_overlap, batch, threads, settings.compile,
                     settings.channels_last, cache_features=cache), note


def _as_recorded(execution: Execution, settings: RestoreSettings, dst: Path) -> Execution:
    """Continuing an unfinished run: the batch, threads and tiles its segments were made with, where the
    options leave them open (so ``--workers 2`` continues a one-process run, and every segment is alike)."""
    from edvr_cli.jobs.workfolder import recorded_run

    run = recorded_run(dst)
    recorded = run.get("settings") if run else None
    if not isinstance(recorded, dict):
        return execution
    changes: dict[str, Any] = {}
    if settings.batch is None and isinstance(recorded.get("batch"), int) and recorded["batch"] != execution.batch:
        changes["batch"] = recorded["batch"]
    threads = recorded.get("threads")
    if settings.threads is None and execution.threads is not None and isinstance(threads, int) \
            and threads != execution.threads:
        changes["threads"] = threads
    tiles = recorded.get("tile")
    if settings.tile is None and isinstance(tiles, list) and len(tiles) == len(execution.tiles) \
            and tuple(tiles) != execution.tiles:
        changes["tiles"] = tuple(tiles)
    return dataclasses.replace(execution, **changes)


def _sharing(settings: RestoreSettings) -> int:
    """Local workers that share one GPU (``--workers 4 --devices cuda:0,cuda:1``: 2); each plans for its part."""
    workers = settings.workers or 1
    if settings.cluster or workers <= 1:
        return 1
    devices = len(set(settings.devices)) if settings.devices else None
    if devices is None:
        import torch

        devices = torch.cuda.device_count() if settings.device in ("auto", "cuda") else 1
    return max(1, -(-workers // max(1, devices)))


def _workers_here(settings: RestoreSettings) -> int | None:
    """Workers sharing this machine's cores: ``--workers`` (a local Ray cluster: one per core by default);
    None on a remote cluster (its workers keep torch's thread count)."""
    import os

    if settings.cluster == "local":
        return settings.workers or os.cpu_count() or 1
    if settings.cluster:
        return None
    return settings.workers or 1


def _tiles(models: Any, device: Any, precision: str, tile: int | None, batch: int, settings: RestoreSettings,
           info: Any, sharing: int) -> tuple[tuple[int | None, ...], int, bool]:
    """Each stage's tile at its input size, one batch for all stages (the smallest any needs), and whether
    the feature cache fits beside them (``sharing``: workers on one device)."""
    from edvr_cli.engine.memory import resolve_tile_and_batch

    stages = [(models.stage1, info.height, info.width)]
    if models.stage2 is not None:
        stages.append((models.stage2, info.height * models.scale, info.width * models.scale))
    given = settings.batch is not None
    for d, h, w in stages:
        batch = min(batch, resolve_tile_and_batch(h, w, d, device, precision, tile, batch, given,
                                                  settings.tile_overlap, sharing).batch)
    plans = [resolve_tile_and_batch(h, w, d, device, precision, tile, batch, True, settings.tile_overlap, sharing)
             for d, h, w in stages]
    return tuple(p.tile for p in plans), batch, all(p.cache_features for p in plans)


def decide_resume(settings: RestoreSettings, kind: OutputKind, info: Any, frames: int | None,
               work: Path | None) -> tuple[bool, str]:
    """Whether the run is made as segments in a work folder, and why (or why not), in words."""
    if kind.value == "stdout":
        return False, "standard output is written in one pass"
    if info.is_pipe:
        return False, "standard input can be read only once"
    if asks_parallel(settings):
        return True, "segments are how parallel work is joined"
    if settings.resume is not None:
        return settings.resume, "--resume" if settings.resume else "--no-resume"
    if work is not None and work.is_dir():
        return True, f"an unfinished run of this output is waiting in '{work.name}'"
    if frames is None:
        return True, "the frame count is unknown"
    if frames > RESUME_MIN_FRAMES:
        return True, f"more than {RESUME_MIN_FRAMES} frames"
    return False, f"{frames} frames; resumable from {RESUME_MIN_FRAMES + 1} on, or with --resume"


def _frame_count(info: Any, index: Any, fields: bool) -> int | None:
    """Frames the reader yields (fields, at the field rate): counted by the index where its times are
    usable, else the probe's count or estimate."""
    field = Fraction(1, 2) / info.fps if fields and info.fps else None
    if index is not None and index.frames and (index.seekable or info.span is None):
        return None if fields and field is None else index.count(info.span, field)
    count = info.expected_frames
    return None if count is None else count * (2 if fields else 1)


def _independent(info: Any, fields: bool, index: Any) -> bool:
    """Whether segments can be made apart: seekable times and no span or field rate (which the segment
    readers cannot reproduce)."""
    return info.span is None and not fields and index is not None and index.seekable and bool(index.frames)


def shot_plan(settings: RestoreSettings, info: Any, index: Any, fields: bool) -> ShotPlan:
    """``--shots``: auto (cuts found as the frames are read), off, or the cuts of a file as clip frame
    indices (the first frame at or after each time; times outside the span are no cut)."""
    from edvr_cli.digest import sha256_file
    from edvr_cli.video.shots import SHOT_MODES, cuts_at, shots_file

    mode = settings.shots
    if mode in SHOT_MODES:
        return ShotPlan(mode)
    path, times = shots_file(mode)
    origin = info.span[0] if info.span is not None else Fraction(0)
    shown = [t - origin for t in times]  # on the clip's timeline
    if index is not None and index.pts and (index.seekable or info.span is None):
        clip = [index.seconds(i) - origin for i in range(index.frames)]
        clip = [t for t in clip if t >= 0 and (info.span is None or info.span[1] is None or t + origin < info.span[1])]
    elif info.fps:
        count = info.expected_frames or 0
        clip = [Fraction(k) / info.fps for k in range(count)] if count else []
    else:
        clip = []
    if not clip and times:
        raise UsageError("--shots: this input's frame times are not known in advance, so cut times cannot be "
                         "placed; use --shots auto")
    cuts = cuts_at(shown, clip)
    if fields:  # each field a frame: a cut starts at the first field of its frame
        cuts = [2 * c for c in cuts]
    return ShotPlan("file", tuple(cuts), str(path), sha256_file(path))


def _segments(info: Any, settings: RestoreSettings, batch: int, frames: int | None, fields: bool, index: Any,
              shots: ShotPlan) -> SegmentPlan:
    """The segments: independent ones from the frame index when the input can be cut (ending at the
    known cuts near their boundaries), else sequential."""
    n = segment_frames_on_grid(settings.segment_frames, batch)  # the run line says when it was rounded
    if _independent(info, fields, index):
        cut = plan_segments(index.frames, n, cuts=shots.cuts or (), grid=batch)
        return SegmentPlan(n, tuple(cut), True, index)
    return SegmentPlan(n, tuple(plan_segments(frames, n)) if frames else (), False)


def _executor(settings: RestoreSettings, execution: Execution, segments: SegmentPlan, info: Any,
              notes: list[str]) -> Execution:
    """Where the segments run: this process, local worker processes, or Ray (one rule for the devices)."""
    if not asks_parallel(settings):
        return execution
    if not segments.independent:
        reason = ("--start/--end" if info.span is not None else "--deinterlace field" if field_rate(settings, info)
                  else "no seekable timestamps")
        notes.append(f"'{info.label}' cannot be cut into independent segments ({reason}); "
                     "it runs as one sequential pass")
        return execution
    if settings.cluster:
        return dataclasses.replace(execution, executor="ray", workers=settings.workers or 0,
                                   devices=tuple(settings.devices or ()), cluster=settings.cluster)
    return dataclasses.replace(execution, executor="processes", workers=settings.workers or 1,
                               devices=_worker_devices(settings, execution.device))


def _worker_devices(settings: RestoreSettings, device: str) -> tuple[str, ...]:
    """``--devices`` as given; else the device named with ``--device cuda:N`` for every worker, every
    visible GPU for a plain ``cuda`` run, else the run's device."""
    if settings.devices:
        return tuple(settings.devices)
    if device.startswith("cuda") and ":" in device:
        return (device,)
    if device.startswith("cuda"):
        import torch

        return tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    return (device,)


# -- the plan in words ---------------------------------------------------------------------------------

def plan_lines(plan: RunPlan) -> list[str]:
    """The lines ``--dry-run`` prints: the plan the run executes."""
    from edvr_cli.jobs.provenance import plan_line as provenance_line
    from edvr_cli.video.paths import OutputKind

    lines = [_input_line(plan), _colour_line(plan.info)]
    for label, ref in (("model", plan.stage1), ("stage 2", plan.stage2)):
        if ref is None:
            continue
        if ref.path is None:
            lines.append(f"{label}: {ref.name} (x{ref.scale}, {ref.num_frame} frames, padding {ref.padding}; not "
                         f"downloaded yet: a real run downloads {ref.file or 'it'} first)")
            continue
        digest = f", sha256 {ref.sha256[:16]}..." if ref.sha256 else ""
        lines.append(f"{label}: {ref.name} (x{ref.scale}, {ref.num_frame} frames, centre {ref.centre}, "
                     f"padding {ref.padding}, {ref.naming} naming{digest})")
    ex = plan.execution
    threads = ""
    if ex.threads:
        threads = f", {ex.threads} thread{'s' if ex.threads > 1 else ''}" + (" per worker" if ex.executor != "inline"
                                                                            else "")
    lines.append(f"device: {ex.device}, {ex.precision}{threads}")
    lines.append(f"tiles: {_tiles_words(ex)}; centre frames per forward: {ex.batch}")
    rate = _rate(plan.fps)
    count = f"{plan.frames} frames" if plan.frames is not None else "frame count unknown"
    if plan.kind is OutputKind.FRAMES:
        lines.append(f"output: {plan.dst.name}/: {plan.width}x{plan.height} {plan.out_bits}-bit PNG frames, {count}")
    else:
        enc = plan.encoder
        crf = f" crf {enc.crf}" if enc.crf is not None else ""
        preset = f" preset {enc.preset}" if enc.preset else ""
        lines.append(f"output: {plan.label}: {plan.width}x{plan.height}, encoder {enc.codec}{crf}{preset}, "
                     f"{enc.pix_fmt}, {rate}, {count}")
    lines.append(f"shots: {plan.shot_plan.describe()}")
    if plan.settings.report is not None:
        from edvr_cli.report.files import report_paths

        json_path, html_path = report_paths(plan.settings.report)
        lines.append(f"report: {json_path.name} and {html_path.name}, written after the run")
    if plan.copies_streams:
        lines += [f"stream: {line}" for line in plan.streams.lines()]
    lines.append(provenance_line(plan))
    lines += [f"note: {n}" for n in plan.notes]
    lines.append(_run_line(plan))
    lines.append("nothing was written (--dry-run)")
    return lines


def _rate(fps: Fraction | None) -> str:
    return f"{float(fps):.3f}".rstrip("0").rstrip(".") + " fps" if fps else "unknown rate"


def _input_line(plan: RunPlan) -> str:
    info = plan.info
    kind = "image sequence" if info.is_image_sequence else info.codec_name
    frames = f"{plan.source_frames} frames" if plan.source_frames is not None else "frame count unknown"
    extra = [s for s, on in (("audio", info.has_audio), ("subtitles", info.has_subtitles)) if on]
    span = ""
    if info.span is not None:
        from edvr_cli.video.span import format_time

        start, end = info.span
        span = f", span {format_time(start)}-{format_time(end) if end is not None else 'end'}"
    deint = ""
    if plan.deinterlacing:
        deint = ", deinterlaced (bwdif, one frame per field)" if plan.settings.deinterlace == "field" else \
            ", deinterlaced (bwdif)"
    return (f"input: {info.label}: {kind} {info.width}x{info.height} {info.pix_fmt} {info.bit_depth}-bit, "
            f"{_rate(info.fps)}, {frames}{span}{deint}" + (f", {' and '.join(extra)}" if extra else ""))


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


def _tiles_words(ex: Execution) -> str:
    words = []
    for tile in ex.tiles:
        words.append({None: "automatic (whole frames when they fit the device)", 0: "whole frames"}.get(
            tile, f"{tile} px tiles, {ex.tile_overlap} px overlap"))
    return words[0] if len(set(words)) == 1 else "; ".join(f"stage {i + 1}: {w}" for i, w in enumerate(words))


def _run_line(plan: RunPlan) -> str:
    if not plan.resumable:
        if plan.kind.value == "stdout":
            return "run: one pass into standard output"
        return f"run: one pass into a temporary file, renamed into place ({plan.why})"
    seg = plan.segments
    assert seg is not None
    count = f"{len(seg.specs)} segment(s)" if seg.specs else "segments"
    at_cuts = sum(1 for spec in seg.specs[:-1] if spec.stop in (plan.shot_plan.cuts or ()))
    if at_cuts:
        count += f" ({at_cuts} ending at a scene cut)"
    ex = plan.execution
    ray_workers = f"{ex.workers} worker(s)" if ex.workers else "a worker per GPU, else per CPU"
    how = {"inline": "in this process", "processes": f"on {ex.workers} local worker(s) ({', '.join(ex.devices)})",
           "ray": f"on the Ray cluster '{ex.cluster}' ({ray_workers})"}[ex.executor]
    order = "independent" if seg.independent else "sequential"
    rounded = f" (whole batches of {plan.grid})" if seg.segment_frames != plan.settings.segment_frames else ""
    work = work_dir(plan.dst)
    where = (f"continuing the unfinished run in '{work.name}' (batch {ex.batch}, tiles and threads as recorded)"
             if work.is_dir() and not plan.settings.overwrite else f"in '{work.name}'")
    return (f"run: resumable ({plan.why}), {count} of {seg.segment_frames} frames{rounded}, {order}, {how}, "
            f"{where}, joined at the end")
