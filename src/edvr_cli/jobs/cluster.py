"""Segments as Ray work: one actor per worker holds the models; pieces come back and the driver joins them.

``--cluster local`` starts a Ray instance on this machine (127.0.0.1), ``auto`` joins the cluster this
machine belongs to, ``ray://HOST:PORT`` connects a client. Actors read the input where they can see
the driver's file; otherwise it is shipped once through the object store. Pieces are written into the
work folder when the actors can see it, else returned as bytes. A segment whose actor dies is made
again by another (a replacement actor is started); a driver that dies leaves a work folder that the
same command continues.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edvr_cli import env
from edvr_cli.errors import EDVRError, first_line
from edvr_cli.jobs.executors import RETRIES, OnFrames, OnSegment, PartPath, crash_for_tests
from edvr_cli.jobs.piece import PieceMaker
from edvr_cli.jobs.runplan import RunPlan
from edvr_cli.jobs.segplan import SegmentSpec
from edvr_cli.jobs.workfolder import Segment


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EDVRError("--cluster needs Ray: pip install 'edvr-cli[ray]'") from None
    return ray


class _Actor:
    """A Ray actor's body: its models, loaded once; it makes pieces and says where they are."""

    def __init__(self, plan: RunPlan, device: str, source: Any, host: str) -> None:
        self.tmp = ""  # made only to hold a shipped input or returned pieces; removed by close()
        self.ship = source is not None or socket.gethostname() != host or not os.path.exists(plan.src)
        if source is not None:  # Ray hands an object-store argument over as its value (the input's bytes)
            self.tmp = tempfile.mkdtemp(prefix="edvr-actor-")
            local = os.path.join(self.tmp, "input" + plan.src.suffix)
            with open(local, "wb") as f:
                f.write(source)
            import dataclasses

            plan = dataclasses.replace(plan, src=Path(local), info=dataclasses.replace(plan.info, path=Path(local)))
        self.maker = PieceMaker(plan, device=device)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        """Remove this actor's temporary folder (the shipped input)."""
        import shutil

        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def make(self, spec: SegmentSpec, part: str, ship_back: bool) -> tuple[Segment, bytes | None, int]:
        """The segment, its piece's bytes when they travel back through Ray, and its non-finite values."""
        crash_for_tests(spec.index)
        bad: list[int] = []
        if not ship_back:
            return self.maker.make(spec, part, on_nonfinite=bad.append), None, sum(bad)
        self.tmp = self.tmp or tempfile.mkdtemp(prefix="edvr-actor-")
        local = os.path.join(self.tmp, Path(part).name)
        try:
            segment = self.maker.make(spec, local, on_nonfinite=bad.append)
            with open(local, "rb") as f:
                return segment, f.read(), sum(bad)
        finally:
            if os.path.exists(local):
                os.unlink(local)


def actor_resources(gpus: int, actors: int) -> tuple[float, float, str]:
    """(GPUs, CPUs, device) each actor asks Ray for: a whole GPU each while there are enough, else an equal
    share (so every actor is scheduled: with a whole GPU each, actors beyond the GPUs would wait forever);
    one CPU each on a cluster without GPUs (or a CPU run)."""
    if gpus <= 0:
        return 0, 1, "cpu"
    return min(1.0, gpus / max(1, actors)), 0, "cuda"


