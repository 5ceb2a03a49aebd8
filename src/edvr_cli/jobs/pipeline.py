"""The restoration job: decode -> (stage 1 -> stage 2) -> encode, as a streaming pipeline.

Decoding and encoding run on background threads with bounded queues, so memory stays flat and the
network never waits for I/O it could overlap with. The output is written under a temporary name and
renamed into place only when complete. Long inputs (and every file of a batch) are made resumable:
the output is encoded in segments in a work folder beside it and joined at the end
(:mod:`edvr_cli.jobs.resume`), so an interrupted run continues after its last finished segment.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import torch

from edvr_cli import __version__
from edvr_cli.model.arch import EDVR
from edvr_cli.model.checkpoint import load_model
from edvr_cli.errors import EDVRError, InputError, ModelKindError, OutputExistsError
from edvr_cli.engine.device import default_precision, resolve_device
from edvr_cli.engine.restorer import StreamRestorer
from edvr_cli.jobs.resume import (
    RESUME_MIN_FRAMES, SEGMENT_FRAMES, SHORTEST_TAIL, JoinError, Segment, WorkFolder, assemble, input_identity,
    work_dir,
)
from edvr_cli.engine.windows import PADDINGS, lookahead

DEFAULT_MODELS = {"upscale": "EDVR_L_x4_SR_REDS", "deblur": "EDVR_L_deblur_REDS"}
TASK_SCALE = {"upscale": 4, "deblur": 1}
QUEUE_DEPTH = 8
#: Memory one frame queue may hold; queues of very large frames get fewer slots.
QUEUE_BYTES = 512 << 20

#: Frame-size guards: larger inputs are refused before anything is allocated for them.
MAX_INPUT_SIDE = 8192
MAX_INPUT_PIXELS = 8192 * 4320  # 8K
MAX_OUTPUT_SIDE = 16384
MAX_OUTPUT_PIXELS = 15360 * 8640  # 16K, the x4 output of 4K
#: Above this many input pixels frames are always tiled (``--tile 0`` becomes automatic).
WHOLE_FRAME_MAX_PIXELS = 3840 * 2160

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
        resume: make the output resumable (segments in a work folder beside it); None = when the
            input has more than :data:`~edvr_cli.jobs.resume.RESUME_MIN_FRAMES` frames (or an unknown
            count), or an unfinished run of this output is waiting.
        segment_frames: frames per segment of a resumable run.
    """

    task: str = "upscale"
    model: str | None = None
    stage2: str | None = None
    padding: str | None = None
    tile: int | None = None
    tile_overlap: int = 16
    device: str = "auto"
    precision: str | None = None
    batch: int | None = None
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    overwrite: bool = False
    hf_repo: str | None = None
    quiet: bool = False
    resume: bool | None = None
    compile: bool = False
    channels_last: bool | None = None
    segment_frames: int = SEGMENT_FRAMES


@dataclass
class LoadedModel:
    """A network ready to run, with what the pipeline needs to know about it."""

    model: EDVR
    name: str
    padding: str
    task: str | None = None
    path: Path | None = None

    @cached_property
    def sha256(self) -> str | None:
        """SHA-256 of the file the weights came from (what a resumable run records)."""
        from edvr_cli.zoo.download import sha256_file

        return sha256_file(self.path) if self.path is not None else None


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
    from edvr_cli.zoo import resolve_model

    resolved = resolve_model(spec, hf_repo=settings.hf_repo, quiet=settings.quiet)
    model = load_model(resolved.path, device=device)
    entry = resolved.entry
    return LoadedModel(model, resolved.name, _published_padding(entry, model.scale), getattr(entry, "task", None),
                       Path(resolved.path))


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


# -- errors and guards ---------------------------------------------------------------------------------

class OutOfSpaceError(EDVRError):
    """The disk filled up while writing the output."""


class DeviceError(EDVRError):
    """The GPU failed (CUDA error, out of memory) in the middle of a run."""


class FrameSizeError(InputError):
    """Frames too large to restore safely, or a size change in the middle of a video."""


