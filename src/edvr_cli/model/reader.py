"""The one checkpoint reader: every network checkpoint and training state edvr reads comes through here.

Nothing read here can run code, and nothing is inflated or allocated on a file's say-so:

* ``.safetensors`` files are read by the ``safetensors`` package after their JSON header has been
  checked (header length, declared tensor sizes and dtypes);
* PyTorch files are read only with ``torch.load(weights_only=True)``, after their layout has been
  checked without unpickling anything: for the zip format, the central directory (declared sizes and
  compression ratio); for the legacy (pre-1.6) format, the storage sizes the pickle declares, with an
  inert scanner that resolves no name, against the bytes really in the file;
* every tensor of a network must be floating point and finite (an int8/bool or NaN checkpoint would
  otherwise load, or fail with a page of shape errors, or restore to a black video).

The bound on declared data, :data:`MAX_DECLARED_BYTES`, is four times the largest thing edvr ever has
to read: a training state of the largest published EDVR (the deblur model, 23,602,019 parameters,
90 MiB in float32) holds the weights plus Adam's two moment buffers, 3 x 90 MiB = 270 MiB; four times
that is about 1.05 GiB. Real checkpoints are far below it (EDVR-L: 79 MiB), so a file declaring more
is not an EDVR checkpoint, and it is refused before a byte of it is inflated or allocated.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import stat
import struct
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edvr_cli.errors import EDVRCheckpointError
from edvr_cli.guard import jsontext
from edvr_cli.guard.signals import raise_if_interrupted

StateDict = dict[str, torch.Tensor]

#: Parameters of the largest published EDVR (EDVR_L_deblur_REDS / deblurcomp).
LARGEST_PUBLISHED_PARAMS = 23_602_019
#: Declared (inflated) data above this is refused before reading: 4 x a float32 training state
#: (weights + Adam's two moments) of the largest published EDVR, about 1.05 GiB.
MAX_DECLARED_BYTES = 4 * 3 * 4 * LARGEST_PUBLISHED_PARAMS
#: A zip declaring more than this much data, at more than MAX_COMPRESSION_RATIO : 1, is refused:
#: ``torch.save`` stores tensors uncompressed (1 : 1) and float weights deflate to at best about 1.2 : 1,
#: so a high ratio on a large payload means a decompression bomb, not weights.
RATIO_CHECK_FROM_BYTES = 16 << 20
MAX_COMPRESSION_RATIO = 16.0
#: Zip central directories above this are refused (an EDVR training state has ~1,000 entries, ~100 KB).
MAX_CENTRAL_DIRECTORY_BYTES = 4 << 20
#: safetensors JSON headers above this are refused (EDVR-L's is ~30 KB).
MAX_SAFETENSORS_HEADER_BYTES = 16 << 20
#: Object pickles (a zip's ``data.pkl``, a legacy file's main pickle) above this are refused before
#: unpickling: each pickle byte can become a Python object (~60 bytes), so an unbounded pickle is a
#: memory bomb of its own. EDVR-L's is ~25 KB, a training state's ~100 KB.
MAX_PICKLE_BYTES = 4 << 20

# safetensors dtype -> bytes per element (unknown ones count as 1: the declared offsets bound them too)
_SAFETENSORS_WIDTH = {"F64": 8, "I64": 8, "U64": 8, "C64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
                      "I16": 2, "U16": 2}
# legacy storage class name -> bytes per element
_LEGACY_ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "UntypedStorage": 1,
}


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] + ("..." if len(text) > 160 else "")


def _size(n: float) -> str:
    for unit, step in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{int(n)} bytes"


def _too_big(name: str, declared: float) -> EDVRCheckpointError:
    return EDVRCheckpointError(
        f"{name}: refused, it declares {_size(declared)} of data, more than any EDVR checkpoint or "
        f"training state holds (limit {_size(MAX_DECLARED_BYTES)}); it was not read"
    )


# -- formats ------------------------------------------------------------------------------------------

def is_safetensors(path: str | os.PathLike[str]) -> bool:
    """Whether a file is (or claims to be) a ``.safetensors`` file: by suffix or by its header's shape."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def _existing_file(path: Path) -> int:
    """The file's size; EDVRCheckpointError when it is missing, a folder, or larger than any checkpoint."""
    if path.is_dir():
        raise EDVRCheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise EDVRCheckpointError(f"checkpoint file not found: {path}") from None
    except OSError as exc:
        raise EDVRCheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise EDVRCheckpointError(f"{path} is not a regular file, so it is not a checkpoint file")
    size = st.st_size
    if size > MAX_DECLARED_BYTES:
        raise _too_big(path.name, size)
    return size


