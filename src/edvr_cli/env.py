"""Environment switches, read in this one place (at call time, so a changed environment is honoured).

Ours:
    EDVR_HOME              where models are cached (default: the platform's user cache folder + ``edvr``)
    EDVR_OFFLINE           ``1``: never touch the network (default: the value of HF_HUB_OFFLINE)
    EDVR_HF_REPO           a Hugging Face Hub repository mirroring the published checkpoints; tried
                           first when set (there is no default: no official mirror exists)
    EDVR_DOWNLOAD_TIMEOUT  seconds without data before a connection counts as stalled
    EDVR_DEBUG             ``1``: unexpected errors print their traceback
    EDVR_RAY_SHIP          ``1``: Ray workers fetch the input and return pieces through the object store
                           (as on a cluster without a shared file system; for tests)
    EDVR_TEST_CRASH_ONCE   tests: a worker dies while making segment 1, once (the path of a marker file)

Hugging Face Hub's own (read by huggingface_hub; we only pass them on at call time):
    HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME, HF_HUB_CACHE
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_DOWNLOAD_TIMEOUT = 20.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_flag(name: str) -> bool | None:
    """True/False for a set boolean variable, None when unset or unreadable."""
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for this tool (no dependency on platformdirs)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "edvr" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "edvr"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edvr"


def edvr_home() -> Path:
    """Root of our cache: ``$EDVR_HOME`` or the platform's user cache folder."""
    value = os.environ.get("EDVR_HOME")
    return Path(value).expanduser() if value else user_cache_dir()


def hf_hub_offline() -> bool:
    """Whether huggingface_hub's offline switch is on (read now, not at huggingface_hub's import)."""
    flag = _env_flag("HF_HUB_OFFLINE")
    if flag is None:
        flag = _env_flag("TRANSFORMERS_OFFLINE")
    if flag is not None:
        return flag
    try:
        from huggingface_hub import constants as hf_constants
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    return bool(getattr(hf_constants, "HF_HUB_OFFLINE", False))


def edvr_offline_set() -> bool:
    """Whether ``EDVR_OFFLINE`` is set at all (then it, not huggingface_hub's switch, decides)."""
    return "EDVR_OFFLINE" in os.environ


def is_offline() -> bool:
    """``EDVR_OFFLINE`` when set, else ``HF_HUB_OFFLINE``: no network at all."""
    flag = _env_flag("EDVR_OFFLINE")
    if flag is not None:
        return flag
    return hf_hub_offline()


def hf_repo() -> str | None:
    """Hub repository of a mirror named with ``EDVR_HF_REPO``; None when none is named."""
    value = (os.environ.get("EDVR_HF_REPO") or "").strip()
    return value or None


def hf_endpoint() -> str | None:
    """``HF_ENDPOINT`` as set now (None: huggingface_hub's default)."""
    value = os.environ.get("HF_ENDPOINT")
    return value.rstrip("/") if value else None


def hf_hub_cache() -> str | None:
    """huggingface_hub's cache folder as set now (None: huggingface_hub's default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return None


def download_timeout() -> float:
    """Seconds to wait for a connection or for the next bytes before giving up on it."""
    value = os.environ.get("EDVR_DOWNLOAD_TIMEOUT")
    try:
        return float(value) if value else DEFAULT_DOWNLOAD_TIMEOUT
    except ValueError:
        return DEFAULT_DOWNLOAD_TIMEOUT


def debug() -> bool:
    """``EDVR_DEBUG``: unexpected errors print their traceback."""
    return bool(os.environ.get("EDVR_DEBUG"))


def ray_ship() -> bool:
    """``EDVR_RAY_SHIP``: ship the input to Ray workers and their pieces back through the object store."""
    return bool(os.environ.get("EDVR_RAY_SHIP"))


def test_crash_once() -> str | None:
    """``EDVR_TEST_CRASH_ONCE``: the marker file of the tests' worker crash, or None."""
    return os.environ.get("EDVR_TEST_CRASH_ONCE") or None


def passed_to_workers() -> dict[str, str]:
    """The variables remote workers get from the driver: ours and OpenMP's."""
    return {k: v for k, v in os.environ.items() if k.startswith(("EDVR_", "OMP_"))}


def set_default(name: str, value: str) -> None:
    """Set a variable for libraries this process loads (FFmpeg's encoders, Ray), unless it is set already."""
    os.environ.setdefault(name, value)
