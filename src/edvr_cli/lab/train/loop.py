"""The training loop: Charbonnier loss, Adam with cosine decay, validation PSNR, checkpoints, exact resume.

Reproducibility: the model is initialised from ``seed``; the batch of step ``i`` is drawn from a generator
seeded by ``(seed, i)``; the learning rate is a function of ``i``. A checkpoint therefore needs only the
model, the optimiser state and the step, and resuming from it gives bit-identical parameters to an
uninterrupted run of the same length (on the same device and thread count).

Safety: training states are written as plain data (tensors, the optimiser's state dict, options and
history as JSON text) so that they load with ``torch.load(weights_only=True)``, and they are read back
only through :func:`edvr_cli.model.reader.read_training_state`. Every file the loop writes goes through
the output guard: the run folder's own files (``last.pt``, ``checkpoints/``, ``options.json``, the
default ``model.safetensors``) are edvr's and are replaced; a ``model_out`` elsewhere is replaced only
with ``overwrite``, and this is checked before the first step.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edvr_cli.engine.device import resolve_device
from edvr_cli.errors import EDVRCheckpointError, InputError, OutputError
from edvr_cli.guard.output import check_output, guarded_output, write_file
from edvr_cli.lab.degrade import Degradation, bicubic_up
from edvr_cli.lab.metrics import psnr_tensor
from edvr_cli.lab.train.data import (
    ClipSampler,
    fixed_samples,
    scan_sources,
    split_sources,
    step_generator,
)
from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.model.reader import (
    TRAINING_STATE_FORMAT,
    TRAINING_STATE_VERSION,
    TrainingState,
    read_training_state,
)

PRESETS: dict[str, EDVRConfig] = {
    # the bundled model: small enough to train on a CPU in well under an hour
    "tiny": EDVRConfig(num_feat=32, num_frame=5, deformable_groups=4, num_extract_block=2, num_reconstruct_block=4),
    "M": EDVRConfig(num_feat=64, num_frame=5, deformable_groups=8, num_extract_block=5, num_reconstruct_block=10),
    "L": EDVRConfig(num_feat=128, num_frame=5, deformable_groups=8, num_extract_block=5, num_reconstruct_block=40),
}


@dataclass
class TrainOptions:
    """Everything that defines a training run (saved in checkpoints; ``edvr train --help`` documents each)."""

    data: str
    out_dir: str = "runs/edvr"
    model: dict[str, Any] = field(default_factory=lambda: PRESETS["tiny"].to_dict())
    init: str | None = None
    steps: int = 3000
    batch_size: int = 8
    patch: int = 32
    lr: float = 4e-4
    lr_min: float = 1e-6
    warmup: int = 100
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 0.0
    charbonnier_eps: float = 1e-3
    val_fraction: float = 0.1
    val_dir: str | None = None
    val_every: int = 500
    val_samples: int = 16
    val_patch: int = 64
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    dcn_backend: str = "auto"
    max_frames: int = 300
    blur: str | None = None
    blur_strength: float = 1.5
    jpeg: int | None = None
    crf: int | None = None
    motion: dict[str, Any] = field(default_factory=dict)
    detail_candidates: int = 1

    def degradation(self, scale: int) -> Degradation:
        return Degradation(scale=scale, blur=self.blur, blur_strength=self.blur_strength, jpeg=self.jpeg, crf=self.crf)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainOptions:
        """Options from :meth:`to_dict`'s output; ValueError names fields this version does not know."""
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown training options {', '.join(unknown)}")
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


