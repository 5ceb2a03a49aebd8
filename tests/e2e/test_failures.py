"""Failures mid-flight: a full disk, a decoder error, a failing GPU, a damaged cached model, other processes.

Each ends with one clear line, leaves no partial output, and lets a batch go on with the next file.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import av.error
import pytest
import torch

from edvr_cli import load_model

from edvr_cli.jobs import segplan
from edvr_cli.model.arch import EDVR
from edvr_cli.cli import main
from edvr_cli.errors import EDVRCheckpointError, InputError
from edvr_cli.errors import DeviceError, OutOfSpaceError
from edvr_cli.jobs.run import restore_video
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.jobs.workfolder import work_dir
from edvr_cli.video import FrameReader, writer
from edvr_cli.zoo import Registry, cache, import_model, resolve_model

from clips import make_clip
from conftest import GOLDEN
from fakeservers import FakeServer, closed_port_url, run_in_two_processes, fixture_bytes, sha256_hex, tiny_entry

SR = str(GOLDEN / "basicsr_sr_tsa.pth")


def settings(**kw) -> RestoreSettings:
    base = dict(model=SR, device="cpu", precision="fp32", tile=0, quiet=True, batch=1)  # failure injection counts forwards
    base.update(kw)
    return RestoreSettings(**base)


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def fail_on_call(monkeypatch, cls, name: str, n: int, exc: BaseException, when=lambda *a: True) -> None:
    """Make ``cls.name`` raise ``exc`` from its ``n``-th call on (among calls for which ``when(self)`` holds)."""
    real = getattr(cls, name)
    calls = {"n": 0}

    def failing(self, *args, **kw):
        if when(self):
            calls["n"] += 1
            if calls["n"] >= n:
                raise exc
        return real(self, *args, **kw)

    monkeypatch.setattr(cls, name, failing)


def one_error_line(capfd) -> str:
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edvr: error:") and "Traceback" not in err, err
    return lines[0]


def enospc(kind: str) -> OSError:
    if kind == "av":  # what PyAV raises when FFmpeg's write fails
        try:
            av.error.err_check(-errno.ENOSPC, "out.mp4")
        except OSError as exc:
            return exc
    return OSError(errno.ENOSPC, "No space left on device")


# -- a full disk ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["os", "av"])
def test_disk_full_one_clear_line_and_no_partial_output(tmp_path, monkeypatch, capfd, kind):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4)
    out = tmp_path / "out.mp4"
    fail_on_call(monkeypatch, writer.VideoWriter, "write", 3, enospc(kind))
    with pytest.raises(OutOfSpaceError, match=r"^no space left on device while writing '.*out\.mp4'$"):
        restore_video(src, out, settings())
    assert visible(tmp_path) == ["in.mp4"]
    rc = main(["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "-q", "--batch", "1"])
    assert rc == 1 and "no space left on device while writing" in one_error_line(capfd)
    assert visible(tmp_path) == ["in.mp4"]


def test_disk_full_in_a_resumable_run_keeps_finished_segments(tmp_path, monkeypatch):
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)  # two segments of a five-frame clip
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)
    out = tmp_path / "out.mp4"
    fail_on_call(monkeypatch, writer.VideoWriter, "write", 4, enospc("os"))
    with pytest.raises(OutOfSpaceError, match="no space left.*3 finished frames are kept.*rerun the same command"):
        restore_video(src, out, settings(resume=True, segment_frames=3))
    assert not out.exists()
    assert visible(work_dir(out)) == ["lock", "manifest.json", "seg-000000.mp4"]  # the half segment is gone
    monkeypatch.undo()
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)
    progress: list[int] = []
    restore_video(src, out, settings(resume=True, segment_frames=3), on_progress=lambda d, t: progress.append(d))
    assert progress == [0, 3, 4, 5] and visible(tmp_path) == ["in.mp4", "out.mp4"]  # total, kept, then made


# -- a decoder failing in the middle -----------------------------------------------------------------------

def _eio() -> OSError:
    try:
        av.error.err_check(-errno.EIO)
    except OSError as exc:
        return exc


@pytest.mark.parametrize("exc", [_eio(), MemoryError()], ids=["EIO", "MemoryError"])
def test_decoder_error_mid_file(tmp_path, monkeypatch, capfd, exc):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=6)
    out = tmp_path / "out.mp4"
    real = FrameReader.__iter__

    def failing(self):
        for frame in real(self):
            if frame.index == 2:
                raise exc
            yield frame

    monkeypatch.setattr(FrameReader, "__iter__", failing)
    with pytest.raises(InputError, match=r"'in\.mp4': decoding failed at frame 2"):
        restore_video(src, out, settings())
    assert visible(tmp_path) == ["in.mp4"]
    assert main(["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "-q", "--resume"]) == 1
    assert "decoding failed at frame 2" in one_error_line(capfd)
    assert visible(tmp_path) == ["in.mp4"]  # no segment was finished: no work folder either


def test_damaged_data_mid_file_keeps_the_frames_before_it(tmp_path):
    """What FFmpeg reports as damaged data ends the frames early, with a warning (not an error)."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=6)
    real = FrameReader._video_frames

    def damaged(self, *args, **kw):
        for n, frame in enumerate(real(self, *args, **kw)):
            if n == 3:
                self.warn(f"'{self.info.path.name}': damaged data ends decoding early (Invalid data); keeping the frames before it")
                return
            yield frame

    warnings: list[str] = []
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setattr(FrameReader, "_video_frames", damaged)
        result = restore_video(src, tmp_path / "out.mkv", settings(), on_warning=warnings.append)
    assert result.frames == 3 and any("damaged data" in w for w in warnings)


