"""Signals: SIGINT, SIGTERM and SIGHUP unwind the program like Ctrl-C, so every cleanup runs.

:func:`install` makes each of them raise :class:`~edvr_cli.errors.Interrupted` in the main thread;
:func:`signals_deferred` holds them back during a rename or a cleanup that must not be cut short.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from edvr_cli.errors import Interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from types import FrameType

HANDLED = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


_received: list[int] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def raise_if_interrupted() -> None:
    """Re-raise a signal that a library turned into another exception (call in broad ``except`` clauses)."""
    if _received:
        signum = _received[-1]
        _received.clear()
        raise Interrupted(signum)


def last_received() -> int | None:
    """The last signal seen (a library may have turned it into a plain KeyboardInterrupt)."""
    return _received[-1] if _received else None


def forget() -> None:
    """Drop the record of signals already acted on (a program that goes on after handling one)."""
    _received.clear()


def _note(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def install(*, note_only: bool = False) -> None:
    """Route SIGINT, SIGTERM and SIGHUP to :class:`Interrupted` (main thread only; elsewhere a no-op).

    ``note_only`` (while the program is still importing) only records a signal; :func:`raise_if_interrupted`
    acts on it once the program can unwind cleanly.
    """
    try:
        for sig in HANDLED:
            signal.signal(sig, _note if note_only else _raise)
    except ValueError:  # not the main thread: signals are the main thread's to handle
        return
    import edvr_cli

    early = getattr(edvr_cli, "_early", None)  # noted while the package itself was being imported
    if early:
        _received.extend(early)
        early.clear()


def import_deferred(*modules: str) -> None:
    """Import ``modules`` with the handled signals held back; one that arrived meanwhile is raised after."""
    import importlib

    with signals_deferred():
        for name in modules:
            importlib.import_module(name)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Block the handled signals inside the block; one that arrived meanwhile is raised after it."""
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