@torch.no_grad()
def init_weights(model: EDVR, residual_scale: float = 0.1) -> EDVR:
    """Initialisation for training from scratch that keeps the signal alive through the deep path.

    PyTorch's default conv initialisation shrinks activations at every layer; across EDVR's ~20 layers
    between input and output the residual starts (and long stays) at nearly zero with vanishing
    gradients. Here every conv gets Kaiming-normal weights for LeakyReLU(0.1) and zero bias; the convs
    of residual blocks are scaled by ``residual_scale`` (BasicSR's choice: blocks start near identity);
    the deformable convs' offset/mask predictors stay at zero (offsets 0, mask 0.5) as upstream.
    """
    from edvr_cli.model.arch.blocks import ResidualBlockNoBN
    from edvr_cli.model.arch.dcn import DCNv2Pack

    offset_convs = {id(m.conv_offset) for m in model.modules() if isinstance(m, DCNv2Pack)}
    block_convs = {id(c) for m in model.modules() if isinstance(m, ResidualBlockNoBN) for c in (m.conv1, m.conv2)}
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and id(m) not in offset_convs:
            torch.nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_in", nonlinearity="leaky_relu")
            if id(m) in block_convs:
                m.weight.mul_(residual_scale)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, DCNv2Pack):
            torch.nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_in", nonlinearity="leaky_relu")
            m.bias.zero_()
    torch.nn.init.kaiming_normal_(model.conv_last.weight, a=0.1, mode="fan_in", nonlinearity="leaky_relu")
    model.conv_last.weight.mul_(0.01)  # start from (almost) the bilinear upsampling: learns fastest
    return model


