"""A plain run: every frame in one pass into a guarded temporary output, renamed into place at the end."""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edvr_cli.errors import InputError
from edvr_cli.guard.output import guarded_output
from edvr_cli.jobs.job import Job
from edvr_cli.jobs.threads import END, Worker, get


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
    decoded: queue.Queue = queue.Queue(job.depth)
    encoded: queue.Queue = queue.Queue(job.depth)
    timing: deque = deque()
    stop = job.stop

    def frames_in() -> Iterator[Any]:
        for item in job.frames(decoded, decoder):
            timing.append((item.pts, item.time_base))
            yield item.image

    def encode() -> None:
        while True:
            item = get(encoded, stop)
            if item is END:
                return
            rgb, pts, tb = item
            writer.write(rgb, pts, tb)

    decoder = job.decoder(reader, decoded)
    encoder = Worker(encode, "edvr-encode")
    decoder.start()
    encoder.start()
    try:
        stream: Iterable = frames_in()
        for restorer in job.restorers(writer):
            stream = restorer.run(stream)
        for out in stream:
            pts, tb = timing.popleft()
            job.send(encoded, encoder, (out, pts, tb))
            job.progress()
        job.finish_threads(decoder, encoder, encoded)
    except BaseException:
        job.abort_threads(decoder, encoder)
        raise
    if job.done == 0:
        raise InputError(f"'{job.src.name}': no frame could be decoded")
