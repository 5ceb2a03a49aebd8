"""Recognising, loading and saving EDVR checkpoints of any upstream codebase.

Files are read only through :mod:`edvr_cli.model.reader` (never running code, refusing oversized or
non-finite weights). Loading unwraps the container, detects the naming, converts it to the canonical
(BasicSR) naming, infers every hyper-parameter from tensor names and shapes, and loads strictly.
Saving writes canonical ``.safetensors`` with the configuration (centre frame included) in its header.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from edvr_cli.errors import EDVRCheckpointError, os_error_of
from edvr_cli.guard import jsontext
from edvr_cli.guard.output import guarded_output
from edvr_cli.model.arch import EDVR, EDVRConfig
from edvr_cli.model.keymap import detect_naming, from_canonical_keys, to_canonical_keys
from edvr_cli.model.reader import (
    StateDict,
    check_weights,
    read_metadata,
    read_state_dict,
    unwrap_container,
)

#: ``format`` metadata of the files :func:`save_model` writes.
FORMAT_TAG = "edvr-cli"
#: Metadata keys of those files: the configuration (JSON) and, optionally, the temporal padding.
CONFIG_KEY = "edvr_config"
PADDING_KEY = "edvr_padding"


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


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A network built from a checkpoint, with what was learned on the way.

    Args:
        model: the network, in eval mode.
        naming: the key naming the tensors used (``basicsr``, ``original`` or ``mmagic``).
        metadata: the file's safetensors metadata (empty for other formats and state dicts).
    """

    model: EDVR
    naming: str
    metadata: dict[str, str]


def saved_center_frame_idx(metadata: Mapping[str, str], label: str = "checkpoint") -> int | None:
    """The centre frame index recorded in :func:`save_model`'s metadata (None: the middle, or not recorded)."""
    text = metadata.get(CONFIG_KEY)
    if not text:
        return None
    try:
        return EDVRConfig.from_dict(jsontext.loads(text)).center_frame_idx
    except (ValueError, TypeError) as exc:
        raise EDVRCheckpointError(f"{label}: unreadable {CONFIG_KEY} metadata ({exc})") from None


def load_checkpoint(
    source: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    center_frame_idx: int | None = None,
) -> LoadedCheckpoint:
    """Build the network a checkpoint file or state dict describes (see :func:`load_model`).

    The centre frame index is not in any tensor: it is ``center_frame_idx`` when given, else the one
    recorded in the file's metadata, else the middle of the window (as every published model).

    Raises:
        EDVRCheckpointError: the source is not a loadable, finite EDVR checkpoint.
        ValueError: ``center_frame_idx`` is outside the window.
    """
    if isinstance(source, Mapping):
        label, metadata = "state dict", {}
        raw = unwrap_container(source, label)
        check_weights(raw, label)
    else:
        label = Path(source).name
        metadata = read_metadata(source)
        raw = read_state_dict(source)
    canonical, config, naming = describe_state_dict(raw, label)
    center = center_frame_idx if center_frame_idx is not None else saved_center_frame_idx(metadata, label)
    if center is not None:
        try:
            config = EDVRConfig.from_dict({**config.to_dict(), "center_frame_idx": center})
        except ValueError:
            if center_frame_idx is not None:
                raise ValueError(f"center_frame_idx {center} is outside the {config.num_frame}-frame window") from None
            raise EDVRCheckpointError(
                f"{label}: its metadata's centre frame {center} is outside the {config.num_frame}-frame window"
            ) from None
    with torch.device("meta"):
        model = EDVR(config)
    check_state_dict(model, canonical, label)
    model.load_state_dict(canonical, strict=True, assign=True)
    model = model.to(device=device, dtype=dtype).eval()
    return LoadedCheckpoint(model=model, naming=naming, metadata=dict(metadata))


def load_model(
    source: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> EDVR:
    """An EDVR network in eval mode from a checkpoint file (``.pth``/``.pt``/``.safetensors``) or a state dict.

    The configuration is inferred from the tensors; the returned model carries it as ``.config``
    (and ``.scale``, ``.num_frame``, ``.multiple_of``, ``.center_frame_idx``), plus ``.naming``
    (the naming the checkpoint used) and ``.metadata`` (safetensors metadata, if any). New code should
    prefer :func:`edvr_cli.model.descriptor.load_descriptor`, which returns all that without patching
    attributes onto the module.
    """
    loaded = load_checkpoint(source, device, dtype)
    # kept for callers written before the descriptor (attributes on the module)
    object.__setattr__(loaded.model, "naming", loaded.naming)
    object.__setattr__(loaded.model, "metadata", loaded.metadata)
    return loaded.model


def save_model(
    model: EDVR,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    *,
    overwrite: bool = True,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``model`` as canonical ``.safetensors`` with its configuration (and ``metadata``) in the header.

    The file is written through the output guard: to a temporary sibling renamed into place when
    complete, replacing an existing file only with ``overwrite``, and never onto one of ``inputs``.

    Raises:
        OutputError, OutputExistsError: see :func:`edvr_cli.guard.output.check_output`.
    """
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_TAG, CONFIG_KEY: json.dumps(model.config.to_dict(), sort_keys=True)}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    with guarded_output(path, overwrite=overwrite, inputs=inputs) as temp:
        try:
            save_file(tensors, str(temp), metadata=meta)
        except Exception as exc:  # noqa: BLE001 - safetensors reports the OS's errors as its own
            found = os_error_of(exc)
            if found is None or found is exc:
                raise
            raise found from None  # the guard names the file and the reason in one line
    return Path(path)


__all__ = [
    "CONFIG_KEY",
    "FORMAT_TAG",
    "PADDING_KEY",
    "LoadedCheckpoint",
    "StateDict",
    "check_state_dict",
    "describe_state_dict",
    "from_canonical",
    "infer_config",
    "load_checkpoint",
    "load_model",
    "read_metadata",
    "read_state_dict",
    "save_model",
    "saved_center_frame_idx",
    "to_canonical",
    "unwrap_container",
]
