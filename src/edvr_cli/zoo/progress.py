"""Download progress: the zoo reports ``(bytes done, bytes total or None)`` to a callback.

The zoo draws nothing itself. A caller passes ``on_progress``; when it passes none and is not quiet,
``progress_display`` shows the download on the program's one progress bar
(``edvr_cli.display.frame_progress``: drawn only when stderr is a terminal, silent in pipes),
with sizes in MB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: ``on_progress(done, total)``: bytes written so far (including a resumed part), total size or None.
ProgressCallback = Callable[[int, int | None], None]

MB = 1_000_000


@contextmanager
def progress_display(label: str, quiet: bool) -> Iterator[ProgressCallback | None]:
    """A callback drawing ``label``'s download on the shared progress bar; None when nothing is drawn."""
    if quiet:
        yield None
        return
    from edvr_cli.display import frame_progress, show_progress, stderr_console

    console = stderr_console()
    if not show_progress(quiet, console):
        yield None
        return
    with frame_progress(quiet, console) as progress:
        task = progress.add_task(f"{label} (MB)", total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(
                task,
                completed=done / MB,
                total=total / MB if total else None,
                description=f"{label} ({done / MB:.1f}/{total / MB:.1f} MB)" if total
                else f"{label} ({done / MB:.1f} MB)",
            )

        yield update
