"""edvr-cli: video restoration with EDVR, exact to the published checkpoints.

Python API (names are imported on first use, so ``import edvr_cli`` does not load torch)::

    from edvr_cli import load_model, restore_video, RestoreSettings
    model = load_model("EDVR_L_x4_SR_REDS_official-9f5f5039.pth", device="cuda")
    restore_video("in.mp4", "out.mp4", RestoreSettings(model="edvr-tiny"))
"""

from __future__ import annotations

import sys as _sys

if _sys.argv and _sys.argv[0].endswith(("/edvr", "edvr_cli/__main__.py")):  # the `edvr` command starting
    import signal as _signal

    _early: list[int] = []
    for _s in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):  # noted now, acted on when main() starts
        _signal.signal(_s, lambda signum, frame: _early.append(signum))

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
__version__ = "0.1.0"

#: Public name -> module that defines it (PEP 562 lazy attributes).
_EXPORTS: dict[str, str] = {
    # the network and checkpoints
    "EDVR": "edvr_cli.model.arch",
    "EDVRConfig": "edvr_cli.model.arch",
    "set_dcn_backend": "edvr_cli.model.arch",
    "load_model": "edvr_cli.model.checkpoint",
    "save_model": "edvr_cli.model.checkpoint",
    "infer_config": "edvr_cli.model.checkpoint",
    "read_state_dict": "edvr_cli.model.reader",
    "ModelDescriptor": "edvr_cli.model.descriptor",
    "load_descriptor": "edvr_cli.model.descriptor",
    # the engine
    "StreamRestorer": "edvr_cli.engine.restorer",
    "resolve_device": "edvr_cli.engine.device",
    "window_indices": "edvr_cli.model.padding",
    # jobs
    "RestoreSettings": "edvr_cli.jobs.settings",
    "RestoreResult": "edvr_cli.jobs.settings",
    "restore_video": "edvr_cli.jobs.run",
    "restore_batch": "edvr_cli.jobs.batch",
    "load_models": "edvr_cli.jobs.models",
    # the model zoo
    "resolve_model": "edvr_cli.zoo.models",
    "download_model": "edvr_cli.zoo.models",
    "import_model": "edvr_cli.zoo.models",
    # errors
    "EDVRError": "edvr_cli.errors",
    "EDVRCheckpointError": "edvr_cli.errors",
    "InputError": "edvr_cli.errors",
    "OutputExistsError": "edvr_cli.errors",
}

__all__ = [
    "__version__",
    "EDVR",
    "EDVRConfig",
    "set_dcn_backend",
    "load_model",
    "save_model",
    "infer_config",
    "read_state_dict",
    "ModelDescriptor",
    "load_descriptor",
    "StreamRestorer",
    "resolve_device",
    "window_indices",
    "RestoreSettings",
    "RestoreResult",
    "restore_video",
    "restore_batch",
    "load_models",
    "resolve_model",
    "download_model",
    "import_model",
    "EDVRError",
    "EDVRCheckpointError",
    "InputError",
    "OutputExistsError",
]


def __getattr__(name: str) -> object:
    import importlib

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edvr_cli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from edvr_cli.engine.device import resolve_device
    from edvr_cli.engine.restorer import StreamRestorer
    from edvr_cli.errors import EDVRCheckpointError, EDVRError, InputError, OutputExistsError
    from edvr_cli.jobs.batch import restore_batch
    from edvr_cli.jobs.models import load_models
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.settings import RestoreResult, RestoreSettings
    from edvr_cli.model.arch import EDVR, EDVRConfig, set_dcn_backend
    from edvr_cli.model.checkpoint import infer_config, load_model, save_model
    from edvr_cli.model.descriptor import ModelDescriptor, load_descriptor
    from edvr_cli.model.padding import window_indices
    from edvr_cli.model.reader import read_state_dict
    from edvr_cli.zoo.models import download_model, import_model, resolve_model
