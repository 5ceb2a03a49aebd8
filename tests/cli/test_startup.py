"""Start-up: the public API imports lazily, and the quick commands never load torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

QUICK = [["--help"], ["--version"], ["weights", "list"], ["upscale", "--help"], ["deblur", "--help"],
         ["weights", "--help"], ["eval", "--help"], ["compare", "--help"], ["train", "--help"],
         ["report", "--help"]]


@pytest.mark.parametrize("args", QUICK, ids=lambda a: " ".join(a))
def test_quick_commands_do_not_import_torch(args, tmp_path):
    code = ("import sys\nfrom edvr_cli.cli import main\n"
            f"rc = main({args!r})\n"
            "assert rc == 0, rc\n"
            "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy', 'av', 'huggingface_hub', 'gdown') "
            "if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)\n"
            "assert 'torch' not in heavy, heavy\n")
    env = {"EDVR_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr


def test_import_edvr_cli_is_light_and_names_resolve_on_use():
    code = ("import sys\nimport edvr_cli\n"
            "assert 'torch' not in sys.modules\n"
            "names = sorted(edvr_cli.__all__)\n"
            "assert {'load_model', 'save_model', 'restore_video', 'RestoreSettings', 'StreamRestorer',\n"
            "        'resolve_model', 'load_descriptor', 'ModelDescriptor'} <= set(names)\n"
            "for n in names:\n"
            "    assert getattr(edvr_cli, n) is not None, n\n"
            "from edvr_cli import RestoreSettings, restore_video, load_model\n"
            "assert 'torch' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_unknown_public_name_is_an_attribute_error():
    import edvr_cli

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        edvr_cli.nope  # noqa: B018
