"""Terminal display shared by the CLI and the zoo: one rich progress bar (frames, rate and ETA; download
sizes), silent in pipes and with --quiet.

The rate and the ETA come from :class:`RateMeter`, over the last few seconds of this run only (frames
a resumed run had already made do not count), and are shown once there is enough to measure.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class RateMeter:
    """Items per second over a sliding window, and the time left at that rate.

    Args:
        window: seconds of history the rate is measured over.
        min_span: seconds of history (and two updates) needed before a rate is given at all.
        clock: the time source (tests pass their own).
    """

    def __init__(self, window: float = 10.0, min_span: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.min_span, self.clock = window, min_span, clock
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int) -> None:
        now = self.clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        """Items per second, or None until ``min_span`` seconds with progress have been seen."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.min_span or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def eta(self, done: int, total: int | None) -> float | None:
        """Seconds left for ``total - done`` items at the current rate (None if either is unknown)."""
        rate = self.rate
        if rate is None or not total or total < done:
            return None
        return (total - done) / rate


class FpsColumn(ProgressColumn):
    """The meter's rate, as 'N.NN fps' ('-- fps' until it is known)."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text("-- fps" if rate is None else f"{rate:.2f} fps", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """'ETA h:mm:ss' from the meter ('ETA -:--:--' until it is known)."""

    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta")
        if eta is None:
            return Text("ETA -:--:--", style="progress.remaining")
        s = int(round(eta))
        return Text(f"ETA {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}", style="progress.remaining")


def stderr_console() -> Console:
    return Console(stderr=True)


def show_progress(quiet: bool, console: Console | None = None) -> bool:
    """Whether a live bar should be drawn: not quiet, and stderr is a terminal."""
    console = console or stderr_console()
    return not quiet and console.is_terminal


@contextmanager
def frame_progress(quiet: bool = False, console: Console | None = None) -> Iterator[Progress]:
    """A Progress for frame counts (description, bar, done/total, rate, elapsed, ETA)."""
    console = console or stderr_console()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        FpsColumn(),
        TimeElapsedColumn(),
        EtaColumn(),
        console=console,
        disable=not show_progress(quiet, console),
        transient=False,
    )
    with progress:
        yield progress


class FramesBar:
    """One bar of frames: call it as ``bar(done, total)``; rate and ETA come from a :class:`RateMeter`."""

    def __init__(self, progress: Progress, description: str, total: int | None = None) -> None:
        self.progress, self.meter = progress, RateMeter()
        self.task_id: TaskID = progress.add_task(description, total=total, rate=None, eta=None)

    def __call__(self, done: int, total: int | None) -> None:
        self.meter.update(done)
        total = total if total and total >= done else None
        self.progress.update(self.task_id, completed=done, total=total, rate=self.meter.rate,
                             eta=self.meter.eta(done, total))

    def remove(self) -> None:
        self.progress.remove_task(self.task_id)


def echo_err(message: str) -> None:
    """One line on stderr (works whether or not a live bar is drawn)."""
    print(message, file=sys.stderr, flush=True)