# Marks of a failed accelerator in torch's RuntimeError messages.
_DEVICE_FAILURES = ("CUDA error", "CUDA out of memory", "CUDNN_STATUS", "cuDNN error", "CUBLAS_STATUS",
                    "device-side assert", "HIP error", "MPS backend out of memory")


def check_frame_size(width: int, height: int, scale: int = 1) -> None:
    """Refuse frames whose input or output would be unreasonably large (before decoding them all).

    Raises:
        FrameSizeError: a side or the pixel count of the input or of the ``scale`` x output is over
            the limits (:data:`MAX_INPUT_SIDE`, :data:`MAX_INPUT_PIXELS`, :data:`MAX_OUTPUT_SIDE`,
            :data:`MAX_OUTPUT_PIXELS`), or a side is not positive.
    """
    if width <= 0 or height <= 0:
        raise FrameSizeError(f"frames of {width}x{height} pixels cannot be restored")
    if max(width, height) > MAX_INPUT_SIDE or width * height > MAX_INPUT_PIXELS:
        raise FrameSizeError(
            f"frames of {width}x{height} are larger than edvr restores (at most {MAX_INPUT_SIDE} pixels a side "
            f"and {MAX_INPUT_PIXELS / 1e6:.1f} Mpx); downscale the input first"
        )
    ow, oh = width * scale, height * scale
    if max(ow, oh) > MAX_OUTPUT_SIDE or ow * oh > MAX_OUTPUT_PIXELS:
        raise FrameSizeError(
            f"the x{scale} output of {width}x{height} frames would be {ow}x{oh}, larger than edvr writes (at "
            f"most {MAX_OUTPUT_SIDE} pixels a side and {MAX_OUTPUT_PIXELS / 1e6:.1f} Mpx); downscale the input first"
        )


def check_frame(index: int, rgb, info) -> None:
    """Refuse a decoded frame whose size is not the video's (the stream changed size mid-way)."""
    h, w = rgb.shape[:2]
    if (h, w) != (info.height, info.width):
        raise FrameSizeError(
            f"'{info.path.name}': frame {index} is {w}x{h} but the video began at {info.width}x{info.height}; "
            "size changes within a video are not supported"
        )


def effective_tile(tile: int | None, width: int, height: int) -> int | None:
    """The tile setting to run with: whole frames (0) only up to :data:`WHOLE_FRAME_MAX_PIXELS`."""
    if tile == 0 and width * height > WHOLE_FRAME_MAX_PIXELS:
        return None
    return tile


def queue_depth(frame_bytes: int) -> int:
    """Slots of a frame queue: :data:`QUEUE_DEPTH`, fewer for frames so large the queue would pass
    :data:`QUEUE_BYTES`."""
    return max(1, min(QUEUE_DEPTH, QUEUE_BYTES // max(1, frame_bytes)))


def _first_line(exc: BaseException) -> str:
    text = (str(exc) or type(exc).__name__).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def explain_failure(exc: BaseException, src: Path, dst: Path, frame: int, kept: str = "") -> EDVRError | None:
    """Our error for a failure of the disk or the device in the middle of a run; None for others.

    ``kept`` is appended (a resumable run says where its finished segments are).
    """
    if isinstance(exc, EDVRError):
        return None
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutOfSpaceError(f"no space left on device while writing '{dst}'{kept}")
    if isinstance(exc, torch.OutOfMemoryError):
        return DeviceError(
            f"out of GPU memory restoring '{src.name}' at frame {frame}{kept}; try a smaller --tile (e.g. 256), "
            "--precision fp16, --batch 1 or --device cpu"
        )
    if isinstance(exc, RuntimeError) and any(mark in str(exc) for mark in _DEVICE_FAILURES):
        return DeviceError(f"the GPU failed restoring '{src.name}' at frame {frame}: {_first_line(exc)}{kept}")
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc)):
        return EDVRError(f"out of memory restoring '{src.name}' at frame {frame}{kept}; try a smaller --tile or --batch")
    return None


# -- one input ----------------------------------------------------------------------------------------

