"""A resumable run: the output made as segments in a work folder beside it, then joined exactly.

Each segment is restored with the ``context`` frames the model needs before and after it and outputs
its own frames only (windows on clip indices), so a segment is the same whether it is made in a first
run or a later one. An interrupted run keeps its finished segments; the same command continues.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any

from edvr_cli import __version__
from edvr_cli.engine.windows import lookahead
from edvr_cli.errors import InputError, JoinError, ResumeError
from edvr_cli.guard.output import move_into_place
from edvr_cli.jobs.job import Job
from edvr_cli.jobs.join import assemble
from edvr_cli.jobs.threads import END, Worker, get
from edvr_cli.jobs.workfolder import SHORTEST_TAIL, Segment, WorkFolder, input_identity


def run_resumable(job: Job) -> int:
    """Segments in the work folder (continuing an earlier attempt), then joined into the output."""
    from edvr_cli.video import is_frame_folder_output

    index = _index(job)
    work = WorkFolder(job.dst, run_record(job), frames_output=is_frame_folder_output(job.dst))
    work.open(fresh=job.settings.overwrite)
    try:
        if not work.finished:
            if index is not None:
                _independent_segments(job, work, index)
            else:
                _segments(job, work)
        final = assemble(work, job.info, job.warn)
        work.record_assembly(final)
        move_into_place(final, job.dst, overwrite=job.settings.overwrite, inputs=[job.src],
                        folder=not work.suffix)
    except BaseException as exc:
        work.discard_partial()
        kept = ""
        if work.segments and not isinstance(exc, JoinError):  # a rerun continues after them
            kept = (f"; {work.frames_done} finished frames are kept in '{work.path.name}': "
                    "rerun the same command to continue")
            work.close()
        else:
            work.remove()
        job.fail(exc, kept)
    work.remove()
    return work.frames_done


def _index(job: Job) -> Any:
    """The frame index that lets segments be made independently, or None (then one sequential pass).

    Inputs that cannot be cut (no timestamps, AVI, a pipe) run their segments in one decoding pass;
    more workers then do not help, which is said once.
    """
    from edvr_cli.video.index import frame_index

    s = job.settings
    if job.info.span is None and s.deinterlace != "field":
        index = frame_index(job.src, job.info)
        if index.seekable and index.frames:
            return index
    if (s.workers or 1) > 1 or s.cluster:
        job.warn(f"'{job.src.name}' cannot be cut into independent segments (no seekable timestamps); "
                 "it runs as one sequential pass")
    return None


def _recipe(job: Job, index: Any) -> Any:
    from edvr_cli.engine.device import auto_batch
    from edvr_cli.jobs.piece import Recipe, model_refs

    m = job.models
    aheads = tuple(lookahead(d.num_frame) for d in (m.stage1, m.stage2) if d is not None)
    context = sum(aheads)
    stage1, stage2 = model_refs(m)
    batch = job.settings.batch or auto_batch(m.device)  # one batch size for every worker: identical results
    return Recipe(str(job.src), str(job.dst), job.info, index, job.settings, stage1, stage2, job.tile, batch,
                  context, max(context, SHORTEST_TAIL), aheads)


def executor_for(job: Job, recipe: Any) -> Any:
    """In this process for one worker; local processes for ``--workers N``; Ray for ``--cluster``."""
    from edvr_cli.jobs.executors import InlineExecutor, ProcessExecutor
    from edvr_cli.jobs.piece import PieceMaker

    s = job.settings
    if s.cluster:
        from edvr_cli.jobs.cluster import RayExecutor

        return RayExecutor(s.cluster, s.workers, list(s.devices or []), s.threads)
    if (s.workers or 1) > 1:
        return ProcessExecutor(s.workers or 1, worker_devices(job), s.threads)
    return InlineExecutor(PieceMaker.from_models(recipe, job.models))


def worker_devices(job: Job) -> list[str]:
    """``--devices`` as given; else every visible GPU when the run is on CUDA, else the CPU."""
    s = job.settings
    if s.devices:
        return list(s.devices)
    device = job.models.device
    if device.type == "cuda":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(device)]


def _independent_segments(job: Job, work: WorkFolder, index: Any) -> None:
    """Plan the segments, make the unfinished ones with the run's executor, commit each as it arrives."""
    from edvr_cli.jobs.segplan import plan_segments

    specs = plan_segments(index.frames, job.settings.segment_frames, SHORTEST_TAIL)
    planned = {(s.index, s.first, s.count) for s in specs}
    stale = [seg for seg in work.segments if (seg.index, seg.first, seg.frames) not in planned]
    if stale:  # made under another plan (cannot happen with the same run record, but never join them)
        raise ResumeError(f"the work folder '{work.path.name}' holds segments of another plan; "
                          "pass --overwrite to start afresh")
    todo = [s for s in specs if s.index not in work.done_indices]
    job.done = work.frames_done
    if job.done and job.on_progress is not None:
        job.on_progress(job.done, index.frames)  # where an earlier run stopped
    recipe = _recipe(job, index)
    job.describe_encoder()

    def frames(n: int) -> None:
        job.done += n
        if job.on_progress is not None:
            job.on_progress(job.done, index.frames)

    executor_for(job, recipe).run(recipe, todo, work.part_path, work.commit, frames, job.warn)
    work.finish()


