"""Where segments run: in this process, in local worker processes, or (see :mod:`edvr_cli.jobs.cluster`) on Ray.

Every executor takes the run's :class:`~edvr_cli.jobs.runplan.RunPlan` and segment specs and reports each
finished piece to ``on_segment`` (in any order); the driver commits it to the work folder.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from edvr_cli import env
from edvr_cli.errors import EDVRError
from edvr_cli.guard.signals import signals_deferred
from edvr_cli.jobs.piece import PieceMaker
from edvr_cli.jobs.runplan import RunPlan
from edvr_cli.jobs.segplan import SegmentSpec
from edvr_cli.jobs.workfolder import Segment

OnSegment = Callable[[Segment], None]
OnFrames = Callable[[int], None]
PartPath = Callable[[int], Path]

#: How often a segment whose worker died is tried again before the run gives up.
RETRIES = 2


def executor_for(plan: RunPlan, models: Any, on_nonfinite: Callable[[int], None] | None = None) -> Any:
    """The plan's executor: this process (with the driver's models), local processes, or Ray."""
    ex = plan.execution
    if ex.executor == "ray":
        from edvr_cli.jobs.cluster import RayExecutor

        # the cluster's GPUs unless the CPU was asked for (a driver without a GPU may lead a cluster with them)
        kind = "cpu" if plan.settings.device == "cpu" else "cuda"
        return RayExecutor(ex.cluster or "local", ex.workers or None, kind, on_nonfinite)
    if ex.executor == "processes":
        return ProcessExecutor(ex.workers, ex.devices, on_nonfinite)
    return InlineExecutor(PieceMaker(plan, models), on_nonfinite)


def crash_for_tests(index: int) -> None:
    """Tests: a worker dies mid-segment, once (``EDVR_TEST_CRASH_ONCE`` names the marker file)."""
    crash = env.test_crash_once()
    if crash and index == 1 and not os.path.exists(crash):
        Path(crash).write_text("crashed")
        os._exit(17)


class InlineExecutor:
    """One worker: this process, with the models the driver already loaded."""

    def __init__(self, maker: PieceMaker, on_nonfinite: Callable[[int], None] | None = None) -> None:
        self.maker = maker
        self.on_nonfinite = on_nonfinite

    def run(self, plan: RunPlan, specs: Sequence[SegmentSpec], part: PartPath, on_segment: OnSegment,
            on_frames: OnFrames, warn: Callable[[str], None]) -> None:
        for spec in specs:
            on_segment(self.maker.make(spec, part(spec.index), on_frame=on_frames, warn=warn,
                                       on_nonfinite=self.on_nonfinite))


# -- local worker processes ------------------------------------------------------------------------------

_maker: PieceMaker | None = None
_ticks: Any = None


def _init_worker(plan: RunPlan, devices: Any, ticks: Any) -> None:
    """A worker process: Ctrl-C is the driver's to handle; load the models once, on this worker's device."""
    global _maker, _ticks
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _maker = PieceMaker(plan, device=devices.get())
    _ticks = ticks


def _make_in_worker(spec: SegmentSpec, part: str) -> tuple[Segment, int]:
    assert _maker is not None

    def tick(n: int) -> None:
        if _ticks is not None:
            _ticks.put(n)

    crash_for_tests(spec.index)
    bad: list[int] = []
    return _maker.make(spec, part, on_frame=tick, on_nonfinite=bad.append), sum(bad)


class ProcessExecutor:
    """``workers`` local processes (spawned: CUDA and threads are safe), one model each, with the plan's
    threads per worker.

    Args:
        workers: how many processes.
        devices: one device per process, cycled (``cpu`` for all on a machine without GPUs).
    """

    def __init__(self, workers: int, devices: Sequence[str], on_nonfinite: Callable[[int], None] | None = None) -> None:
        self.workers = max(1, workers)
        self.devices = list(devices) or ["cpu"]
        self.on_nonfinite = on_nonfinite

    def run(self, plan: RunPlan, specs: Sequence[SegmentSpec], part: PartPath, on_segment: OnSegment,
            on_frames: OnFrames, warn: Callable[[str], None]) -> None:
        ctx = mp.get_context("spawn")
        todo = list(specs)
        tries = 0
        while todo:
            # the helper processes (workers, multiprocessing's resource tracker) start with the signals
            # blocked: a signal to the process group is the driver's to handle; it ends them itself
            with signals_deferred():
                _quiet_resource_tracker()
                devices = ctx.Queue()
                for i in range(self.workers):
                    devices.put(self.devices[i % len(self.devices)])
                ticks = ctx.Queue()
                pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(plan, devices, ticks))
                futures: dict[Future, SegmentSpec] = {
                    pool.submit(_make_in_worker, s, str(part(s.index))): s for s in todo}
            done_specs: list[SegmentSpec] = []
            try:
                while futures:
                    finished, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain_ticks(ticks, on_frames)
                    for f in finished:
                        spec = futures.pop(f)
                        try:
                            segment, bad = f.result()
                        except BrokenProcessPool:
                            continue  # its worker died: made again below
                        _drain_ticks(ticks, on_frames)
                        if bad and self.on_nonfinite is not None:
                            self.on_nonfinite(bad)
                        on_segment(segment)
                        done_specs.append(spec)
            except BaseException:
                _kill(pool)
                raise
            pool.shutdown(wait=True, cancel_futures=True)
            todo = [s for s in todo if s not in done_specs]
            if todo:
                tries += 1
                if tries > RETRIES:
                    raise EDVRError(f"a worker process died {tries} times; segments {[s.index for s in todo]} "
                                    "could not be made")
                warn(f"a worker process died; running {len(todo)} segment(s) again")


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its stderr elsewhere: after an interrupted run it
    would print a warning about the queues' semaphores on ours (they are freed with the processes)."""
    from multiprocessing import resource_tracker

    from edvr_cli.video.stderr import native_stderr

    with native_stderr():
        resource_tracker.ensure_running()


def _drain_ticks(ticks: Any, on_frames: OnFrames) -> None:
    import queue

    n = 0
    while True:
        try:
            n += ticks.get_nowait()
        except (queue.Empty, OSError, ValueError):
            break
    if n:
        on_frames(n)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop at once: cancel what has not started and end the worker processes."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=10)