def _restorers(models: Models, settings: RestoreSettings, out_bits: int, tile: int | None) -> list[StreamRestorer]:
    common = dict(device=models.device, precision=models.precision, tile=tile,
                  compile=settings.compile, channels_last=settings.channels_last,
                  tile_overlap=settings.tile_overlap, batch=settings.batch)
    if models.stage2 is None:
        return [StreamRestorer(models.stage1.model, models.stage1.padding, out_bits=out_bits, **common)]
    return [
        StreamRestorer(models.stage1.model, models.stage1.padding, out_bits=8, **common),  # 8-bit between stages
        StreamRestorer(models.stage2.model, models.stage2.padding, out_bits=out_bits, **common),
    ]


def wants_resume(settings: RestoreSettings, num_frames: int | None, output: Path) -> bool:
    """Whether a run is resumable: as told, else for long (or unknown-length) inputs and unfinished runs."""
    if settings.resume is not None:
        return settings.resume
    if work_dir(output).is_dir():
        return True
    return num_frames is None or num_frames > RESUME_MIN_FRAMES


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
            (:class:`InputError`, :class:`FrameSizeError`), existing output, a full disk
            (:class:`OutOfSpaceError`), a failing GPU (:class:`DeviceError`), a work folder made
            with other arguments (:class:`~edvr_cli.jobs.resume.ResumeError`) ...
    """
    from edvr_cli.video import probe

    settings = settings or RestoreSettings()
    src, dst = Path(input_path), Path(output_path)
    if not src.exists():
        raise InputError(f"input '{src}' does not exist")
    if dst.exists() and not settings.overwrite:
        raise OutputExistsError(f"output '{dst}' already exists; pass --overwrite to replace it")
    if dst.resolve() == src.resolve():
        raise InputError("the output path is the input path; choose another output")
    info = probe(src)
    check_frame_size(info.width, info.height, TASK_SCALE.get(settings.task, 1))
    models = models or load_models(settings)
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
    job = _Job(src, dst, info, settings, models, tile, warn, on_progress)
    start = time.perf_counter()
    if wants_resume(settings, info.num_frames, dst):
        done = job.run_resumable()
    else:
        stale = work_dir(dst)
        if stale.is_dir():
            if settings.overwrite:
                import shutil

                shutil.rmtree(stale, ignore_errors=True)
            else:
                warn(f"'{stale.name}' holds an unfinished resumable run of this output; --no-resume leaves it alone")
        done = job.run_plain()
    return RestoreResult(src, dst, done, time.perf_counter() - start, warnings)


class _Tape:
    """Decoded frames by clip index: passes them through, holding the few a later segment needs again.

    Of the frames decoded from now on, those from ``hold(frames_from=...)`` on are held (the temporal
    context of the next segment), and presentation times from ``hold(times_from=...)`` on (the
    outputs of the current segment); :meth:`release` drops what is held below those marks.
    """

    def __init__(self, source: Iterator) -> None:
        self._source = source
        self._held: dict = {}
        self._next = 0
        self._ended = False
        self._frames_from = 0
        self._times_from = 0
        self.times: dict[int, tuple[int, Fraction]] = {}

    def _pull(self):
        if self._ended:
            return None
        frame = next(self._source, None)
        if frame is None:
            self._ended = True
            return None
        self._next = frame.index + 1
        if frame.index >= self._times_from:
            self.times[frame.index] = (frame.pts, frame.time_base)
        if frame.index >= self._frames_from:
            self._held[frame.index] = frame
        return frame

    def hold(self, frames_from: int, times_from: int) -> None:
        self._frames_from, self._times_from = frames_from, times_from

    def release(self) -> None:
        for i in [i for i in self._held if i < self._frames_from]:
            del self._held[i]
        for i in [i for i in self.times if i < self._times_from]:
            del self.times[i]

    def has(self, index: int) -> bool:
        """Whether the clip has a frame ``index`` (decoding up to it)."""
        while self._next <= index:
            if self._pull() is None:
                return False
        return True

    def frames(self, start: int, stop: int) -> Iterator:
        """RGB of frames ``[start, stop)``, fewer at the clip's end."""
        for i in range(start, stop):
            if i in self._held:
                yield self._held[i].rgb
                continue
            if i < self._next:
                raise RuntimeError(f"frame {i} is no longer held")  # a bug in the segment bookkeeping
            frame = self._pull()
            while frame is not None and frame.index < i:
                frame = self._pull()
            if frame is None:
                return
            yield frame.rgb


