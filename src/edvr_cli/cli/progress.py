"""Rich progress display: a bar with frames, fps and ETA on a terminal; silent in pipes and with --quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class FpsColumn(ProgressColumn):
    """Items per second, as 'N.N fps'."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- fps" if speed is None else f"{speed:.2f} fps", style="progress.data.speed")


def stderr_console() -> Console:
    return Console(stderr=True)


def show_progress(quiet: bool, console: Console | None = None) -> bool:
    """Whether a live bar should be drawn: not quiet, and stderr is a terminal."""
    console = console or stderr_console()
    return not quiet and console.is_terminal


@contextmanager
def frame_progress(quiet: bool = False, console: Console | None = None) -> Iterator[Progress]:
    """A Progress for frame counts (description, bar, done/total, fps, elapsed, ETA)."""
    console = console or stderr_console()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        FpsColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress(quiet, console),
        transient=False,
    )
    with progress:
        yield progress


def echo_err(message: str) -> None:
    """One line on stderr (works whether or not a live bar is drawn)."""
    print(message, file=sys.stderr, flush=True)