# -- a failing GPU (simulated: no CUDA device is needed) ---------------------------------------------------

@pytest.mark.parametrize("exc", [
    RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be reported later"),
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
], ids=["cuda-error", "oom"])
def test_gpu_failure_mid_run(tmp_path, monkeypatch, capfd, exc):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=6)
    out = tmp_path / "out.mp4"
    fail_on_call(monkeypatch, EDVR, "fuse_and_reconstruct", 3, exc)
    with pytest.raises(DeviceError) as info:
        restore_video(src, out, settings())
    message = str(info.value)
    assert "\n" not in message and "in.mp4" in message
    if isinstance(exc, torch.OutOfMemoryError):
        assert message.startswith("out of GPU memory restoring 'in.mp4'") and "--tile" in message
    else:
        assert message.startswith("the GPU failed restoring 'in.mp4' at frame") and "illegal memory access" in message
    assert visible(tmp_path) == ["in.mp4"]
    rc = main(["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "-q", "--batch", "1"])
    assert rc == 1 and "GPU" in one_error_line(capfd)


# -- a batch goes on -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_batch_moves_on_after_disk_and_gpu_failures(tmp_path, monkeypatch, capfd):
    videos, out = tmp_path / "in", tmp_path / "out"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        make_clip(videos / name, width=32, height=24, frames=3)
    # b: the disk fills while writing it; c: the GPU fails while restoring it
    fail_on_call(monkeypatch, writer.VideoWriter, "write", 2, enospc("av"), when=lambda w: ".b.mp4." in str(w.path))
    failing_fuse = EDVR.fuse_and_reconstruct
    state = {"file": None}

    def fuse(self, *args, **kw):
        if state["file"] == "c.mp4":
            raise RuntimeError("CUDA error: unspecified launch failure")
        return failing_fuse(self, *args, **kw)

    monkeypatch.setattr(EDVR, "fuse_and_reconstruct", fuse)
    import edvr_cli.jobs.run as run_module

    real_restore = run_module.restore_video

    def tracking(src, dst, *args, **kw):
        state["file"] = Path(src).name
        return real_restore(src, dst, *args, **kw)

    monkeypatch.setattr(run_module, "restore_video", tracking)
    rc = main(["upscale", str(videos), str(out), "--model", SR, "--device", "cpu", "--tile", "0"])
    err = capfd.readouterr().err
    assert rc == 1
    assert "b.mp4: failed: no space left on device while writing" in err
    assert "c.mp4: failed: the GPU failed restoring 'c.mp4' at frame 0: CUDA error: unspecified launch failure" in err
    assert "Traceback" not in err and "1 done, 0 skipped, 2 failed" in err
    assert visible(out) == ["a.mp4"]  # no partial file, no work folder, no temporary


# -- a damaged model in the cache --------------------------------------------------------------------------

def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different: only the hash can tell
    path.write_bytes(bytes(data))


def test_damaged_imported_model_is_reported(tmp_path, capfd):
    imported = import_model(SR, name="mine").cached
    assert imported.sha256 and cache.is_intact(imported)
    _damage(imported.path)
    with pytest.raises(EDVRCheckpointError, match=r"cached model mine is damaged.*edvr weights import .*--force"):
        resolve_model("mine")
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=2)
    rc = main(["upscale", str(src), str(tmp_path / "out.mp4"), "--model", "mine", "--device", "cpu", "-q"])
    assert rc == 1 and "is damaged" in one_error_line(capfd)
    assert visible(tmp_path) == ["in.mp4"]


@pytest.fixture
def local_network(monkeypatch):
    monkeypatch.setenv("EDVR_DOWNLOAD_TIMEOUT", "10")
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    monkeypatch.delenv("EDVR_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_damaged_downloaded_model_is_fetched_again(local_network):
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data)
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        registry = Registry([entry])
        first = resolve_model(entry.name, registry=registry, quiet=True)
        assert first.origin == "download"
        _damage(first.path)
        again = resolve_model(entry.name, registry=registry, quiet=True)
        assert again.origin == "download" and len(server.gets("/m.pth")) == 2
    assert cache.is_intact(cache.get(entry.name)) and cache.get(entry.name).source_sha256 == sha256_hex(data)
    assert load_model(again.path).config.num_feat == 16


def _resolve_in_child(registry_json: dict, name: str, barrier, results) -> None:
    try:
        from edvr_cli.zoo import Registry, resolve_model

        barrier.wait(timeout=60)
        resolved = resolve_model(name, registry=Registry.from_json(registry_json), quiet=True)
        results.put(("ok", resolved.origin))
    except BaseException as exc:  # reported to the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
def test_two_processes_find_the_same_damaged_model(local_network):
    data = fixture_bytes()
    with FakeServer() as server:
        server.file("/m.pth", data, throttle=0.03)
        entry = tiny_entry([{"kind": "url", "url": server.url + "/m.pth"}])
        registry = Registry([entry])
        _damage(resolve_model(entry.name, registry=registry, quiet=True).path)
        outcomes = run_in_two_processes(_resolve_in_child, (registry.to_json(), entry.name), timeout=120)
        gets = len(server.gets("/m.pth"))
    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    assert 2 <= gets <= 3  # the first download, then one or two repairs; never a damaged file used
    assert cache.is_intact(cache.get(entry.name))


# -- other processes in the same folder ----------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_write_different_outputs_in_one_folder(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4)
    exe = Path(sys.executable).with_name("edvr")
    common = ["--model", SR, "--device", "cpu", "--tile", "0", "-q"]
    procs = [subprocess.Popen([str(exe), "upscale", str(src), str(tmp_path / name), *common, flag],
                              stderr=subprocess.PIPE, text=True)
             for name, flag in (("one.mp4", "--resume"), ("two.mp4", "--no-resume"))]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert visible(tmp_path) == ["in.mp4", "one.mp4", "two.mp4"]  # no temporary, no work folder
    from clips import frame_times

    assert frame_times(tmp_path / "one.mp4") == frame_times(tmp_path / "two.mp4") == frame_times(src)
