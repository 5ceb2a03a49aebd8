"""CUDA paths checked on the CPU with stand-ins for torch.cuda: the copy event on the right device's
stream, blocking waits, the current device set for ``cuda:N``."""

from __future__ import annotations

import torch

from edvr_cli import load_model
from edvr_cli.engine import device as device_module
from edvr_cli.engine.restorer import StreamRestorer

from conftest import GOLDEN


class FakeEvent:
    made: list[FakeEvent] = []

    def __init__(self, blocking: bool = False, **kw) -> None:
        self.blocking, self.stream = blocking, None
        FakeEvent.made.append(self)

    def record(self, stream=None) -> None:
        self.stream = stream


def test_the_copy_event_is_recorded_on_the_restorers_device_and_blocks(monkeypatch):
    streams: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: streams.append(device) or f"s:{device}")
    r = StreamRestorer(load_model(GOLDEN / "basicsr_sr_tsa.pth"))
    r.device = torch.device("cuda:1")
    event = r._copied()
    assert streams == [torch.device("cuda:1")] and event.stream == "s:cuda:1"  # not GPU 0's default stream
    assert event.blocking  # a wait sleeps instead of spinning a core


def test_cuda_n_becomes_the_current_device(monkeypatch):
    chosen: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    device_module.use_device(torch.device("cuda:1"))
    device_module.use_device(torch.device("cuda"))  # no index: whatever is current (Ray's visible GPU)
    device_module.use_device(torch.device("cpu"))
    assert chosen == [torch.device("cuda:1")]


def test_worker_models_load_on_their_device_after_setting_it(monkeypatch, tmp_path):
    """A worker process for cuda:1 makes it current before loading (no context on GPU 0)."""
    from edvr_cli.jobs import piece
    from edvr_cli.jobs.models import load_models
    from edvr_cli.jobs.runplan import make_plan
    from edvr_cli.jobs.settings import RestoreSettings

    from clips import make_clip

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4)
    s = RestoreSettings(model=str(GOLDEN / "basicsr_sr_tsa.pth"), device="cpu", quiet=True, resume=True)
    plan = make_plan(src, tmp_path / "o.mkv", s, load_models(s))
    order: list[str] = []
    monkeypatch.setattr(device_module, "resolve_device", lambda name: torch.device("cpu"))
    monkeypatch.setattr(device_module, "use_device", lambda d: order.append("set"))
    import edvr_cli.model.descriptor as descriptor

    real = descriptor.load_descriptor
    monkeypatch.setattr(descriptor, "load_descriptor", lambda *a, **k: order.append("load") or real(*a, **k))
    piece.load_plan_models(plan, "cuda:1")
    assert order == ["set", "load"]
