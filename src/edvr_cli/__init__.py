"""edvr-cli: video restoration with EDVR, exact to the published checkpoints.

Python API::

    from edvr_cli import load_model, save_model
    model = load_model("EDVR_L_x4_SR_REDS_official-9f5f5039.pth", device="cuda")
"""

__version__ = "0.1.0"

from .arch import EDVR, EDVRConfig, set_dcn_backend
from .checkpoint import infer_config, load_model, read_state_dict, save_model
from .errors import EDVRCheckpointError, EDVRError

__all__ = [
    "__version__", "EDVR", "EDVRConfig", "set_dcn_backend", "load_model", "save_model",
    "read_state_dict", "infer_config", "EDVRError", "EDVRCheckpointError",
]
