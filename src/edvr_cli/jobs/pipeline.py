"""The one overlapped pipeline: decode on one thread, restore on this one, encode on another.

One-pass runs, each segment of a parallel run, and the sequential segments of an input that cannot be
cut all run through :func:`run_pipeline`: the restorers start on the batch grid at the
:class:`~edvr_cli.jobs.segplan.StageStarts` of the first output, and each output goes to the caller's ``write`` on the
encoder thread with its clip index and the time its source frame had.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any

from edvr_cli.errors import EDVRError, InputError, first_line
from edvr_cli.jobs.limits import check_frame, queue_depth
from edvr_cli.jobs.segplan import stage_starts
from edvr_cli.jobs.threads import END, Worker, get, put, send

#: ``write(output, clip_index, (pts, time_base))``, called on the encoder thread in output order.
Write = Callable[[Any, int, "tuple[int, Fraction]"], None]


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
        raise InputError(f"'{info.label}': decoding failed at frame {index}: {first_line(exc)}") from exc


def make_restorers(plan: Any, models: Any, writer: Any) -> list[Any]:
    """Stage 1 (and stage 2) as streaming restorers, as the plan resolved them; 8 bits between the
    stages, as the original. The last hands ``writer`` what it takes: YUV planes converted on the
    device when it takes them, else RGB of the plan's depth."""
    from edvr_cli.engine.restorer import StreamRestorer

    ex = plan.execution
    size = (plan.height, plan.width)
    resized = size != (plan.info.height * plan.scale, plan.info.width * plan.scale)
    descriptors = [d for d in (models.stage1, models.stage2) if d is not None]
    out = []
    for j, d in enumerate(descriptors):
        last = j == len(descriptors) - 1
        out.append(StreamRestorer(
            d, device=models.device, precision=ex.precision, tile=ex.tiles[j], tile_overlap=ex.tile_overlap,
            batch=ex.batch, compile=ex.compile, channels_last=ex.channels_last, cache_features=ex.cache_features,
            out_bits=plan.out_bits if last else 8,
            out_size=size if last and resized else None,
            out_layout=getattr(writer, "plane_layout", None) if last else None,
            strength=plan.settings.strength if last else 1.0))
    return out


def run_pipeline(plan: Any, models: Any, reader: Any, writer: Any, write: Write, *,
                 first: int = 0, clip_start: int | None = 0, count: int | None = None, offset: int = 0,
                 on_output: Callable[[], None] | None = None, drain: bool = False,
                 on_nonfinite: Callable[[int], None] | None = None) -> int:
    """Restore the reader's frames into ``write``; returns the outputs written.

    ``first`` is the clip index of the first output; each stage starts on the batch grid early enough
    for it (:func:`~edvr_cli.jobs.segplan.stage_starts`), and decoded frames below the first needed are
    dropped. ``clip_start`` is the clip index of the clip's first frame (None: the first frame read,
    which for a span is the first of the context the reader gives before it). ``count`` stops after that
    many outputs (the decoder may have read further: context frames); the outputs also stop at a span's
    end, the first context frame after it. ``offset`` is the clip index of the reader's frame 0;
    ``drain``: after a failure the encoder still writes what was handed to it (a segmented run keeps
    the segments those outputs finish); ``on_nonfinite`` is told how many output values were not finite.
    Windows are padded at scene cuts as the plan's :class:`~edvr_cli.video.shots.ShotPlan` says.
    """
    stop = threading.Event()
    frame_bytes = max(plan.info.width * plan.info.height * 12, plan.width * plan.height * 6)
    depth = queue_depth(frame_bytes)
    decoded: queue.Queue = queue.Queue(depth)
    encoded: queue.Queue = queue.Queue(depth)
    times: dict[int, tuple[int, Fraction]] = {}
    shots = plan.shot_plan.make()
    live = shots is not None and plan.shot_plan.live
    lowest = -(1 << 62) if clip_start is None else clip_start  # None: no bound before the first frame read
    need = stage_starts(first, plan.aheads, plan.grid, lowest=lowest).decode
    span_end: list[int] = []  # clip index of the first context frame after a span
    read_first: list[int] = []  # clip index of the first frame read

    def decode() -> None:
        for frame in checked_frames(reader, plan.info, offset=offset):
            index = frame.index + offset
            if not read_first:
                read_first.append(index)
            if index < need:
                continue
            if live:
                assert shots is not None
                if shots.detector is None:
                    shots.start_detecting(index, index == (read_first[0] if clip_start is None else clip_start))
                shots.push(frame.image)
            put(decoded, frame, stop)
        if live:
            assert shots is not None
            shots.finish()
        put(decoded, END, stop)

    def encode() -> None:
        while True:
            item = get(encoded, stop)
            if item is END:
                return
            write(*item)

    decoder, encoder = Worker(decode, "edvr-decode"), Worker(encode, "edvr-encode")

    originals: dict[int, Any] = {}  # a second stage's --strength blends with the first stage's input
    keep = plan.settings.strength < 1.0 and plan.stage2 is not None

    def frames(head: Any) -> Iterator[Any]:
        item = head
        while item is not END:
            index = item.index + offset
            if item.context and index >= first and not span_end:
                span_end.append(index)
            if index >= first:
                times[index] = (item.pts, item.time_base)
                if keep:
                    originals[index] = item.image
            yield item.image
            item = get(decoded, stop, decoder)

    decoder.start()
    encoder.start()
    n = 0
    try:
        head: Any = get(decoded, stop, decoder) if count != 0 else END
        restorers = make_restorers(plan, models, writer) if head is not END else []
        if restorers:
            bottom = read_first[0] if clip_start is None else clip_start
            starts = stage_starts(first, plan.aheads, plan.grid, lowest=bottom)
            stream: Iterable = frames(head)
            begin = head.index + offset
            baseline = restorers[0].baseline_frames(originals) if keep else None
            for j, (restorer, out_start) in enumerate(zip(restorers, starts.outputs, strict=True)):
                stream = restorer.run(stream, first_index=begin, start=out_start, clip_start=bottom, shots=shots,
                                      baseline=baseline if j else None)
                begin = out_start
            for out in stream:
                index = first + n
                if span_end and index >= span_end[0]:
                    break
                send(encoded, (out, index, times.pop(index)), encoder)
                n += 1
                if on_output is not None:
                    on_output()
                if n == count:
                    break
        put(encoded, END, stop)
        encoder.join()
        encoder.check()
        stop.set()  # a decoder still reading context frames stops
        decoder.join()
        if n != count and not span_end:  # frames past the last output needed do not matter
            decoder.check()
        bad = sum(r.nonfinite for r in restorers)
        if bad and on_nonfinite is not None:
            on_nonfinite(bad)
    except BaseException:
        if drain:
            _drain(encoder, encoded)
        stop.set()
        decoder.join(timeout=5)
        encoder.join(timeout=5)
        raise
    return n


def _drain(encoder: Worker, encoded: queue.Queue, limit: float = 30.0) -> None:
    """Let a live encoder write the queued outputs, then end."""
    import time

    deadline = time.monotonic() + limit
    while encoder.is_alive() and time.monotonic() < deadline:
        try:
            encoded.put(END, timeout=0.1)
        except queue.Full:
            continue
        encoder.join(timeout=max(0.0, deadline - time.monotonic()))
        return


__all__ = ["Write", "checked_frames", "make_restorers", "run_pipeline"]
