"""Device choice: the one place that turns --device/--precision into a torch device and dtype."""

from __future__ import annotations

import os

import torch

from edvr_cli.errors import UsageError

#: Names accepted by --precision (also importable without torch from :mod:`edvr_cli.engine.names`).
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: Centre frames per forward when ``batch`` is None: bigger operations keep several CPU threads and
#: GPUs busy (on a 2-core CPU, 4 windows per forward run about 1.5x faster than 1 with 2 threads,
#: about 10% slower with 1 thread); fewer when memory is short.
AUTO_BATCH = {"cpu": 4, "cuda": 4}


def auto_batch(device: torch.device | str, threads: int | None = None) -> int:
    """Centre frames per forward for ``batch=None``: one with one CPU thread (``threads``; None: torch's
    current count), else :data:`AUTO_BATCH` of the device type."""
    kind = torch.device(device).type
    if kind == "cpu" and (threads if threads else torch.get_num_threads()) == 1:
        return 1
    return AUTO_BATCH.get(kind, 1)


def worker_threads(workers: int, given: int | None = None) -> int:
    """The thread policy: torch threads of each CPU worker: ``given`` (``--threads``), else this process's
    share of the cores (torch's count for one worker, the cores divided among several)."""
    if given:
        return int(given)
    if workers <= 1:
        return torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // workers)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; anything else as torch understands it.

    Raises:
        UsageError: an unknown device name, or a device this machine does not have.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown --device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name} was asked for, but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise UsageError(f"--device {name} was asked for, but MPS is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported --device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def use_device(device: torch.device) -> None:
    """Make ``device`` this process's current CUDA device (``cuda:1``: no context is opened on GPU 0, and
    copies and events default to its streams); nothing for other devices."""
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA, fp32 elsewhere."""
    return "fp16" if device.type == "cuda" else "fp32"
