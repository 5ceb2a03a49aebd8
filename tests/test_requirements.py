"""The torch range in pyproject is what the code needs: each newer API it uses is covered by the minimum."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: APIs the package uses, and the torch release that introduced them.
NEEDS = {"torch.OutOfMemoryError": (2, 4), "torch.uint16": (2, 3)}
#: torchvision releases that pair with each torch minor (deform_conv2d's operator is compiled against it).
TORCHVISION_FOR = {(2, 3): (0, 18), (2, 4): (0, 19), (2, 5): (0, 20), (2, 6): (0, 21)}


def minimum(name: str) -> tuple[int, ...]:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(rf'"{name}>=([0-9.]+)"', text)
    assert found, f"{name} has no lower bound in pyproject.toml"
    return tuple(int(p) for p in found.group(1).split("."))


def test_the_torch_minimum_covers_every_api_used():
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "edvr_cli").rglob("*.py"))
    used = {api: version for api, version in NEEDS.items() if api in source}
    assert used, "the table lists APIs the code no longer uses"
    assert minimum("torch")[:2] >= max(used.values())


def test_torchvision_minimum_pairs_with_torch():
    assert minimum("torchvision")[:2] == TORCHVISION_FOR[minimum("torch")[:2]]


def test_installed_versions_are_in_range():
    import torch
    import torchvision

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:2])

    assert version(torch.__version__) >= minimum("torch")[:2]
    assert version(torchvision.__version__) >= minimum("torchvision")[:2]
