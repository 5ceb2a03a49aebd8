"""Options of `edvr train / eval / compare` are checked when parsed: one `edvr: error:` line, non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clips import make_clip, pattern_rgb
from edvr_cli.cli.main import main
from edvr_cli.video.images import write_frames


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("opts")
    write_frames(root / "clip", [pattern_rgb(k, 32, 24) for k in range(3)])
    write_frames(root / "tiny", [pattern_rgb(k, 4, 4) for k in range(3)])
    make_clip(root / "a.mp4", frames=3)
    (root / "folder").mkdir()
    return {"root": root, "clip": root / "clip", "tiny": root / "tiny", "video": root / "a.mp4",
            "folder": root / "folder"}


def _run(args: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edvr: error:"), err
    assert "Traceback" not in err
    return rc, lines[0]


EVAL = ["eval", "--pred", "{clip}", "--gt", "{clip}"]
COMPARE = ["compare", "{video}", "{clip}", "-o", "{root}/cmp.png"]
COMPARE_VIDEO = ["compare", "{video}", "{clip}", "-o", "{root}/cmp.mp4", "--video"]
TRAIN = ["train", "{clip}", "--out-dir", "{root}/run", "--steps", "1", "-q"]

CASES = {
    # eval
    "eval --window -3": (EVAL + ["--window", "-3"], "--window"),
    "eval --window 0": (EVAL + ["--window", "0"], "--window"),
    "eval --window 4": (EVAL + ["--window", "4"], "odd"),
    "eval --json DIR": (EVAL + ["--json", "{folder}"], "is a folder"),
    "eval --json DIR/": (EVAL + ["--json", "{root}/new/"], "is a folder"),
    "eval --crop-border -1": (EVAL + ["--crop-border", "-1"], "--crop-border"),
    "eval --batch 0": (["eval", "--model", "bicubic", "--lq", "{clip}", "--gt", "{clip}", "--batch", "0"], "--batch"),
    "eval --save without --model": (EVAL + ["--save", "{root}/saved"], "--save"),
    "eval 4x4 frames (SSIM needs 11x11)": (["eval", "--pred", "{tiny}", "--gt", "{tiny}"], "at least 11x11"),
    # compare
    "compare --width 0": (COMPARE + ["--width", "0"], "--width"),
    "compare --width -10": (COMPARE + ["--width", "-10"], "--width"),
    "compare --width 100000": (COMPARE + ["--width", "100000"], "--width"),
    "compare --fps nan": (COMPARE_VIDEO + ["--fps", "nan"], "--fps"),
    "compare --fps inf": (COMPARE_VIDEO + ["--fps", "inf"], "--fps"),
    "compare --fps 0": (COMPARE_VIDEO + ["--fps", "0"], "--fps"),
    "compare --fps -25": (COMPARE_VIDEO + ["--fps", "-25"], "--fps"),
    "compare --frame -1": (COMPARE + ["--frame", "-1"], "--frame"),
    "compare --frame past the end": (COMPARE + ["--frame", "99"], "no frame 99"),
    "compare --max-frames 0": (COMPARE_VIDEO + ["--max-frames", "0"], "--max-frames"),
    "compare --crop 1,2,3": (COMPARE + ["--crop", "1,2,3"], "--crop"),
    "compare --crop 0,0,0,5": (COMPARE + ["--crop", "0,0,0,5"], "--crop"),
    "compare --crop outside": (COMPARE + ["--crop", "60,40,20,20"], "does not fit"),
    "compare -o x.jpg": (["compare", "{video}", "{clip}", "-o", "{root}/cmp.jpg"], ".png"),
    "compare --video -o x.png": (["compare", "{video}", "{clip}", "-o", "{root}/cmp.png", "--video"],
                                 "video extension"),
    "compare two labels for one": (["compare", "{video}", "-o", "{root}/c.png", "-l", "a", "-l", "b"], "--label"),
    # train
    "train --patch 0": (TRAIN + ["--patch", "0"], "--patch"),
    "train --patch 6": (TRAIN + ["--patch", "6"], "multiple of 4"),
    "train --hr-in --patch 8": (TRAIN + ["--hr-in", "--patch", "8"], "multiple of 16"),
    "train --batch-size 0": (TRAIN + ["--batch-size", "0"], "--batch-size"),
    "train --num-feat -4": (TRAIN + ["--num-feat", "-4"], "--num-feat"),
    "train --num-feat 0": (TRAIN + ["--num-feat", "0"], "--num-feat"),
    "train --num-feat 10 (4 groups)": (TRAIN + ["--num-feat", "10"], "multiple of deformable_groups"),
    "train --num-frame 4": (TRAIN + ["--num-frame", "4"], "odd"),
    "train --num-frame -1": (TRAIN + ["--num-frame", "-1"], "--num-frame"),
    "train --deformable-groups 0": (TRAIN + ["--deformable-groups", "0"], "--deformable-groups"),
    "train --num-extract-block -1": (TRAIN + ["--num-extract-block", "-1"], "--num-extract-block"),
    "train --steps 0": (TRAIN[:-3] + ["--steps", "0"], "--steps"),
    "train --lr nan": (TRAIN + ["--lr", "nan"], "--lr"),
    "train --lr 0": (TRAIN + ["--lr", "0"], "--lr"),
    "train --lr-min -1": (TRAIN + ["--lr-min", "-1"], "--lr-min"),
    "train --val-fraction 2": (TRAIN + ["--val-fraction", "2"], "--val-fraction"),
    "train --val-every 0": (TRAIN + ["--val-every", "0"], "--val-every"),
    "train --jpeg 1": (TRAIN + ["--jpeg", "1"], "--jpeg"),
    "train --crf 99": (TRAIN + ["--crf", "99"], "--crf"),
    "train --threads 0": (TRAIN + ["--threads", "0"], "--threads"),
    "train --blur-strength inf": (TRAIN + ["--blur-strength", "inf"], "--blur-strength"),
    "train --max-speed -1": (TRAIN + ["--max-speed", "-1"], "--max-speed"),
    "train --detail-bias 0": (TRAIN + ["--detail-bias", "0"], "--detail-bias"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_option_is_one_error_line(case, paths, capsys):
    args, expected = CASES[case]
    rc, line = _run([a.format(**paths) for a in args], capsys)
    assert rc != 0
    assert expected in line
    assert not (paths["root"] / "run").exists()  # nothing trained
    assert not (paths["root"] / "cmp.png").exists() and not (paths["root"] / "cmp.mp4").exists()


def test_good_options_still_work(paths, capsys):
    out = paths["root"] / "ok.png"
    assert main(["compare", str(paths["video"]), str(paths["clip"]), "-o", str(out), "--width", "16",
                 "--crop", "0,0,8,8"]) == 0
    assert out.is_file()
    assert main(["eval", "--pred", str(paths["clip"]), "--gt", str(paths["clip"]), "--window", "1",
                 "--no-border-frames", "-q"]) == 0
    assert "average: PSNR inf dB" in capsys.readouterr().out


def test_help_does_not_import_torch():
    code = ("import sys\nfrom edvr_cli.cli.main import main\n"
            "for args in (['--help'], ['eval', '--help'], ['compare', '--help'], ['train', '--help']):\n"
            "    assert main(args) == 0\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert np.char.count(done.stdout, "Usage:").item() == 4
