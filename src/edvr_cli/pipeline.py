"""The restoration job: decode -> (stage 1 -> stage 2) -> encode, as a streaming pipeline.

Decoding and encoding run on background threads with bounded queues, so memory stays flat and the
network never waits for I/O it could overlap with. The output is written under a temporary name and
renamed into place only when complete.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .arch import EDVR
from .checkpoint import load_model
from .errors import EDVRError, InputError, ModelKindError, OutputExistsError
from .restorer import StreamRestorer, default_precision, resolve_device
from .windows import PADDINGS

DEFAULT_MODELS = {"upscale": "EDVR_L_x4_SR_REDS", "deblur": "EDVR_L_deblur_REDS"}
TASK_SCALE = {"upscale": 4, "deblur": 1}
QUEUE_DEPTH = 8

WarningCallback = Callable[[str], None]


@dataclass
class RestoreSettings:
    """Everything a restoration run can be told; every field has a sensible default.

    Args:
        task: 'upscale' (x4 models) or 'deblur' (x1 models).
        model: registry name, imported name, or checkpoint path; None = the task's default.
        stage2: optional stage-2 model (name or path) run over windows of stage-1 outputs.
        padding: temporal edge padding; None = the model's published mode.
        tile: tile edge in input pixels; 0 = whole frame; None = automatic.
        tile_overlap: pixels shared by neighbouring tiles (input scale).
        device: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.
        precision: 'fp32', 'fp16' or 'bf16'; None = fp16 on CUDA, fp32 elsewhere.
        batch: centre frames per forward.
        codec, crf, preset, pix_fmt: encoder control (None = derived from the input).
        overwrite: replace existing outputs.
        hf_repo: Hugging Face mirror to download published weights from.
        quiet: no progress output.
    """

    task: str = "upscale"
    model: str | None = None
    stage2: str | None = None
    padding: str | None = None
    tile: int | None = None
    tile_overlap: int = 16
    device: str = "auto"
    precision: str | None = None
    batch: int = 1
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    overwrite: bool = False
    hf_repo: str | None = None
    quiet: bool = False


@dataclass
class LoadedModel:
    """A network ready to run, with what the pipeline needs to know about it."""

    model: EDVR
    name: str
    padding: str
    task: str | None = None


@dataclass
class Models:
    """Stage 1 and the optional stage 2, on one device."""

    stage1: LoadedModel
    stage2: LoadedModel | None
    device: torch.device
    precision: str

    @property
    def scale(self) -> int:
        return self.stage1.model.scale


@dataclass
class RestoreResult:
    """What one restoration produced."""

    input: Path
    output: Path
    frames: int
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _published_padding(resolved_entry, scale: int) -> str:
    if resolved_entry is not None and getattr(resolved_entry, "padding", None):
        return resolved_entry.padding
    return "reflection_circle" if scale == 4 else "replicate"


def _load_one(spec: str, settings: RestoreSettings, device: torch.device) -> LoadedModel:
    from .zoo import resolve_model

    resolved = resolve_model(spec, hf_repo=settings.hf_repo, quiet=settings.quiet)
    model = load_model(resolved.path, device=device)
    entry = resolved.entry
    return LoadedModel(model, resolved.name, _published_padding(entry, model.scale), getattr(entry, "task", None))


def load_models(settings: RestoreSettings) -> Models:
    """Resolve (downloading on first use), load and check the models a run needs."""
    if settings.task not in TASK_SCALE:
        raise ValueError(f"unknown task {settings.task!r}")
    if settings.padding is not None and settings.padding not in PADDINGS:
        raise EDVRError(f"unknown --padding {settings.padding!r}; choose one of {', '.join(PADDINGS)}")
    try:
        device = resolve_device(settings.device)
    except (ValueError, RuntimeError) as exc:
        raise EDVRError(str(exc)) from None
    precision = settings.precision or default_precision(device)
    spec = settings.model or DEFAULT_MODELS[settings.task]
    try:
        stage1 = _load_one(spec, settings, device)
    except EDVRError as exc:
        if settings.model is None and settings.task == "upscale":
            raise type(exc)(f"{exc}. To work offline now, use the bundled model: --model edvr-tiny") from None
        raise
    want = TASK_SCALE[settings.task]
    if stage1.task is not None and stage1.task.startswith("stage2"):
        raise ModelKindError(f"{stage1.name} is a stage-2 model; pass it with --stage2 after a stage-1 model")
    if stage1.model.scale != want:
        kind = f"x{stage1.model.scale}"
        hint = "use `edvr deblur`" if settings.task == "upscale" else "use `edvr upscale`"
        raise ModelKindError(f"{stage1.name} is a {kind} model, but `edvr {settings.task}` needs x{want}; {hint}")
    padding = settings.padding or stage1.padding
    stage1.padding = padding
    stage2 = None
    if settings.stage2:
        stage2 = _load_one(settings.stage2, settings, device)
        if not stage2.model.config.hr_in:
            raise ModelKindError(
                f"{stage2.name} is not a stage-2 model (stage 2 takes full-resolution input and keeps its size)"
            )
        stage2.padding = padding  # the same padding mode in both stages, as the original did
    return Models(stage1, stage2, device, precision)


# -- background I/O -----------------------------------------------------------------------------------

class _Stop(Exception):
    """Raised inside a worker when the pipeline is shutting down."""


_END = object()


class _Worker(threading.Thread):
    """A daemon thread whose exception is re-raised in the main thread by :meth:`check`."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except _Stop:
            pass
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stop
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: threading.Event, producer: _Worker | None = None):
    """Next item; re-raises the producer thread's error, and ends if it died without saying so."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if producer is not None:
                producer.check()
            if stop.is_set():
                raise _Stop from None
            if producer is not None and not producer.is_alive() and q.empty():
                producer.check()
                return _END


# -- one input ----------------------------------------------------------------------------------------

def _restorers(models: Models, settings: RestoreSettings, out_bits: int) -> list[StreamRestorer]:
    common = dict(device=models.device, precision=models.precision, tile=settings.tile,
                  tile_overlap=settings.tile_overlap, batch=settings.batch)
    if models.stage2 is None:
        return [StreamRestorer(models.stage1.model, models.stage1.padding, out_bits=out_bits, **common)]
    return [
        StreamRestorer(models.stage1.model, models.stage1.padding, out_bits=8, **common),  # 8-bit between stages
        StreamRestorer(models.stage2.model, models.stage2.padding, out_bits=out_bits, **common),
    ]


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
    """
    from .video import FrameReader, atomic_output, open_writer, probe

    settings = settings or RestoreSettings()
    src, dst = Path(input_path), Path(output_path)
    if not src.exists():
        raise InputError(f"input '{src}' does not exist")
    if dst.exists() and not settings.overwrite:
        raise OutputExistsError(f"output '{dst}' already exists; pass --overwrite to replace it")
    if dst.resolve() == src.resolve():
        raise InputError("the output path is the input path; choose another output")
    info = probe(src)
    models = models or load_models(settings)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        if on_warning is not None:
            on_warning(message)

    scale = models.scale
    start = time.perf_counter()
    done = 0
    stop = threading.Event()
    with atomic_output(dst, settings.overwrite) as tmp, FrameReader(src, info, on_warning=warn) as reader, \
            open_writer(tmp, info, info.width * scale, info.height * scale, codec=settings.codec,
                         crf=settings.crf, preset=settings.preset, pix_fmt=settings.pix_fmt,
                         on_warning=warn) as writer:
        out_bits = 16 if _writes_high_depth(writer, info) else 8
        decoded: queue.Queue = queue.Queue(QUEUE_DEPTH)
        encoded: queue.Queue = queue.Queue(QUEUE_DEPTH)

        def decode() -> None:
            for frame in reader:
                _put(decoded, frame, stop)
            _put(decoded, _END, stop)

        timing: deque = deque()

        def frames_in() -> Iterator:
            while True:
                item = _get(decoded, stop, decoder)
                if item is _END:
                    return
                timing.append((item.pts, item.time_base))
                yield item.rgb

        def encode() -> None:
            while True:
                item = _get(encoded, stop)
                if item is _END:
                    return
                rgb, pts, tb = item
                writer.write(rgb, pts, tb)

        decoder = _Worker(decode, "edvr-decode")
        encoder = _Worker(encode, "edvr-encode")
        decoder.start()
        encoder.start()
        try:
            stream: Iterable = frames_in()
            for restorer in _restorers(models, settings, out_bits):
                stream = restorer.run(stream)
            for out in stream:
                pts, tb = timing.popleft()
                while True:
                    encoder.check()
                    try:
                        encoded.put((out, pts, tb), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                done += 1
                if on_progress is not None:
                    on_progress(done, info.num_frames)
            _put(encoded, _END, stop)
            encoder.join()
            encoder.check()
            decoder.join()
            decoder.check()
        except BaseException:
            stop.set()
            decoder.join(timeout=5)
            encoder.join(timeout=5)
            raise
        if done == 0:
            raise InputError(f"'{src.name}': no frame could be decoded")
    return RestoreResult(src, dst, done, time.perf_counter() - start, warnings)


def _writes_high_depth(writer, info) -> bool:
    """Whether the writer keeps more than 8 bits (then frames are quantised to 16 bits)."""
    if info.bit_depth <= 8:
        return False
    settings = getattr(writer, "settings", None)
    if settings is not None:
        return settings.bit_depth > 8
    return True  # PNG frames: 16-bit files for >8-bit sources


# -- many inputs --------------------------------------------------------------------------------------

@dataclass
class BatchItem:
    """The fate of one file of a batch."""

    input: Path
    output: Path
    status: str  # 'done', 'skipped', 'failed'
    message: str = ""
    frames: int = 0
    seconds: float = 0.0


def plan_batch(input_dir: Path, output_dir: Path, recursive: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs: every video in ``input_dir``, each keeping its name (and relative path)."""
    from .video import list_videos

    pairs = []
    for video in list_videos(input_dir, recursive=recursive):
        pairs.append((video, output_dir / video.relative_to(input_dir)))
    return pairs


def input_kind(path: Path) -> str:
    """'video', 'sequence' (a folder of images) or 'batch' (a folder of videos)."""
    from .video import list_images, list_videos

    if not path.exists():
        raise InputError(f"input '{path}' does not exist")
    if path.is_file():
        return "video"
    if list_videos(path, recursive=False):
        return "batch"
    if list_images(path):
        return "sequence"
    if list_videos(path, recursive=True):
        return "batch"
    raise InputError(f"'{path}' holds neither videos nor images")