# -- safetensors --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _SafetensorsHeader:
    tensors: dict[str, dict[str, Any]]
    metadata: dict[str, str]


#: More dimensions than any tensor of a network has (EDVR's have at most 4).
MAX_TENSOR_DIMS = 16


def _element_count(shape: Any, limit: int) -> int:
    """Elements of a declared shape, in one pass that stops past ``limit`` (``math.prod`` of millions of
    dimensions multiplies ever larger integers: quadratic). Raises ValueError for a shape that is no shape."""
    if not isinstance(shape, list) or len(shape) > MAX_TENSOR_DIMS:
        raise ValueError("not a shape")
    dims = [d for d in shape if isinstance(d, int) and not isinstance(d, bool) and d >= 0]
    if len(dims) != len(shape):
        raise ValueError("not a shape")
    count = 1
    for d in dims:
        count *= d
        if count > limit:
            return limit + 1
    return 0 if 0 in dims else count


def _safetensors_header(path: Path, size: int) -> _SafetensorsHeader:
    """The checked JSON header of a safetensors file (declared sizes within the file and the bound)."""

    def bad(why: str) -> EDVRCheckpointError:
        return EDVRCheckpointError(f"{path.name}: not a readable safetensors file ({why})")

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise bad("shorter than its 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_SAFETENSORS_HEADER_BYTES:
            raise EDVRCheckpointError(
                f"{path.name}: refused, its safetensors header claims {_size(length)} "
                f"(limit {_size(MAX_SAFETENSORS_HEADER_BYTES)}); it was not read"
            )
        if 8 + length > size:
            raise bad("truncated header")
        raw = f.read(length)
    try:
        header = jsontext.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"header is not JSON: {_short(exc)}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise bad("its __metadata__ is not a map of strings")
    declared = 0
    for name, info in header.items():
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
            width = _SAFETENSORS_WIDTH.get(str(dtype), 1)
            count = _element_count(shape, MAX_DECLARED_BYTES)
            if not (isinstance(start, int) and isinstance(end, int)) or min(count, start, end) < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise bad(f"malformed entry for tensor {name}") from None
        declared = max(declared, end)
        if count * width > MAX_DECLARED_BYTES or end > MAX_DECLARED_BYTES:
            raise _too_big(path.name, max(count * width, end))
    if declared > size - 8 - length:
        held = size - 8 - length
        said, has = _size(declared), _size(held)
        if said == has:  # sizes that round alike: the bytes say how short it is
            said, has = f"{declared:,} bytes", f"{held:,} bytes"
        raise bad(f"truncated: its header declares {said} of tensor data, the file holds {has}")
    return _SafetensorsHeader(header, dict(meta))


def _read_safetensors(path: Path, size: int) -> StateDict:
    _safetensors_header(path, size)
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError and assorted builtins
        raise_if_interrupted()  # a signal the library turned into another error
        raise EDVRCheckpointError(f"{path.name}: not a readable safetensors file ({_short(exc)})") from None


# -- PyTorch zip format -------------------------------------------------------------------------------

def _zip_central_directory_size(f: io.BufferedReader, size: int) -> int:
    """Size of the central directory as the end records say (zip64 when the classic fields overflow)."""
    tail_len = min(size, 22 + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise ValueError("no end of central directory record")
    entries, cd_size = struct.unpack_from("<HI", tail, pos + 10)
    if entries != 0xFFFF and cd_size != 0xFFFFFFFF:
        return int(cd_size)
    locator = pos - 20
    if locator < 0 or tail[locator:locator + 4] != b"PK\x06\x07":
        raise ValueError("zip64 end record missing")
    (record_at,) = struct.unpack_from("<Q", tail, locator + 8)
    if record_at > size - 56:
        raise ValueError("zip64 end record out of the file")
    f.seek(record_at)
    record = f.read(56)
    if record[:4] != b"PK\x06\x06":
        raise ValueError("zip64 end record damaged")
    (cd_size64,) = struct.unpack_from("<Q", record, 40)
    return int(cd_size64)


def _check_zip(path: Path, size: int) -> None:
    """Refuse a zip whose declared content is larger than any EDVR file, or compressed like a bomb."""
    try:
        with open(path, "rb") as f:
            cd_size = _zip_central_directory_size(f, size)
            if cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
                raise EDVRCheckpointError(
                    f"{path.name}: refused, its zip directory claims {_size(cd_size)} "
                    f"(limit {_size(MAX_CENTRAL_DIRECTORY_BYTES)}); it was not read"
                )
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
    except (ValueError, OSError, zipfile.BadZipFile, struct.error) as exc:
        raise EDVRCheckpointError(f"{path.name}: not a readable PyTorch checkpoint (truncated or corrupt? "
                                  f"{_short(exc)})") from None
    declared = sum(i.file_size for i in infos)
    pickles = [i for i in infos if i.filename.endswith(".pkl")]
    if any(i.file_size > MAX_PICKLE_BYTES for i in pickles):
        big = max(pickles, key=lambda i: i.file_size)
        raise EDVRCheckpointError(
            f"{path.name}: refused, its object pickle {big.filename} claims {_size(big.file_size)} "
            f"(limit {_size(MAX_PICKLE_BYTES)}; EDVR's are a few KB); it was not read"
        )
    stored = sum(i.compress_size for i in infos)
    if declared > MAX_DECLARED_BYTES:
        raise _too_big(path.name, declared)
    if declared > RATIO_CHECK_FROM_BYTES and declared > MAX_COMPRESSION_RATIO * max(stored, 1):
        raise EDVRCheckpointError(
            f"{path.name}: refused, it declares {_size(declared)} compressed into {_size(stored)} "
            f"({declared / max(stored, 1):.0f}:1); tensor data never compresses like that; it was not read"
        )


# -- PyTorch legacy format ----------------------------------------------------------------------------

class _Inert:
    """Stands for every object an inert scan meets: accepts any construction, state or items."""

    _name = ""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass


class _ScanUnpickler(pickle.Unpickler):
    """Walks a pickle without importing or calling anything: names become inert stand-ins, and the
    storages a legacy PyTorch file declares are recorded as ``key -> (bytes per element, elements)``."""

    def __init__(self, file: io.BufferedReader) -> None:
        super().__init__(file)
        self.storages: dict[str, tuple[int, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        return type(str(name), (_Inert,), {"_name": str(name)})

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage"):
            storage_type, key, numel = pid[1], pid[2], pid[4]
            width = _LEGACY_ELEMENT_SIZE.get(getattr(storage_type, "_name", ""), 0)
            if not isinstance(numel, int) or numel < 0 or not width:
                raise ValueError("unreadable storage record")
            self.storages[str(key)] = (width, numel)
        return _Inert()


def _bound_pickle(f: io.BufferedReader, name: str) -> None:
    """Walk one pickle's opcodes (building nothing) and refuse it past :data:`MAX_PICKLE_BYTES`."""
    start = f.tell()
    for opcode, _, _ in pickletools.genops(f):
        if f.tell() - start > MAX_PICKLE_BYTES:
            raise EDVRCheckpointError(
                f"{name}: refused, its object pickle is over {_size(MAX_PICKLE_BYTES)} (EDVR's are a few KB); "
                "it was not unpickled"
            )
        if opcode.name == "STOP":
            return


def _check_legacy(path: Path, size: int) -> None:
    """Refuse a legacy-format file whose pickle declares storages larger than the bound or than the file.

    Layout: pickles of the magic number, protocol version and system info; the object pickle (whose
    persistent ids declare every storage's type and element count); the pickled list of storage keys;
    then each storage as an 8-byte element count followed by its bytes.
    """
    try:
        with open(path, "rb") as f:
            for _ in range(3):
                _ScanUnpickler(f).load()
            start = f.tell()
            _bound_pickle(f, path.name)  # walks opcodes without building objects
            f.seek(start)
            scanner = _ScanUnpickler(f)
            scanner.load()
            declared = sum(width * numel for width, numel in scanner.storages.values())
            if declared > MAX_DECLARED_BYTES:
                raise _too_big(path.name, declared)
            keys = _ScanUnpickler(f).load()
            if not isinstance(keys, list):
                raise TypeError("storage key list missing")
            for key in keys:
                width, numel = scanner.storages[str(key)]
                head = f.read(8)
                if len(head) < 8 or struct.unpack("<q", head)[0] != numel:
                    raise ValueError(f"storage {key} is not the size its record declares")
                f.seek(width * numel, os.SEEK_CUR)
            if f.tell() > size:
                raise ValueError(f"its storages declare {_size(declared)}, the file is {_size(size)}")
    except EDVRCheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - the scan meets foreign bytes; every failure means "corrupt"
        raise_if_interrupted()  # a signal the library turned into another error
        raise EDVRCheckpointError(f"{path.name}: not a readable PyTorch checkpoint (truncated or corrupt? "
                                  f"{_short(exc)})") from None


def _torch_load(path: Path, size: int) -> object:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":
        _check_zip(path, size)
    else:
        _check_legacy(path, size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Detected pickle protocol N" notes
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise EDVRCheckpointError(
            f"{path.name}: refused, the file holds Python objects that would run code when unpickled "
            f"(checkpoints are read with weights_only=True; {_short(exc)})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the unpickler fails in many ways on foreign bytes (KeyError, ...)
        raise_if_interrupted()  # a signal the library turned into another error
        raise EDVRCheckpointError(
            f"{path.name}: not a readable PyTorch checkpoint (truncated or corrupt? {_short(exc)})"
        ) from None


# -- public API ---------------------------------------------------------------------------------------

def read_file(path: str | os.PathLike[str]) -> object:
    """The checked content of a checkpoint file: a dict of tensors (safetensors) or the unpickled object.

    Raises:
        EDVRCheckpointError: missing, a folder, unsafe, larger than any EDVR file, or corrupt.
    """
    path = Path(path)
    size = _existing_file(path)
    if is_safetensors(path):
        return _read_safetensors(path, size)
    return _torch_load(path, size)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file (empty for other formats)."""
    path = Path(path)
    if not is_safetensors(path):
        return {}
    return _safetensors_header(path, _existing_file(path)).metadata


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


def _not_floating(source: str, name: str, dtype: str) -> EDVRCheckpointError:
    return EDVRCheckpointError(
        f"{source}: tensor {name} has dtype {dtype}; EDVR weights are floating point, so this is not an "
        "EDVR checkpoint (or it was quantised by another tool)"
    )


def check_weights(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise EDVRCheckpointError (one line, naming the first bad tensor) unless every tensor is a
    floating-point tensor of finite values. Tensors on the meta device are checked for dtype only."""
    for name, tensor in state.items():
        if not tensor.dtype.is_floating_point:
            raise _not_floating(source, name, str(tensor.dtype).removeprefix("torch."))
        if tensor.device.type == "meta":
            continue
        # NaN and Inf propagate through a sum, so a finite sum proves finite values: one cheap reduction
        # per tensor, no copy; only when it is not finite (broken, or a sum that overflowed) look closer
        if math.isfinite(float(tensor.sum())):
            continue
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = tensor[~finite]
            what = "NaN" if bool(torch.isnan(bad).any()) else "infinite"
            raise EDVRCheckpointError(
                f"{source}: tensor {name} holds {what} values ({int(bad.numel())} of {tensor.numel()}); "
                "the weights are broken (a diverged training run?) and would restore to a blank video"
            )


def read_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """The raw tensors of a checkpoint file (container unwrapped, naming untouched), checked to be
    finite floating-point weights."""
    source = Path(path).name
    tensors = unwrap_container(read_file(path), source=source)
    check_weights(tensors, source)
    return tensors


# -- training states ----------------------------------------------------------------------------------

#: ``format`` of the training states ``edvr train`` writes (last.pt, checkpoints/step-*.pt).
TRAINING_STATE_FORMAT = "edvr-train-state"
TRAINING_STATE_VERSION = 1


@dataclass
class TrainingState:
    """What a training state holds, checked: plain data only (it loads with ``weights_only=True``).

    Args:
        step: optimisation steps done.
        model: the network's state dict (canonical naming, finite floats).
        optimizer: the optimiser's ``state_dict()``.
        options: the run's options as a plain dict (saved as JSON).
        history: validation records so far.
    """

    step: int
    model: StateDict
    optimizer: dict[str, Any]
    options: dict[str, Any]
    history: list[dict[str, Any]]


def _json_field(obj: Mapping[str, Any], key: str, kind: type, source: str) -> Any:
    value = obj.get(key)
    if isinstance(value, str):  # current format: JSON text
        try:
            value = jsontext.loads(value)
        except ValueError:
            raise EDVRCheckpointError(f"{source}: its {key} are not valid JSON; not an edvr training state") from None
    if not isinstance(value, kind):
        raise EDVRCheckpointError(f"{source}: has no {key} of the right kind; not an edvr training state")
    return value


def read_training_state(path: str | os.PathLike[str]) -> TrainingState:
    """Read a training state (``edvr train``'s last.pt or a step checkpoint) through the safe reader.

    Also accepts states written before the format tag existed (the same keys, options as a dict).

    Raises:
        EDVRCheckpointError: unsafe, too large, corrupt, or not an edvr training state (one line).
    """
    source = Path(path).name
    obj = read_file(path)
    if not isinstance(obj, Mapping) or not {"step", "model", "optimizer", "options"} <= set(obj):
        raise EDVRCheckpointError(f"{source}: not an edvr training state (it lacks step, model, optimizer "
                                  "and options); give the run's last.pt or a checkpoints/step-*.pt")
    fmt = obj.get("format", TRAINING_STATE_FORMAT)
    if fmt != TRAINING_STATE_FORMAT or not isinstance(obj.get("version", 1), int):
        raise EDVRCheckpointError(f"{source}: format {fmt!r} is not an edvr training state")
    if obj.get("version", 1) > TRAINING_STATE_VERSION:
        raise EDVRCheckpointError(f"{source}: written by a newer edvr (training state version "
                                  f"{obj['version']}); upgrade edvr-cli to resume it")
    step = obj["step"]
    if isinstance(step, torch.Tensor) and step.numel() == 1:
        step = int(step.item())
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise EDVRCheckpointError(f"{source}: its step is not a count of steps; not an edvr training state")
    model = obj["model"]
    if not isinstance(model, Mapping) or not model:
        raise EDVRCheckpointError(f"{source}: its model is not a state dict; not an edvr training state")
    tensors = unwrap_container(model, source)
    if len(tensors) != len(model):
        raise EDVRCheckpointError(f"{source}: its model holds entries that are not tensors")
    check_weights(tensors, source)
    optimizer = obj["optimizer"]
    if not isinstance(optimizer, Mapping):
        raise EDVRCheckpointError(f"{source}: its optimizer is not a state dict; not an edvr training state")
    options = _json_field(obj, "options", dict, source)
    history = _json_field(obj, "history", list, source) if "history" in obj else []
    return TrainingState(step=step, model=tensors, optimizer=dict(optimizer), options=options, history=history)


__all__ = [
    "MAX_DECLARED_BYTES",
    "TRAINING_STATE_FORMAT",
    "TRAINING_STATE_VERSION",
    "StateDict",
    "TrainingState",
    "check_weights",
    "is_safetensors",
    "read_file",
    "read_metadata",
    "read_state_dict",
    "read_training_state",
    "unwrap_container",
]
