"""Background threads of a run: a worker whose error reaches the main thread, and stoppable queue hand-offs."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class Stop(Exception):
    """Raised inside a worker when the pipeline is shutting down."""


END = object()


class Worker(threading.Thread):
    """A daemon thread whose exception is re-raised in the main thread by :meth:`check`."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except Stop:
            pass
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    """Hand ``item`` on, waiting for room; raises :class:`Stop` when the run is shutting down."""
    while True:
        if stop.is_set():
            raise Stop
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def get(q: queue.Queue, stop: threading.Event, producer: Worker | None = None) -> Any:
    """Next item; re-raises the producer thread's error, and ends if it died without saying so."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if producer is not None:
                producer.check()
            if stop.is_set():
                raise Stop from None
            if producer is not None and not producer.is_alive() and q.empty():
                producer.check()
                return END


def send(q: queue.Queue, item: Any, consumer: Worker) -> None:
    """Hand ``item`` to a consumer thread, re-raising its error instead of waiting on a dead one."""
    while True:
        consumer.check()
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
