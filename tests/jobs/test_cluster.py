"""Ray resources: every actor is scheduled (a share of a GPU when there are more actors than GPUs), and a
CPU run stays on the CPU on a cluster with GPUs."""

from __future__ import annotations

import importlib.util

import pytest

from edvr_cli.cli import main
from edvr_cli.jobs.cluster import actor_resources

from clips import make_clip

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs Ray")


def test_actor_resources():
    assert actor_resources(0, 3) == (0, 1, "cpu")
    assert actor_resources(2, 2) == (1.0, 0, "cuda")
    assert actor_resources(4, 2) == (1.0, 0, "cuda")
    assert actor_resources(1, 2) == (0.5, 0, "cuda")  # with a whole GPU each the second actor never starts
    assert actor_resources(2, 3) == (2 / 3, 0, "cuda")


@needs_ray
@pytest.mark.slow
def test_a_cpu_run_on_a_cluster_with_a_gpu_stays_on_the_cpu(tmp_path, monkeypatch):
    """A local cluster that declares a GPU: ``--device cpu`` actors take no GPU and run on the CPU (before,
    each took a GPU and ran on "cuda": the second never started, the first failed)."""
    from edvr_cli.jobs import cluster

    def init_with_a_gpu(self, ray, runtime):
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, runtime_env=runtime, configure_logging=False)

    monkeypatch.setattr(cluster.RayExecutor, "_init", init_with_a_gpu)
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=16)
    out = tmp_path / "o.mkv"
    rc = main(["upscale", str(src), str(out), "--model", "edvr-tiny", "--device", "cpu", "--cluster", "local",
               "--workers", "2", "--segment-frames", "8", "-q"])
    assert rc == 0 and out.exists()


def test_devices_without_workers_is_refused_in_one_line(tmp_path, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=4)
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), "--model", "edvr-tiny", "--devices", "cpu,cpu", "-q"])
    err = [line for line in capfd.readouterr().err.splitlines() if line]
    assert rc != 0 and len(err) == 1 and "--devices" in err[0] and not (tmp_path / "o.mp4").exists()


def test_an_indexed_device_is_every_workers_device(tmp_path, monkeypatch):
    from edvr_cli.jobs.runplan import _worker_devices
    from edvr_cli.jobs.settings import RestoreSettings

    assert _worker_devices(RestoreSettings(workers=2), "cuda:1") == ("cuda:1",)
    assert _worker_devices(RestoreSettings(workers=2, devices=("cuda:0", "cuda:2")), "cuda:1") == ("cuda:0", "cuda:2")
    assert _worker_devices(RestoreSettings(workers=2), "cpu") == ("cpu",)
