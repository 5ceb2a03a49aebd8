"""A plain run: every frame in one pass into a guarded temporary output, renamed into place at the end."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edvr_cli.errors import InputError
from edvr_cli.guard.output import guarded_output
from edvr_cli.jobs.job import Job


def run_plain(job: Job) -> int:
    """Restore ``job.src`` into ``job.dst`` in one pass; returns the frames written."""
    from edvr_cli.video import is_frame_folder_output

    try:
        if str(job.dst) == "-":  # standard output: a stream, nothing to guard or rename
            with job.reader() as reader, job.open_writer(Path("-")) as writer:
                _pass(job, reader, writer)
            return job.done
        folder = is_frame_folder_output(job.dst)
        with guarded_output(job.dst, overwrite=job.settings.overwrite, inputs=[job.src], folder=folder) as tmp, \
                job.reader() as reader, job.open_writer(tmp) as writer:
            _pass(job, reader, writer)
    except BaseException as exc:
        job.fail(exc)
    return job.done


def _pass(job: Job, reader: Any, writer: Any) -> None:
    timing: deque = deque()

    def restore(frames: Iterator[Any]) -> Iterator[Any]:
        def images() -> Iterator[Any]:
            for frame in frames:
                timing.append((frame.pts, frame.time_base))
                yield frame.image

        stream: Iterable = images()
        for restorer in job.restorers(writer):
            stream = restorer.run(stream)
        for out in stream:
            yield out, timing.popleft()

    def write(item: tuple[Any, tuple[int, Any]], n: int) -> None:
        out, (pts, tb) = item
        writer.write(out, pts, tb)

    job.overlapped(reader, restore, write, on_output=job.progress)
    if job.done == 0:
        raise InputError(f"'{job.src.name}': no frame could be decoded")
