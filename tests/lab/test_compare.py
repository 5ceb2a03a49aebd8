"""Comparison images and split-screen videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edvr_cli.errors import InputError
from edvr_cli.lab.compare import GAP, compose, plan_layout, render_text, split_screen
from edvr_cli.video.images import iter_clip, read_image, write_frames


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("cmp")
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (4, 48, 64, 3)).astype(np.uint8)
    write_frames(root / "gt", hr)
    write_frames(root / "lq", hr[:, ::4, ::4])
    return [root / "lq", root / "gt"]


def test_text_rendering():
    mask = render_text("EDVR x4", 2)
    assert mask.shape == (14, (6 * 7 - 1) * 2)
    assert mask[:, :2].all()  # the left stroke of E
    assert not mask[:, 10:12].any()  # the gap between glyphs


def test_compare_image_has_the_planned_size(sources, tmp_path):
    from edvr_cli.cli.lab import compare_command

    out = tmp_path / "cmp.png"
    res = CliRunner().invoke(compare_command, [*map(str, sources), "-o", str(out), "-l", "input", "-l", "truth",
                                               "--frame", "2", "--crop", "8,8,16,12", "--crop", "30,20,20,20"])
    assert res.exit_code == 0, res.output
    img = read_image(out)
    lay = plan_layout((48, 64), 2, [(8, 8, 16, 12), (30, 20, 20, 20)])
    assert img.shape == (lay.height, lay.width, 3)
    # 2 columns of 64 px, frame 48 high, crops 48 and 64 high
    assert lay.width == 2 * 64 + 3 * GAP
    assert lay.height == GAP + lay.label_h + 48 + (GAP + 48) + (GAP + 64) + GAP


def test_compose_auto_crop_and_bad_crop():
    a = np.zeros((40, 40, 3), np.uint8)
    b = a.copy()
    b[20:30, 5:15] = 255
    img = compose([a, b], ["a", "b"], panel_width=80)
    assert img.shape[1] == 2 * 80 + 3 * GAP
    with pytest.raises(InputError, match="does not fit in the 40x40 frame"):
        compose([a], ["a"], crops=[(30, 30, 20, 20)])


def test_split_screen_video(sources, tmp_path):
    from edvr_cli.cli.lab import compare_command

    out = tmp_path / "cmp.mp4"
    res = CliRunner().invoke(compare_command, [*map(str, sources), "-o", str(out), "--video", "--fps", "10"])
    assert res.exit_code == 0, res.output
    frames = list(iter_clip(out))
    assert len(frames) == 4 and frames[0].shape == (48, 64, 3)
    frame = split_screen([np.zeros((12, 16, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)], ["", ""], (48, 64))
    # left strip: the black source enlarged; a white divider on columns 31-32; right strip: the grey source
    assert (frame[:, :31] == 0).all() and (frame[:, 31:33] == 255).all() and (frame[:, 33:] == 200).all()