def run_record(job: Job) -> dict[str, Any]:
    """What a resumable run's output depends on; a work folder made for another record is not continued."""
    from edvr_cli.video import is_frame_folder_output

    s, m = job.settings, job.models
    return {
        "input": input_identity(job.src),
        "output": "frames" if is_frame_folder_output(job.dst) else "video",
        "segment_frames": s.segment_frames,
        "edvr_cli": __version__,
        "settings": {
            "task": s.task,
            "stage1_sha256": m.stage1.sha256,
            "stage2_sha256": m.stage2.sha256 if m.stage2 is not None else None,
            "padding": m.stage1.padding,
            "tile": job.tile,
            "tile_overlap": s.tile_overlap,
            "device": m.device.type,
            "precision": m.precision,
            "batch": s.batch,
            "codec": s.codec,
            "crf": s.crf,
            "preset": s.preset,
            "pix_fmt": s.pix_fmt,
            "size": [job.out_width, job.out_height],
            "deinterlace": s.deinterlace,
            "span": [str(t) if t is not None else None for t in (job.info.span or ())],
        },
    }


def _segments(job: Job, work: WorkFolder) -> None:
    """Restore and encode the segments after the finished ones.

    Decoding starts at the beginning (frames before ``context`` of the first segment to make are
    dropped on arrival); each segment's restorers are given the ``context`` frames before and
    after it and output its frames only, with windows on clip indices, so a segment is the same
    whether it is made in a first run or a later one.
    """
    n = max(1, int(job.settings.segment_frames))
    first_segment = len(work.prefix)
    begin = first_segment * n
    if sum(s.frames for s in work.prefix) != begin:  # a short segment was the last one
        work.finish()
        return
    aheads = [lookahead(m.num_frame) for m in (job.models.stage1, job.models.stage2) if m is not None]
    context = sum(aheads)
    reach = max(context, SHORTEST_TAIL)  # how far past a segment its restorers may read
    job.done = begin
    with job.reader() as reader:
        writer = job.open_writer(work.part_path(first_segment), copy_streams=False)
        try:
            restorers = job.restorers(writer)
        except BaseException:
            writer.abort()
            raise
        sink = SegmentSink(work, writer, job.open_writer)
        decoded: queue.Queue = queue.Queue(job.depth)
        encoded: queue.Queue = queue.Queue(job.depth)
        stop = job.stop

        def encode() -> None:
            try:
                while True:
                    item = get(encoded, stop)
                    if item is END:
                        return
                    if isinstance(item, Segment):
                        sink.commit(item)
                    else:
                        sink.write(*item)
            finally:
                sink.abort()

        decoder = job.decoder(reader, decoded, skip_before=max(0, begin - context))
        encoder = Worker(encode, "edvr-encode")
        decoder.start()
        encoder.start()
        try:
            tape = Tape(job.frames(decoded, decoder))
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
                    job.send(encoded, encoder, (index, out, pts, tb))
                    job.progress()
                    count += 1
                    if count == n and not last:
                        last = not tape.has(start + n + SHORTEST_TAIL - 1)
                        if not last:
                            break  # else this segment runs on to the clip's end
                del stream
                tape.hold(start + n - context, start + n)
                tape.release()
                job.send(encoded, encoder, Segment(index, start, count))
                if count != n:
                    break
                index += 1
            if job.done == 0:
                raise InputError(f"'{job.src.name}': no frame could be decoded")
            job.finish_threads(decoder, encoder, encoded)
        except BaseException:
            _drain(encoder, encoded)  # segments already handed over are still finished
            job.abort_threads(decoder, encoder)
            raise
    work.finish()

def _drain(encoder: Worker, encoded: queue.Queue, limit: float = 30.0) -> None:
    """Let a live encoder finish the queued items (then drop its unfinished segment)."""
    deadline = time.monotonic() + limit
    while encoder.is_alive() and time.monotonic() < deadline:
        try:
            encoded.put(END, timeout=0.1)
        except queue.Full:
            continue
        encoder.join(timeout=max(0.0, deadline - time.monotonic()))
        return


class Tape:
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
                yield self._held[i].image
                continue
            if i < self._next:
                raise RuntimeError(f"frame {i} is no longer held")  # a bug in the segment bookkeeping
            frame = self._pull()
            while frame is not None and frame.index < i:
                frame = self._pull()
            if frame is None:
                return
            yield frame.image


class SegmentSink:
    """The encoder thread's side of a resumable run: frames into part files, finished segment by segment.

    Video segments continue the previous segment's presentation times in the output time base (so a
    time the container rounds onto the previous one is nudged exactly as one writer would).
    """

    def __init__(self, work: WorkFolder, writer, open_writer: Callable[..., Any]) -> None:
        self.work, self.writer, self._open_writer = work, writer, open_writer
        self.video = bool(work.suffix)
        self.last_pts = work.prefix[-1].last_pts if work.prefix else None

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
