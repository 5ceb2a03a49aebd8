"""Reading, recognising, loading and saving EDVR checkpoints of any upstream codebase.

A checkpoint never runs code: ``.pth`` files are read with ``torch.load(weights_only=True)``.
Loading unwraps the container, detects the naming, converts it to the canonical (BasicSR) naming,
infers every hyper-parameter from tensor names and shapes, and loads strictly.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.errors import EDVRCheckpointError
from edvr_cli.model.keymap import detect_naming, from_canonical_keys, to_canonical_keys

StateDict = dict[str, torch.Tensor]
FORMAT_TAG = "edvr-cli"


def read_state_dict(path: str | os.PathLike) -> StateDict:
    """The raw tensors of a checkpoint file (container unwrapped, naming untouched)."""
    return unwrap_container(_read_file(Path(path)), source=str(path))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file (empty for other formats)."""
    path = Path(path)
    if not _is_safetensors(path):
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise EDVRCheckpointError(f"{path.name}: not a readable safetensors file ({_short(exc)})") from None


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
        return len(head) == 9 and head[8:9] == b"{"
    except OSError:
        return False


def _read_file(path: Path) -> object:
    if not path.exists():
        raise EDVRCheckpointError(f"checkpoint file not found: {path}")
    if path.is_dir():
        raise EDVRCheckpointError(f"{path} is a folder, not a checkpoint file")
    if _is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise EDVRCheckpointError(f"{path.name}: not a readable safetensors file ({_short(exc)})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Detected pickle protocol N" notes
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise EDVRCheckpointError(
            f"{path.name}: refused, the file holds Python objects that would run code when unpickled "
            f"(checkpoints are read with weights_only=True; {_short(exc)})"
        ) from None
    except Exception as exc:  # the unpickler fails in many ways on foreign bytes (KeyError, EOFError, ...)
        raise EDVRCheckpointError(
            f"{path.name}: not a readable PyTorch checkpoint (truncated or corrupt? {_short(exc)})"
        ) from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] + ("..." if len(text) > 160 else "")