def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of ``sqrt((pred - target)^2 + eps^2)`` (a smooth L1; EDVR's training loss)."""
    diff = pred.float() - target.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def learning_rate(step: int, opts: TrainOptions) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``lr`` to ``lr_min`` at ``steps``."""
    if opts.warmup and step < opts.warmup:
        return opts.lr * (step + 1) / opts.warmup
    span = max(1, opts.steps - opts.warmup)
    t = min(1.0, (step - opts.warmup) / span)
    return opts.lr_min + 0.5 * (opts.lr - opts.lr_min) * (1 + math.cos(math.pi * t))


def resolve_init(name: str, quiet: bool = False) -> Path:
    """``--init``: a published model name (downloaded on first use), an imported name or a path -> its file.

    Raises:
        ModelNotFoundError: neither a file nor a known name (the message lists close matches).
        OfflineError: a published model that is not downloaded while offline (the message says how to
            import it by hand).
    """
    from edvr_cli.zoo.models import resolve_model

    return resolve_model(name, quiet=quiet).path


@dataclass
class TrainResult:
    model: EDVR
    step: int
    history: list[dict]
    model_path: Path | None


class _Reporter:
    """A rich progress bar on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, start: int, log_every: int, enabled: bool = True) -> None:
        self.total, self.log_every, self.enabled = total, log_every, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.t0, self.s0 = time.perf_counter(), start
        self.progress = None
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:.2f} it/s"),
                TextColumn("{task.fields[note]}"), TimeRemainingColumn(), transient=False,
            )
            self.task = self.progress.add_task("train", total=total, completed=start, loss=float("nan"), rate=0.0,
                                               note="")
            self.progress.start()

    def rate(self, step: int) -> float:
        return (step - self.s0) / max(1e-9, time.perf_counter() - self.t0)

    def step(self, step: int, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, loss=loss, rate=self.rate(step))
        elif self.enabled and (step % self.log_every == 0 or step == self.total):
            print(f"step {step}/{self.total} loss {loss:.4f} {self.rate(step):.2f} it/s", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, note=text)
            self.progress.console.log(text)
        elif self.enabled:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _save_state(payload: dict[str, Any], path: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Write a training state (one of the run folder's own files) through the output guard."""
    with guarded_output(path, overwrite=True, inputs=inputs) as temp:
        torch.save(payload, temp)


def _restore(state: TrainingState, source: str, model: EDVR, optimizer: torch.optim.Optimizer) -> None:
    """Load a training state's weights and optimiser state; one-line EDVRCheckpointError when they do not fit."""
    from edvr_cli.model.checkpoint import check_state_dict

    check_state_dict(model, state.model, source)
    model.load_state_dict(state.model)
    try:
        optimizer.load_state_dict(state.optimizer)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
        raise EDVRCheckpointError(f"{source}: its optimizer state does not fit this model ({exc})") from None


@torch.no_grad()
def validate(model: EDVR, samples: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
             batch: int = 4) -> float:
    """Mean PSNR over validation samples."""
    model.eval()
    scores = []
    for i in range(0, len(samples), batch):
        lq = torch.stack([s[0] for s in samples[i : i + batch]]).to(device)
        gt = torch.stack([s[1] for s in samples[i : i + batch]])
        out = model(lq).float().cpu()
        scores += [psnr_tensor(o, g) for o, g in zip(out, gt, strict=True)]
    model.train()
    return sum(scores) / max(1, len(scores))


#: What a run folder holds (a folder with anything else is not taken as one).
_RUN_FILES = re.compile(r"^(last\.pt|options\.json|log\.jsonl|model\.safetensors|checkpoints|samples)$")


def is_run_file(name: str) -> bool:
    """Whether a name is one a training run writes into its folder."""
    return _RUN_FILES.match(name) is not None


def train(
    opts: TrainOptions,
    resume: str | Path | None = None,
    model_out: str | Path | None = None,
    quiet: bool = False,
    on_step: Callable[[int, float], None] | None = None,
    *,
    overwrite: bool = False,
) -> TrainResult:
    """Train (or fine-tune, or resume) an EDVR network; see :class:`TrainOptions`.

    Args:
        opts: the run's options.
        resume: a training state to continue from (``"auto"``: ``out_dir/last.pt`` if it exists).
        model_out: where to write the final ``.safetensors`` (default ``out_dir/model.safetensors``).
        quiet: no progress output at all.
        on_step: called with ``(step, loss)`` after every step (tests, custom logging).
        overwrite: ``model_out`` may replace an existing file (the run folder's own files always may).

    Raises:
        EDVRCheckpointError: ``resume`` is unsafe, damaged or not an edvr training state, or ``init``
            is not a loadable EDVR checkpoint.
        OutputExistsError: ``model_out`` exists and ``overwrite`` is false (raised before any step).
        ModelNotFoundError, OfflineError: ``init`` names no file or model, or needs a download offline.
        InputError, UsageError: bad data, patch size or device.
    """
    from edvr_cli.model.arch import dcn as _dcn
    from edvr_cli.model.arch import set_dcn_backend
    from edvr_cli.model.checkpoint import load_model, save_model

    out_dir = Path(opts.out_dir)
    ckpt_dir = out_dir / "checkpoints"
    state: TrainingState | None = None
    state_source = ""
    resume_path: Path | None = None
    if resume is not None:
        resume_path = out_dir / "last.pt" if str(resume) == "auto" else Path(resume)
        if resume_path.is_file():
            state = read_training_state(resume_path)
            state_source = resume_path.name
            try:
                opts = TrainOptions.from_dict({**state.options, "steps": opts.steps, "out_dir": opts.out_dir})
                EDVRConfig.from_dict(opts.model)
            except (TypeError, ValueError) as exc:
                raise EDVRCheckpointError(f"{state_source}: its training options are not usable ({exc})") from None
        elif str(resume) != "auto":
            raise InputError(f"--resume: checkpoint {resume_path} not found")

    init_path = resolve_init(opts.init, quiet=quiet) if opts.init and state is None else None
    inputs: list[str | os.PathLike[str]] = [opts.data, *(p for p in (init_path, resume_path) if p is not None)]
    model_path = Path(model_out) if model_out else out_dir / "model.safetensors"
    own_model_path = model_out is None
    # before any work: a --model-out that exists is replaced only with overwrite
    check_output(model_path, overwrite=overwrite or own_model_path, inputs=inputs)
    # the run folder: never one holding the data (or inside it as a file), never one with files edvr did not write
    check_output(out_dir, overwrite=True, inputs=[opts.data], folder=True, owned=is_run_file)
    data = Path(opts.data)
    if data.is_dir() and out_dir.resolve().is_relative_to(data.resolve()):
        raise OutputError(f"the run folder '{out_dir}' is inside the training data '{data}'; its checkpoints "
                          "would become training data. Choose another --out-dir")
    run_inputs: list[str | os.PathLike[str]] = [opts.data, *(p for p in (init_path,) if p is not None)]

    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = resolve_device(opts.device)
    backend = opts.dcn_backend
    if backend == "auto" and device.type == "cpu":
        backend = "pure"  # its backward is several times faster than torchvision's on CPU
    previous_backend = _dcn._backend
    set_dcn_backend(backend)

    # model
    torch.manual_seed(opts.seed)
    if init_path is not None:
        init_model = load_model(init_path)
        config = init_model.config
        model = EDVR(config)
        model.load_state_dict(init_model.state_dict())
    else:
        config = EDVRConfig.from_dict(opts.model)
        model = init_weights(EDVR(config))
    opts.model = config.to_dict()
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=opts.betas)
    step = 0
    history: list[dict[str, Any]] = []
    if state is not None:
        _restore(state, state_source, model, optimizer)
        step = state.step
        history = list(state.history)

    # data
    sources = scan_sources(opts.data, opts.max_frames)
    if opts.val_dir:
        train_src, val_src = sources, scan_sources(opts.val_dir, opts.max_frames)
    else:
        train_src, val_src = split_sources(sources, opts.val_fraction, opts.seed)
    multiple = config.multiple_of
    if opts.patch % multiple:
        raise InputError(f"--patch must be a multiple of {multiple} for this model, got {opts.patch}")
    degradation = opts.degradation(config.scale)
    sampler = ClipSampler(train_src, config.num_frame, opts.patch, degradation, augment=True, motion=opts.motion,
                          detail_candidates=opts.detail_candidates)
    val_samples = []
    if val_src and opts.val_samples:
        val_sampler = ClipSampler(val_src, config.num_frame, opts.val_patch, degradation, motion=opts.motion)
        val_samples = fixed_samples(val_sampler, opts.val_samples, opts.seed + 99991)

    reporter = _Reporter(opts.steps, step, opts.log_every, enabled=not quiet)
    meta: dict[str, Any] = {
        "train_sources": [s.name for s in train_src], "val_sources": [s.name for s in val_src],
        "seed": opts.seed, "steps": opts.steps,
    }
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_file(out_dir / "options.json", json.dumps({**opts.to_dict(), **meta}, indent=2), overwrite=True,
               inputs=run_inputs)
    if val_samples and step == 0:
        base = sum(
            psnr_tensor(bicubic_up(lq[config.center], config.scale), gt) for lq, gt in val_samples
        ) / len(val_samples)
        reporter.note(f"validation: {len(val_samples)} samples from {', '.join(meta['val_sources'])}; "
                      f"bicubic {base:.2f} dB")
        history.append({"step": 0, "val_bicubic_psnr": base})
    log_file = (out_dir / "log.jsonl").open("a")
    autocast = device.type == "cuda"

    def checkpoint() -> None:
        # plain data only, so that it loads with weights_only=True (see read_training_state)
        payload = {
            "format": TRAINING_STATE_FORMAT, "version": TRAINING_STATE_VERSION, "step": step,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "options": json.dumps(opts.to_dict()), "history": json.dumps(history),
        }
        _save_state(payload, ckpt_dir / f"step-{step:07d}.pt", run_inputs)
        _save_state(payload, out_dir / "last.pt", run_inputs)

    loss_avg = None
    try:
        while step < opts.steps:
            lr = learning_rate(step, opts)
            for group in optimizer.param_groups:
                group["lr"] = lr
            lq, gt = sampler.batch(opts.batch_size, step_generator(opts.seed, step))
            lq, gt = lq.to(device, non_blocking=True), gt.to(device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                out = model(lq)
            loss = charbonnier_loss(out, gt, opts.charbonnier_eps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opts.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
            optimizer.step()
            step += 1
            value = float(loss.detach())
            if not math.isfinite(value):
                raise RuntimeError(f"loss became {value} at step {step}: lower --lr or set --grad-clip")
            loss_avg = value if loss_avg is None else 0.95 * loss_avg + 0.05 * value
            reporter.step(step, loss_avg)
            record = {"step": step, "loss": value, "lr": lr}
            if val_samples and (step % opts.val_every == 0 or step == opts.steps):
                record["val_psnr"] = validate(model, val_samples, device)
                reporter.note(f"step {step}: validation PSNR {record['val_psnr']:.2f} dB")
                history.append({"step": step, "val_psnr": record["val_psnr"]})
            if step % opts.log_every == 0 or "val_psnr" in record:
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
            if step % opts.checkpoint_every == 0 or step == opts.steps:
                checkpoint()
            if on_step is not None:
                on_step(step, value)
    finally:
        reporter.close()
        log_file.close()
        set_dcn_backend(previous_backend)

    model.eval()
    notes = {
        "trained_by": "edvr train", "steps": str(step), "seed": str(opts.seed),
        **{k: json.dumps(v) for k, v in meta.items() if k.endswith("sources")},
    }
    save_model(model, model_path, metadata=notes, overwrite=overwrite or own_model_path, inputs=inputs)
    return TrainResult(model=model, step=step, history=history, model_path=model_path)