class _Job:
    """One input to one output: the decode and encode threads around the restorers."""

    def __init__(self, src: Path, dst: Path, info, settings: RestoreSettings, models: Models, tile: int | None,
                 warn: WarningCallback, on_progress) -> None:
        self.src, self.dst, self.info = src, dst, info
        self.settings, self.models, self.tile = settings, models, tile
        self.warn, self.on_progress = warn, on_progress
        self.done = 0
        self.stop = threading.Event()
        scale = models.scale
        frame_bytes = max(info.width * info.height * 12, info.width * info.height * scale * scale * 6)
        self.depth = queue_depth(frame_bytes)

    # -- threads -----------------------------------------------------------------------------------
    def _decoder(self, reader, decoded: queue.Queue, skip_before: int = 0) -> _Worker:
        import av.error

        info, stop = self.info, self.stop

        def decode() -> None:
            index = 0  # the frame being decoded
            try:
                for frame in reader:
                    index = frame.index
                    check_frame(index, frame.rgb, info)
                    if index >= skip_before:
                        _put(decoded, frame, stop)
                    index += 1
            except (EDVRError, _Stop):
                raise
            except (av.error.FFmpegError, OSError, ValueError, RuntimeError, MemoryError) as exc:
                raise InputError(f"'{info.path.name}': decoding failed at frame {index}: {_first_line(exc)}") from exc
            _put(decoded, _END, stop)

        return _Worker(decode, "edvr-decode")

    def _frames(self, decoded: queue.Queue, decoder: _Worker) -> Iterator:
        while True:
            item = _get(decoded, self.stop, decoder)
            if item is _END:
                return
            yield item

    def _send(self, encoded: queue.Queue, encoder: _Worker, item) -> None:
        while True:
            encoder.check()
            try:
                encoded.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _progress(self) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done, self.info.num_frames)

    def _finish_threads(self, decoder: _Worker, encoder: _Worker, encoded: queue.Queue) -> None:
        _put(encoded, _END, self.stop)
        encoder.join()
        encoder.check()
        decoder.join()
        decoder.check()

    def _abort_threads(self, decoder: _Worker, encoder: _Worker) -> None:
        self.stop.set()
        decoder.join(timeout=5)
        encoder.join(timeout=5)

    def _fail(self, exc: BaseException, kept: str = ""):
        mapped = explain_failure(exc, self.src, self.dst, self.done, kept)
        if mapped is not None:
            raise mapped from exc
        raise exc

    def _open_writer(self, path: Path, **extra):
        from edvr_cli.video import open_writer

        s, info, scale = self.settings, self.info, self.models.scale
        return open_writer(path, info, info.width * scale, info.height * scale, codec=s.codec, crf=s.crf,
                           preset=s.preset, pix_fmt=s.pix_fmt, on_warning=self.warn, **extra)

    # -- a plain run -------------------------------------------------------------------------------
    def run_plain(self) -> int:
        """Everything in one pass into a temporary output, renamed into place at the end."""
        from edvr_cli.video import FrameReader, atomic_output

        try:
            with atomic_output(self.dst, self.settings.overwrite) as tmp, \
                    FrameReader(self.src, self.info, on_warning=self.warn) as reader, \
                    self._open_writer(tmp) as writer:
                self._plain_pass(reader, writer)
        except BaseException as exc:
            self._fail(exc)
        return self.done

    def _plain_pass(self, reader, writer) -> None:
        out_bits = 16 if _writes_high_depth(writer, self.info) else 8
        decoded: queue.Queue = queue.Queue(self.depth)
        encoded: queue.Queue = queue.Queue(self.depth)
        timing: deque = deque()
        stop = self.stop

        def frames_in() -> Iterator:
            for item in self._frames(decoded, decoder):
                timing.append((item.pts, item.time_base))
                yield item.rgb

        def encode() -> None:
            while True:
                item = _get(encoded, stop)
                if item is _END:
                    return
                rgb, pts, tb = item
                writer.write(rgb, pts, tb)

        decoder = self._decoder(reader, decoded)
        encoder = _Worker(encode, "edvr-encode")
        decoder.start()
        encoder.start()
        try:
            stream: Iterable = frames_in()
            for restorer in _restorers(self.models, self.settings, out_bits, self.tile):
                stream = restorer.run(stream)
            for out in stream:
                pts, tb = timing.popleft()
                self._send(encoded, encoder, (out, pts, tb))
                self._progress()
            self._finish_threads(decoder, encoder, encoded)
        except BaseException:
            self._abort_threads(decoder, encoder)
            raise
        if self.done == 0:
            raise InputError(f"'{self.src.name}': no frame could be decoded")

    # -- a resumable run ---------------------------------------------------------------------------
    def run_resumable(self) -> int:
        """Segments in the work folder (continuing an earlier attempt), then joined into the output."""
        from edvr_cli.video import is_frame_folder_output
        from edvr_cli.video.atomic import _move_into_place

        work = WorkFolder(self.dst, self._run_record(), frames_output=is_frame_folder_output(self.dst))
        work.open(fresh=self.settings.overwrite)
        try:
            if not work.finished:
                self._segments(work)
            final = assemble(work, self.info, self.warn)
            _move_into_place(final, self.dst, self.settings.overwrite)
        except BaseException as exc:
            work.discard_partial()
            kept = ""
            if work.segments and not isinstance(exc, JoinError):  # a rerun continues after them
                kept = (f"; {work.frames_done} finished frames are kept in '{work.path.name}': "
                        "rerun the same command to continue")
                work.close()
            else:
                work.remove()
            self._fail(exc, kept)
        work.remove()
        return work.frames_done

    def _run_record(self) -> dict:
        """What a resumable run's output depends on; a work folder made for another record is not continued."""
        from edvr_cli.video import is_frame_folder_output

        s, m = self.settings, self.models
        return {
            "input": input_identity(self.src),
            "output": "frames" if is_frame_folder_output(self.dst) else "video",
            "segment_frames": s.segment_frames,
            "edvr_cli": __version__,
            "settings": {
                "task": s.task,
                "stage1_sha256": m.stage1.sha256,
                "stage2_sha256": m.stage2.sha256 if m.stage2 is not None else None,
                "padding": m.stage1.padding,
                "tile": self.tile,
                "tile_overlap": s.tile_overlap,
                "device": m.device.type,
                "precision": m.precision,
                "batch": s.batch,
                "codec": s.codec,
                "crf": s.crf,
                "preset": s.preset,
                "pix_fmt": s.pix_fmt,
            },
        }

    def _segments(self, work: WorkFolder) -> None:
        """Restore and encode the segments after the finished ones.

        Decoding starts at the beginning (frames before ``context`` of the first segment to make are
        dropped on arrival); each segment's restorers are given the ``context`` frames before and
        after it and output its frames only, with windows on clip indices, so a segment is the same
        whether it is made in a first run or a later one.
        """
        from edvr_cli.video import FrameReader

        n = max(1, int(self.settings.segment_frames))
        first_segment = len(work.segments)
        begin = first_segment * n
        if work.frames_done != begin:  # a short segment was the last one
            work.finish()
            return
        aheads = [lookahead(m.model.num_frame) for m in (self.models.stage1, self.models.stage2) if m is not None]
        context = sum(aheads)
        reach = max(context, SHORTEST_TAIL)  # how far past a segment its restorers may read
        self.done = begin
        with FrameReader(self.src, self.info, on_warning=self.warn) as reader:
            writer = self._open_writer(work.part_path(first_segment), copy_streams=False)
            try:
                out_bits = 16 if _writes_high_depth(writer, self.info) else 8
                restorers = _restorers(self.models, self.settings, out_bits, self.tile)
            except BaseException:
                writer.abort()
                raise
            sink = _SegmentSink(work, writer, self._open_writer)
            decoded: queue.Queue = queue.Queue(self.depth)
            encoded: queue.Queue = queue.Queue(self.depth)
            stop = self.stop

            def encode() -> None:
                try:
                    while True:
                        item = _get(encoded, stop)
                        if item is _END:
                            return
                        if isinstance(item, Segment):
                            sink.commit(item)
                        else:
                            sink.write(*item)
                finally:
                    sink.abort()

            decoder = self._decoder(reader, decoded, skip_before=max(0, begin - context))
            encoder = _Worker(encode, "edvr-encode")
            decoder.start()
            encoder.start()
            try:
                tape = _Tape(self._frames(decoded, decoder))
                tape.hold(max(0, begin - context), begin)
                index = first_segment
                while True:
                    start = index * n
                    if not tape.has(start):
                        break
                    tape.hold(start + n - context, start)
                    stream: Iterable = tape.frames(max(0, start - context), start + n + reach)
                    first = max(0, start - context)
                    for j, restorer in enumerate(restorers):
                        out_start = max(0, start - sum(aheads[j + 1:]))
                        stream = restorer.run(stream, first_index=first, start=out_start)
                        first = out_start
                    count, last = 0, False
                    for out in stream:
                        pts, tb = tape.times[start + count]
                        self._send(encoded, encoder, (index, out, pts, tb))
                        self._progress()
                        count += 1
                        if count == n and not last:
                            last = not tape.has(start + n + SHORTEST_TAIL - 1)
                            if not last:
                                break  # else this segment runs on to the clip's end
                    del stream
                    tape.hold(start + n - context, start + n)
                    tape.release()
                    self._send(encoded, encoder, Segment(index, start, count))
                    if count != n:
                        break
                    index += 1
                if self.done == 0:
                    raise InputError(f"'{self.src.name}': no frame could be decoded")
                self._finish_threads(decoder, encoder, encoded)
            except BaseException:
                self._drain(encoder, encoded)  # segments already handed over are still finished
                self._abort_threads(decoder, encoder)
                raise
        work.finish()

    def _drain(self, encoder: _Worker, encoded: queue.Queue, limit: float = 30.0) -> None:
        """Let a live encoder finish the queued items (then drop its unfinished segment)."""
        deadline = time.monotonic() + limit
        while encoder.is_alive() and time.monotonic() < deadline:
            try:
                encoded.put(_END, timeout=0.1)
            except queue.Full:
                continue
            encoder.join(timeout=max(0.0, deadline - time.monotonic()))
            return