def unwrap_container(obj: object, source: str = "checkpoint") -> StateDict:
    """Find the network's state dict in the containers upstream codebases save.

    Plain state dict; BasicSR ``{'params': ...}`` / ``{'params_ema': ...}`` (EMA weights preferred);
    MMagic ``{'meta': ..., 'state_dict': {'generator.<name>': ...}}``; ``module.`` prefixes (DataParallel).
    """
    if not isinstance(obj, Mapping):
        raise EDVRCheckpointError(f"{source}: not a state dict (found {type(obj).__name__})")
    for key in ("params_ema", "params", "state_dict", "model", "net_g", "generator"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and not isinstance(inner, torch.Tensor):
            obj = inner
            break
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise EDVRCheckpointError(f"{source}: holds no tensors, so it is not a network checkpoint")
    if any(k.startswith("generator.") for k in tensors):
        tensors = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")}
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def to_canonical(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> tuple[StateDict, str]:
    """(state dict in canonical naming, detected naming 'basicsr' | 'original' | 'mmagic')."""
    naming = detect_naming(state)
    if naming is None:
        sample = ", ".join(list(state)[:3])
        raise EDVRCheckpointError(f"{source}: not an EDVR checkpoint (its tensors are named like {sample})")
    return to_canonical_keys(state, naming), naming


def from_canonical(state: Mapping[str, torch.Tensor], naming: str) -> StateDict:
    """A canonical state dict under ``naming``'s key names."""
    return from_canonical_keys(state, naming)


def _count_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def _shape(state: Mapping[str, torch.Tensor], key: str, source: str) -> torch.Size:
    if key not in state:
        raise EDVRCheckpointError(f"{source}: not a complete EDVR checkpoint: missing tensor {key!r}")
    return state[key].shape


def infer_config(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> EDVRConfig:
    """Every hyper-parameter of the network, read from a canonical state dict's names and shapes."""
    num_feat = _shape(state, "conv_l2_1.weight", source)[0]
    with_tsa = "fusion.temporal_attn1.weight" in state
    fusion_in = _shape(state, "fusion.feat_fusion.weight" if with_tsa else "fusion.weight", source)[1]
    if fusion_in % num_feat:
        raise EDVRCheckpointError(f"{source}: fusion input width {fusion_in} is not a multiple of {num_feat} features")
    offset_shape = _shape(state, "pcd_align.dcn_pack.l1.conv_offset.weight", source)
    kernel_taps = offset_shape[-1] * offset_shape[-2]
    with_predeblur = any(k.startswith("predeblur.") for k in state)
    hr_in = "predeblur.stride_conv_hr1.weight" in state or "conv_first_1.weight" in state
    try:
        return EDVRConfig(
            num_feat=int(num_feat),
            num_frame=int(fusion_in // num_feat),
            deformable_groups=int(offset_shape[0] // (3 * kernel_taps)),
            num_extract_block=_count_blocks(state, "feature_extraction."),
            num_reconstruct_block=_count_blocks(state, "reconstruction."),
            with_tsa=with_tsa,
            with_predeblur=with_predeblur,
            hr_in=hr_in,
        )
    except ValueError as exc:
        raise EDVRCheckpointError(f"{source}: inconsistent EDVR checkpoint ({exc})") from None


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise EDVRCheckpointError naming the first missing / unexpected keys or the first shape that disagrees."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensor(s), e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {', '.join(unexpected[:3])}")
    if problems:
        raise EDVRCheckpointError(f"{source}: does not match the inferred EDVR layout: " + "; ".join(problems))
    for k, shape in expected.items():
        if state[k].shape != shape:
            raise EDVRCheckpointError(
                f"{source}: tensor {k} has shape {tuple(state[k].shape)}, the inferred layout needs {tuple(shape)}"
            )


def describe_state_dict(
    state: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> tuple[StateDict, EDVRConfig, str]:
    """(canonical state dict, inferred config, detected naming) of an unwrapped state dict."""
    canonical, naming = to_canonical(state, source)
    return canonical, infer_config(canonical, source), naming


def load_model(
    source: str | os.PathLike | Mapping[str, torch.Tensor],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> EDVR:
    """An EDVR network in eval mode from a checkpoint file (``.pth``/``.pt``/``.safetensors``) or a state dict.

    The configuration is inferred from the tensors; the returned model carries it as ``.config``
    (and ``.scale``, ``.num_frame``, ``.multiple_of``, ``.center_frame_idx``), plus ``.naming``
    (the naming the checkpoint used) and ``.metadata`` (safetensors metadata, if any).
    """
    if isinstance(source, Mapping):
        label, metadata = "state dict", {}
        raw = unwrap_container(source, label)
    else:
        label = Path(source).name
        metadata = read_metadata(source)
        raw = read_state_dict(source)
    canonical, config, naming = describe_state_dict(raw, label)
    if metadata.get("edvr_config"):
        try:
            saved = EDVRConfig.from_dict(json.loads(metadata["edvr_config"]))
        except (ValueError, TypeError) as exc:
            raise EDVRCheckpointError(f"{label}: unreadable edvr_config metadata ({exc})") from None
        config = EDVRConfig.from_dict({**config.to_dict(), "center_frame_idx": saved.center_frame_idx})
    with torch.device("meta"):
        model = EDVR(config)
    check_state_dict(model, canonical, label)
    model.load_state_dict(canonical, strict=True, assign=True)
    model = model.to(device=device, dtype=dtype).eval()
    model.naming = naming
    model.metadata = metadata
    return model


def save_model(model: EDVR, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model`` as canonical ``.safetensors`` with its configuration (and ``metadata``) in the header."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_TAG, "edvr_config": json.dumps(model.config.to_dict(), sort_keys=True)}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