class RayExecutor:
    """Run segments on Ray actors.

    Args:
        address: ``local``, ``auto`` or ``ray://HOST:PORT``.
        workers: actors to start (default: the cluster's GPUs, else its CPUs).
        device_type: the run's device type: ``cpu`` keeps every actor on the CPU, even on a cluster
            with GPUs; ``cuda`` gives each actor a GPU, or a share of one when there are more actors.
    """

    def __init__(self, address: str, workers: int | None, device_type: str = "cuda",
                 on_nonfinite: Callable[[int], None] | None = None) -> None:
        self.on_nonfinite = on_nonfinite
        self.address = address
        self.workers = workers
        self.device_type = device_type
        self.started = False

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        runtime = {"env_vars": env.passed_to_workers()}
        from edvr_cli.guard import signals
        from edvr_cli.video.stderr import native_stderr

        try:
            # Ray's start-up notes are not ours to print; a signal meanwhile waits for our handler
            with signals.signals_deferred():
                try:
                    with native_stderr():
                        self._init(ray, runtime)
                finally:
                    signals.install()  # Ray's driver puts its own SIGTERM handler in; ours goes back first
        except Exception as exc:  # noqa: BLE001 - connection errors come in many classes
            raise EDVRError(f"cannot reach the Ray cluster {self.address!r}: {first_line(exc)}") from None
        self.started = True

    def _init(self, ray: Any, runtime: dict[str, Any]) -> None:
        # the driver's signals are ours: Ray's fatal-signal handler would turn a SIGTERM into a crash dump
        env.set_default("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        if self.address == "local":
            ray.init(num_cpus=max(self.workers or 1, os.cpu_count() or 1), include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=False, runtime_env=runtime, configure_logging=False)
        else:
            ray.init(address=self.address, log_to_driver=False, runtime_env=runtime, configure_logging=False)

    def run(self, plan: RunPlan, specs: Sequence[SegmentSpec], part: PartPath, on_segment: OnSegment,
            on_frames: OnFrames, warn: Callable[[str], None]) -> None:
        if not specs:
            return
        ray = _import_ray()
        self._connect(ray)
        try:
            self._run(ray, plan, specs, part, on_segment, on_frames, warn)
        finally:
            if self.started:
                from edvr_cli.guard import signals

                with signals.signals_deferred():  # shutting Ray down resets handlers: ours come back after
                    ray.shutdown()
                    signals.install()

    def _run(self, ray: Any, plan: RunPlan, specs: Sequence[SegmentSpec], part: PartPath, on_segment: OnSegment,
             on_frames: OnFrames, warn: Callable[[str], None]) -> None:
        gpus = int(ray.cluster_resources().get("GPU", 0)) if self.device_type == "cuda" else 0
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = self.workers or gpus or cpus
        n = max(1, min(n, len(specs)))
        num_gpus, num_cpus, device = actor_resources(gpus, n)
        ship = env.ray_ship()
        source = None
        if ship:
            if plan.info.is_image_sequence:
                raise EDVRError("an image folder cannot be shipped to Ray workers; put it where they can read it")
            source = ray.put(plan.src.read_bytes())
        plan_ref = ray.put(plan)
        actor_cls = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus, max_restarts=0)(_Actor)
        host = socket.gethostname()

        def start() -> Any:
            return actor_cls.remote(plan_ref, device, source, host)

        actors = [start() for _ in range(n)]
        pending = list(specs)
        tries: dict[int, int] = {}
        running: dict[Any, tuple[Any, SegmentSpec]] = {}

        def submit(actor: Any) -> None:
            spec = pending.pop(0)
            running[actor.make.remote(spec, str(part(spec.index)), ship)] = (actor, spec)

        for actor in actors:
            if pending:
                submit(actor)
        from edvr_cli.guard import signals

        reasserted = False
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            if not reasserted:  # Ray's core worker puts its own fatal-signal handlers in place lazily
                signals.install()
                reasserted = True
            ref = ready[0]
            actor, spec = running.pop(ref)
            try:
                segment, data, bad = ray.get(ref)
            except ray.exceptions.RayActorError:
                tries[spec.index] = tries.get(spec.index, 0) + 1
                if tries[spec.index] > RETRIES:
                    raise EDVRError(f"segment {spec.index} failed on {tries[spec.index]} Ray workers") from None
                warn(f"a Ray worker died making segment {spec.index}; another makes it again")
                pending.insert(0, spec)
                actor = start()
                submit(actor)
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                if isinstance(cause, EDVRError):
                    raise cause from None
                raise EDVRError(f"segment {spec.index} failed on a Ray worker: {first_line(cause)}") from None
            if data is not None:
                with open(part(spec.index), "wb") as f:
                    f.write(data)
            on_frames(segment.frames)
            if bad and self.on_nonfinite is not None:
                self.on_nonfinite(bad)
            on_segment(segment)
            if pending:
                submit(actor)
        for actor in actors:
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - an actor that died has nothing left to close
                pass
            ray.kill(actor)