class _SegmentSink:
    """The encoder thread's side of a resumable run: frames into part files, finished segment by segment.

    Video segments continue the previous segment's presentation times in the output time base (so a
    time the container rounds onto the previous one is nudged exactly as one writer would).
    """

    def __init__(self, work: WorkFolder, writer, open_writer: Callable) -> None:
        self.work, self.writer, self._open_writer = work, writer, open_writer
        self.video = bool(work.suffix)
        self.last_pts = work.segments[-1].last_pts if work.segments else None

    def write(self, index: int, rgb, pts: int, time_base: Fraction) -> None:
        if self.writer is None:
            self.writer = self._open_writer(self.work.part_path(index), copy_streams=False)
        if not self.video:
            self.writer.write(rgb)
            return
        pts = round(pts * time_base / self.writer.time_base)
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
        self.last_pts = pts
        self.writer.write(rgb, pts, self.writer.time_base)

    def commit(self, segment: Segment) -> None:
        writer, self.writer = self.writer, None
        writer.close()
        self.work.commit(Segment(segment.index, segment.first, segment.frames, self.last_pts if self.video else None))

    def abort(self) -> None:
        """Drop an unfinished segment's writer (its part file is discarded by the work folder)."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


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
    from edvr_cli.video import list_videos

    pairs = []
    for video in list_videos(input_dir, recursive=recursive):
        relative = video.relative_to(input_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden folders: our own work folders among them
        pairs.append((video, output_dir / relative))
    return pairs


def input_kind(path: Path) -> str:
    """'video', 'sequence' (a folder of images) or 'batch' (a folder of videos)."""
    from edvr_cli.video import list_images, list_videos

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
