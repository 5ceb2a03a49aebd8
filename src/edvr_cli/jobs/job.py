"""One input to one output: what a run knows, and the decode/encode threads around the restorers.

:mod:`edvr_cli.jobs.plain` (one pass) and :mod:`edvr_cli.jobs.segments` (resumable segments) both
build on :class:`Job`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from edvr_cli.engine.restorer import StreamRestorer
from edvr_cli.errors import EDVRError, InputError, UsageError, WarningCallback, first_line
from edvr_cli.jobs.limits import check_frame, explain_failure, queue_depth
from edvr_cli.jobs.models import Models
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.jobs.threads import END, Worker, get, put, send

ProgressCallback = Callable[[int, "int | None"], None]


def checked_frames(reader: Any, info: Any, offset: int = 0) -> Iterator[Any]:
    """The reader's frames, each checked for size; a decoder failure becomes one :class:`InputError` line
    naming the frame (its clip index: the reader's index plus ``offset``)."""
    import av.error

    index = offset
    try:
        for frame in reader:
            index = frame.index + offset
            check_frame(index, frame.image, info)
            yield frame
            index += 1
    except EDVRError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        raise InputError(f"'{info.path.name}': decoding failed at frame {index}: {first_line(exc)}") from exc


def output_size(info: Any, settings: RestoreSettings, model_scale: int) -> tuple[int, int]:
    """(width, height) of the written frames: the model's size, or as --size / --scale ask.

    Raises:
        UsageError: a size or scale that cannot work (see :func:`~edvr_cli.engine.resize.plan_output_size`).
    """
    from edvr_cli.engine.resize import plan_output_size, size_alignment

    try:
        return plan_output_size(info.width, info.height, model_scale, size=settings.size, scale=settings.scale,
                                align=size_alignment(info.chroma, settings.pix_fmt))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def writes_high_depth(writer: Any, info: Any) -> bool:
    """Whether the writer keeps more than 8 bits (then frames are quantised to 16 bits)."""
    if info.bit_depth <= 8:
        return False
    settings = getattr(writer, "settings", None)
    if settings is not None:
        return bool(settings.bit_depth > 8)
    return True  # PNG frames: 16-bit files for >8-bit sources


class Job:
    """The state of one run (input, output, settings, models) and its thread plumbing."""

    def __init__(self, src: Path, dst: Path, info: Any, settings: RestoreSettings, models: Models,
                 tile: int | None, warn: WarningCallback, on_progress: ProgressCallback | None) -> None:
        self.src, self.dst, self.info = src, dst, info
        self.settings, self.models, self.tile = settings, models, tile
        self.warn, self.on_progress = warn, on_progress
        self.done = 0
        self.encoder = ""  # what the video is encoded with, in words (set when a writer opens)
        self.streams: list[str] = []  # audio/subtitle conversions and drops, one line each
        self.stop = threading.Event()
        self.out_width, self.out_height = output_size(info, settings, models.scale)
        frame_bytes = max(info.width * info.height * 12, self.out_width * self.out_height * 6)
        self.depth = queue_depth(frame_bytes)

    def restorers(self, writer: Any) -> list[StreamRestorer]:
        """Stage 1 (and stage 2): each a streaming restorer; 8 bits between the stages, as the original.

        The last one hands ``writer`` what it takes: YUV planes converted on the device when it takes
        them (:attr:`~edvr_cli.video.writer.VideoWriter.plane_layout`), else RGB of its depth.
        """
        out_bits = 16 if writes_high_depth(writer, self.info) else 8
        s, m = self.settings, self.models
        common: dict[str, Any] = dict(device=m.device, precision=m.precision, tile=self.tile, compile=s.compile,
                                      channels_last=s.channels_last, tile_overlap=s.tile_overlap, batch=s.batch)
        size = (self.out_height, self.out_width)
        resized = size != (self.info.height * m.scale, self.info.width * m.scale)
        last: dict[str, Any] = dict(out_bits=out_bits, out_size=size if resized else None,
                                    out_layout=getattr(writer, "plane_layout", None))
        if m.stage2 is None:
            return [StreamRestorer(m.stage1.model, m.stage1.padding, **last, **common)]
        return [
            StreamRestorer(m.stage1.model, m.stage1.padding, out_bits=8, **common),
            StreamRestorer(m.stage2.model, m.stage2.padding, **last, **common),
        ]

    def open_writer(self, path: Path, **extra: Any) -> Any:
        from edvr_cli.video import open_writer

        s, info = self.settings, self.info
        label = "standard output" if str(self.dst) == "-" else self.dst.name
        if str(path) == "-" or getattr(info, "is_pipe", False):
            if extra.get("copy_streams", True) and str(path) == "-" and (info.has_audio or info.has_subtitles):
                self.warn("standard output (YUV4MPEG2) carries video only; audio and subtitles are not written")
            extra["copy_streams"] = False  # a pipe has nothing else to copy, a y4m stream cannot hold it
        writer = open_writer(path, info, self.out_width, self.out_height, codec=s.codec, crf=s.crf,
                             preset=s.preset, pix_fmt=s.pix_fmt, on_warning=self.warn, label=label,
                             progressive=self.deinterlacing, strict_streams=s.strict_streams, **extra)
        self.encoder = getattr(writer, "encoder_description", "") or self.encoder
        if extra.get("copy_streams", True):
            self.streams = list(getattr(writer, "stream_summary", []) or [])
        return writer

    def describe_encoder(self) -> str:
        """The encoder the output gets, in words (a throw-away writer outside the output's folder)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="edvr-enc-") as tmp:
            name = "frames" if not self.dst.suffix else f"probe{self.dst.suffix}"
            writer = self.open_writer(Path(tmp) / name, copy_streams=False)
            writer.abort()
        return self.encoder

    @property
    def deinterlacing(self) -> bool:
        """Whether the reader runs bwdif (then the output is flagged progressive)."""
        mode = self.settings.deinterlace
        return mode in ("on", "field") or (mode == "auto" and bool(getattr(self.info, "interlaced", False)))

    def reader(self) -> Any:
        """A reader of the whole input (or its --start/--end span), deinterlacing as told."""
        from edvr_cli.video import FrameReader

        return FrameReader(self.src, self.info, on_warning=self.warn, deinterlace=self.settings.deinterlace)

    # -- threads -----------------------------------------------------------------------------------
    def overlapped(self, reader: Any, restore: Callable[[Iterator[Any]], Iterator[Any]],
                   write: Callable[[Any, int], None], count: int | None = None,
                   on_output: Callable[[], None] | None = None, offset: int = 0) -> int:
        """Decode on one thread, restore on this one, encode on another, so the three overlap.

        ``restore`` maps the decoded frames to outputs; ``write(out, n)`` encodes the ``n``-th output
        (on the encoder thread); ``count`` stops after that many outputs (the decoder may have read
        further: context frames); ``offset`` is the clip index of the reader's frame 0 (for messages).
        Returns the outputs written.
        """
        decoded: queue.Queue = queue.Queue(self.depth)
        encoded: queue.Queue = queue.Queue(self.depth)

        def encode() -> None:
            while True:
                item = get(encoded, self.stop)
                if item is END:
                    return
                write(*item)

        decoder = self.decoder(reader, decoded, offset=offset)
        encoder = Worker(encode, "edvr-encode")
        decoder.start()
        encoder.start()
        n = 0
        try:
            if count != 0:
                for out in restore(self.frames(decoded, decoder)):
                    self.send(encoded, encoder, (out, n))
                    n += 1
                    if on_output is not None:
                        on_output()
                    if n == count:
                        break
            put(encoded, END, self.stop)
            encoder.join()
            encoder.check()
            self.stop.set()  # a decoder still reading context frames stops
            decoder.join()
            if n != count:  # frames past the last output needed do not matter
                decoder.check()
        except BaseException:
            self.abort_threads(decoder, encoder)
            raise
        return n

    def decoder(self, reader: Any, decoded: queue.Queue, skip_before: int | None = None, offset: int = 0) -> Worker:
        """A thread putting decoded frames (all, or from index ``skip_before`` on) into ``decoded``."""
        info, stop = self.info, self.stop

        def decode() -> None:
            for frame in checked_frames(reader, info, offset=offset):
                if skip_before is None or frame.index >= skip_before:
                    put(decoded, frame, stop)
            put(decoded, END, stop)

        return Worker(decode, "edvr-decode")

    def frames(self, decoded: queue.Queue, decoder: Worker) -> Iterator[Any]:
        """The decoded frames, in order, until the decoder ends."""
        while True:
            item = get(decoded, self.stop, decoder)
            if item is END:
                return
            yield item

    def send(self, encoded: queue.Queue, encoder: Worker, item: Any) -> None:
        send(encoded, item, encoder)

    def progress(self) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done, self.info.num_frames)

    def finish_threads(self, decoder: Worker, encoder: Worker, encoded: queue.Queue) -> None:
        put(encoded, END, self.stop)
        encoder.join()
        encoder.check()
        decoder.join()
        decoder.check()

    def abort_threads(self, decoder: Worker, encoder: Worker) -> None:
        self.stop.set()
        decoder.join(timeout=5)
        encoder.join(timeout=5)

    def fail(self, exc: BaseException, kept: str = "") -> NoReturn:
        """Re-raise ``exc``, as one of our errors when it is a disk or device failure."""
        mapped = explain_failure(exc, self.src, self.dst, self.done, kept)
        if mapped is not None:
            raise mapped from exc
        raise exc
