"""Training: data from stills, the loss going down, exact resume, evaluation JSON, the bundled model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edvr_cli.lab.degrade import Degradation, bicubic_down, still_to_clip
from edvr_cli.lab.train import ClipSampler, TrainOptions, charbonnier_loss, learning_rate, scan_sources, train
from edvr_cli.lab.train.data import fixed_samples, step_generator
from edvr_cli.video.images import write_frames, write_image

TINY: dict[str, Any] = {"num_feat": 8, "num_frame": 3, "deformable_groups": 2, "num_extract_block": 1,
                        "num_reconstruct_block": 1}
WEIGHTS = Path(__file__).resolve().parents[2] / "src" / "edvr_cli" / "weights"


def _photo(seed: int, h: int = 72, w: int = 88) -> np.ndarray:
    """A smooth-ish random 'photo' with some texture."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, h // 8, w // 8, generator=g)
    img = torch.nn.functional.interpolate(base[None], size=(h, w), mode="bicubic", align_corners=False)[0]
    img = (img + 0.15 * torch.rand(3, h, w, generator=g)).clamp(0, 1)
    return (img.permute(1, 2, 0) * 255).round().byte().numpy()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i in range(3):
        write_image(root / f"p{i}.png", _photo(i))
    return root


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _opts(data: Path, out: Path, **kw) -> TrainOptions:
    base: dict[str, Any] = dict(data=str(data), out_dir=str(out), model=dict(TINY), steps=6, batch_size=2, patch=8,
                                lr=2e-3, warmup=1, val_fraction=0.34, val_every=3, val_samples=2, val_patch=8,
                                checkpoint_every=3, seed=3, device="cpu", log_every=100)
    base.update(kw)
    return TrainOptions(**base)


def test_still_to_clip_and_degradation_shapes():
    img = torch.rand(3, 80, 96)
    hr = still_to_clip(img, 5, (32, 48), torch.Generator().manual_seed(0))
    assert hr.shape == (5, 3, 32, 48) and 0 <= hr.min() and hr.max() <= 1
    lq = Degradation(scale=4).apply(hr)
    assert lq.shape == (5, 3, 8, 12)
    assert torch.equal(lq, torch.round(lq * 255) / 255)  # 8-bit levels
    assert not torch.equal(hr[0], hr[4])  # the camera moved
    blurred = Degradation(scale=4, blur="motion", blur_strength=5).apply(hr, torch.Generator().manual_seed(0))
    assert blurred.shape == lq.shape


def test_sampler_is_a_function_of_seed_and_step(photos):
    sampler = ClipSampler(scan_sources(photos), num_frame=3, patch=8)
    a = sampler.batch(2, step_generator(1, 5))
    b = sampler.batch(2, step_generator(1, 5))
    c = sampler.batch(2, step_generator(1, 6))
    assert a[0].shape == (2, 3, 3, 8, 8) and a[1].shape == (2, 3, 32, 32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_learning_rate_schedule():
    opts = TrainOptions(data="x", steps=100, lr=1e-3, lr_min=1e-5, warmup=10)
    assert learning_rate(0, opts) == pytest.approx(1e-4)
    assert learning_rate(10, opts) == pytest.approx(1e-3)
    assert learning_rate(100, opts) == pytest.approx(1e-5)
    assert learning_rate(60, opts) < learning_rate(30, opts)


def test_charbonnier_is_smooth_l1():
    x = torch.zeros(4)
    assert charbonnier_loss(x, x, eps=1e-3) == pytest.approx(1e-3)
    assert charbonnier_loss(x, torch.ones(4), eps=1e-3) == pytest.approx(1.0, abs=1e-6)


def test_training_decreases_the_loss(photos, tmp_path):
    """Fine-tune (--init) a model whose output is off by a colour cast: a few steps must pull the loss down."""
    from edvr_cli import load_model, save_model
    from edvr_cli.model.arch import EDVR, EDVRConfig

    torch.manual_seed(0)
    start = EDVR(EDVRConfig(**TINY))
    with torch.no_grad():
        for bias in start.conv_last.parameters():
            if bias.dim() == 1:
                bias.add_(0.15)
    init = save_model(start, tmp_path / "start.safetensors")
    sampler = ClipSampler(scan_sources(photos), num_frame=3, patch=8)
    fixed = fixed_samples(sampler, 4, seed=123)
    lq = torch.stack([s[0] for s in fixed])
    gt = torch.stack([s[1] for s in fixed])
    with torch.no_grad():
        before = charbonnier_loss(start.eval()(lq), gt).item()
    losses = []
    result = train(_opts(photos, tmp_path / "run", init=str(init), steps=12, lr=2e-3, val_samples=0,
                         checkpoint_every=100), quiet=True, on_step=lambda step, loss: losses.append(loss))
    with torch.no_grad():
        after = charbonnier_loss(result.model(lq), gt).item()
    assert after < 0.6 * before
    assert sum(losses[-3:]) < sum(losses[:3])
    assert result.model_path is not None
    assert load_model(result.model_path).config == EDVRConfig(**TINY)


def test_resume_reproduces_an_uninterrupted_run(photos, tmp_path):
    full = train(_opts(photos, tmp_path / "full"), quiet=True)

    class Interrupt(Exception):
        pass

    def stop(step: int, loss: float) -> None:
        if step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_opts(photos, tmp_path / "cut"), quiet=True, on_step=stop)
    assert (tmp_path / "cut" / "last.pt").is_file()
    resumed = train(_opts(photos, tmp_path / "cut"), resume="auto", quiet=True)
    assert resumed.step == full.step == 6
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h for h in full.history if "val_psnr" in h] == [h for h in resumed.history if "val_psnr" in h]


