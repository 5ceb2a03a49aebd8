"""Memory plans on a (stand-in) GPU: the feature cache and the workers sharing a device are counted."""

from __future__ import annotations

import pytest
import torch

from edvr_cli.engine.memory import feature_cache_bytes, resolve_tile_and_batch
from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.model.descriptor import ModelDescriptor

GB = 1024**3


@pytest.fixture(scope="module")
def edvr_l():
    return ModelDescriptor.of(EDVR(EDVRConfig(num_feat=128, num_reconstruct_block=40)))


@pytest.fixture
def gpu_with(monkeypatch):
    def free(gb: float, cached_gb: float = 0):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(gb * GB), int(80 * GB)))
        monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: int(cached_gb * GB))
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 0)
    return free


def test_torchs_cached_blocks_count_as_free(gpu_with):
    from edvr_cli.engine.memory import memory_budget

    gpu_with(10)
    alone = memory_budget(torch.device("cuda"))
    gpu_with(10, cached_gb=6)  # a later segment: torch holds what the first one freed
    assert memory_budget(torch.device("cuda")) == pytest.approx(alone * 1.6)
    assert memory_budget(torch.device("cuda"), sharing=2) == pytest.approx(alone * 0.8)


def test_the_feature_cache_of_edvr_l_at_4k_is_counted(edvr_l):
    # every tile's pyramids of the frames a window may still use: tens of GB in half precision
    assert 20 * GB < feature_cache_bytes(2160, 3840, edvr_l, 2, 4) < 40 * GB


def test_a_cache_that_does_not_fit_is_not_kept(edvr_l, gpu_with):
    gpu_with(24)
    plan = resolve_tile_and_batch(2160, 3840, edvr_l, torch.device("cuda"), "fp16", None, 4, False)
    assert not plan.cache_features and plan.batch == 1 and plan.tile > 0
    gpu_with(139)
    plan = resolve_tile_and_batch(2160, 3840, edvr_l, torch.device("cuda"), "fp16", None, 4, False)
    assert plan.cache_features


def test_the_cache_comes_out_of_the_tile_budget(edvr_l, gpu_with):
    """With the cache kept, tiles are planned in what it leaves: smaller than in the whole budget."""
    from edvr_cli.engine.memory import auto_tile

    gpu_with(16)
    plan = resolve_tile_and_batch(1080, 1920, edvr_l, torch.device("cuda"), "fp16", None, 1, True)
    hp, wp = edvr_l.padded_size(1080, 1920)
    whole = auto_tile(hp, wp, edvr_l, torch.device("cuda"), 2, budget=16 * GB * 0.6)
    assert plan.cache_features and 0 < plan.tile < whole


def test_workers_sharing_a_gpu_plan_for_their_part(edvr_l, gpu_with):
    gpu_with(40)
    one = resolve_tile_and_batch(1080, 1920, edvr_l, torch.device("cuda"), "fp16", None, 1, True)
    two = resolve_tile_and_batch(1080, 1920, edvr_l, torch.device("cuda"), "fp16", None, 1, True, sharing=2)
    assert (two.tile or 10**9) < (one.tile or 10**9)


def test_the_cpu_plan_is_unchanged():
    model = ModelDescriptor.of(EDVR(EDVRConfig()))
    plan = resolve_tile_and_batch(64, 64, model, torch.device("cpu"), "fp32", None, 4, False)
    assert (plan.tile, plan.batch, plan.cache_features) == (0, 4, True)