def test_train_cli_writes_model_and_log(photos, tmp_path):
    from edvr_cli.cli.lab import train_command

    out = tmp_path / "cli"
    args = [str(photos), "--out-dir", str(out), "--steps", "2", "--batch-size", "1", "--patch", "8",
            "--num-feat", "8", "--num-frame", "3", "--deformable-groups", "2", "--num-extract-block", "1",
            "--num-reconstruct-block", "1", "--val-every", "2", "--val-samples", "1", "--seed", "1", "--quiet"]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "options.json").read_text())["seed"] == 1
    assert any("val_psnr" in json.loads(line) for line in (out / "log.jsonl").read_text().splitlines())


# ------------------------------------------------------------------------------------------------- eval


@pytest.fixture(scope="module")
def eval_clips(tmp_path_factory) -> Path:
    """gt/ and lq/ with two clips of 7 frames (48x64 from 12x16)."""
    root = tmp_path_factory.mktemp("evalclips")
    for i, name in enumerate(["a", "b"]):
        img = torch.from_numpy(_photo(10 + i, 96, 120)).permute(2, 0, 1).float() / 255
        hr = torch.round(still_to_clip(img, 7, (48, 64), torch.Generator().manual_seed(i)) * 255) / 255
        lq = bicubic_down(hr)
        for sub, frames in (("gt", hr), ("lq", lq)):
            write_frames(root / sub / name, (frames * 255).round().byte().permute(0, 2, 3, 1).numpy())
    return root


def _check_report(report: dict, frames: int) -> None:
    assert set(report) == {"average", "clips"}
    assert set(report["average"]) == {"psnr", "ssim"}
    assert set(report["clips"]) == {"a", "b"}
    for clip in report["clips"].values():
        assert set(clip) == {"psnr", "ssim", "frames"} and clip["frames"] == frames
        assert 10 < clip["psnr"] < 60 and 0 < clip["ssim"] <= 1


def test_eval_pred_dirs_json(eval_clips, tmp_path):
    from edvr_cli.cli.lab import eval_command

    pred = tmp_path / "pred"
    for name in ("a", "b"):
        frames = sorted((eval_clips / "gt" / name).iterdir())
        from edvr_cli.video.images import read_image

        noisy = [np.clip(read_image(f).astype(int) + 3, 0, 255).astype(np.uint8) for f in frames]
        write_frames(pred / name, noisy)
    res = CliRunner().invoke(eval_command, ["--pred", str(pred), "--gt", str(eval_clips / "gt"), "--json", "-"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    _check_report(report, 7)
    assert report["average"]["psnr"] == pytest.approx(10 * np.log10(255**2 / 9), abs=0.3)
    res = CliRunner().invoke(eval_command, ["--pred", str(pred), "--gt", str(eval_clips / "gt"), "--json", "-",
                                            "--no-border-frames"])
    _check_report(json.loads(res.output), 3)


def test_eval_model_and_baselines(eval_clips, tmp_path):
    from edvr_cli import save_model
    from edvr_cli.cli.lab import eval_command
    from edvr_cli.model.arch import EDVR, EDVRConfig

    torch.manual_seed(0)
    path = save_model(EDVR(EDVRConfig(**TINY)), tmp_path / "m.safetensors")
    reports = {}
    for model in ("bicubic", "bilinear", str(path)):
        out = tmp_path / f"{Path(model).stem}.json"
        res = CliRunner().invoke(eval_command, ["--model", model, "--lq", str(eval_clips / "lq"),
                                                "--gt", str(eval_clips / "gt"), "--json", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        reports[model] = json.loads(out.read_text())
        _check_report(reports[model], 7)
    assert reports["bicubic"]["average"]["psnr"] > reports["bilinear"]["average"]["psnr"]


def test_eval_needs_pred_or_model(eval_clips):
    from edvr_cli.cli.lab import eval_command

    res = CliRunner().invoke(eval_command, ["--gt", str(eval_clips / "gt")])
    assert res.exit_code != 0


# ------------------------------------------------------------------------------------------ bundled model


def test_bundled_edvr_tiny_loads_as_registered():
    path = WEIGHTS / "edvr-tiny.safetensors"
    assert path.is_file(), "the bundled model is missing"
    assert path.stat().st_size <= 5 * 1024 * 1024
    from edvr_cli import load_model
    from edvr_cli.lab.train import PRESETS

    model = load_model(path)
    assert model.config == PRESETS["tiny"]
    assert model.scale == 4 and model.num_frame == 5
    models = json.loads((WEIGHTS / "registry.json").read_text())["models"]
    entry = next((m for m in models if m["name"] == "edvr-tiny"), None)
    if entry is not None:
        assert {k: v for k, v in model.config.to_dict().items() if k in entry["config"]} == entry["config"]
        assert entry.get("bundled") == "edvr-tiny.safetensors"
    with torch.no_grad():
        out = model(torch.rand(1, 5, 3, 8, 8))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
