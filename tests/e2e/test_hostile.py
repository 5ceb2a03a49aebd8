"""Hostile use of the restore commands: every file survives byte for byte, nothing is left behind.

Each test is one row of the attack table (issue 11); the promise is asserted exactly: the file that
must survive is compared byte for byte, the folder must hold what it held, stderr is one line.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from edvr_cli.cli import main
from edvr_cli.errors import InputError, OutputError, OutputExistsError
from edvr_cli.guard.output import (
    check_output,
    guarded_output,
    remove_stale_temporaries,
    temporary_sibling,
)
from edvr_cli.jobs.batch import plan_batch
from edvr_cli.jobs.workfolder import work_dir

from clips import make_clip, pattern_rgb
from conftest import GOLDEN

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
FAST = ["--model", SR, "--device", "cpu", "--precision", "fp32", "--tile", "0", "-q"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with the SHA-256 of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edvr: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)


# -- row 2: --overwrite onto a folder holding the input and other files --------------------------------

def test_overwrite_onto_a_folder_with_the_input_and_other_files_is_refused(tmp_path, clip, capfd):
    d = tmp_path / "d"
    d.mkdir()
    (d / "in.mp4").write_bytes(clip.read_bytes())
    (d / "keep.txt").write_text("x")
    before = snapshot(d)
    rc = main(["upscale", str(d / "in.mp4"), str(d), "--overwrite", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "contains the input" in line
    assert snapshot(d) == before


def test_overwrite_onto_a_folder_with_foreign_files_names_them(tmp_path, clip, capfd):
    d = tmp_path / "frames"
    d.mkdir()
    (d / "00000000.png").write_bytes(b"edvr's")
    (d / "holiday.jpg").write_bytes(b"someone's")
    before = snapshot(d)
    rc = main(["upscale", str(clip), str(d), "--overwrite", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "holiday.jpg" in line
    assert snapshot(d) == before


def test_overwrite_replaces_an_edvr_frame_folder_with_only_its_own_files(tmp_path, clip, capfd):
    d = tmp_path / "frames"
    assert main(["upscale", str(clip), str(d), *FAST]) == 0
    assert sorted(p.name for p in d.iterdir()) == [f"{i:08d}.png" for i in range(5)]
    (d / "00000099.png").write_bytes(b"an old frame of a longer run")
    assert main(["upscale", str(clip), str(d), "--overwrite", *FAST]) == 0
    assert sorted(p.name for p in d.iterdir()) == [f"{i:08d}.png" for i in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "in.mp4"]


# -- row 3: a device as OUTPUT ---------------------------------------------------------------------------

@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_dev_null_as_output_is_refused_even_with_overwrite(clip, capfd, overwrite):
    st = os.stat("/dev/null")
    rc = main(["upscale", str(clip), "/dev/null", *overwrite, *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "is a device" in line
    after = os.stat("/dev/null")
    assert os.path.exists("/dev/null") and (after.st_mode, after.st_rdev) == (st.st_mode, st.st_rdev)


def test_fifo_as_output_is_refused(tmp_path, clip, capfd):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    rc = main(["upscale", str(clip), str(fifo), "--overwrite", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "FIFO" in line
    assert fifo.is_fifo()


# -- row 5 and row 14: empty, FIFO and device INPUT -------------------------------------------------------

def test_empty_input_is_refused_not_taken_as_the_current_folder(tmp_path, clip, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    rc = main(["upscale", "", "out.mp4", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "empty" in line
    assert snapshot(tmp_path) == before


def test_empty_output_is_refused(tmp_path, clip, capfd):
    rc = main(["upscale", str(clip), "", *FAST])
    assert rc != 0 and "empty" in one_error_line(capfd.readouterr().err)


def test_fifo_or_device_as_input_is_one_line(tmp_path, capfd):
    fifo = tmp_path / "in.mp4"
    os.mkfifo(fifo)
    for src, word in [(fifo, "FIFO"), (Path("/dev/zero"), "device")]:
        rc = main(["upscale", str(src), str(tmp_path / "out.mp4"), *FAST])
        line = one_error_line(capfd.readouterr().err)
        assert rc != 0 and word in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_output_equal_to_input_is_refused_with_overwrite(tmp_path, clip, capfd):
    before = clip.read_bytes()
    link = tmp_path / "same.mp4"
    os.link(clip, link)  # the same file under another name
    for target in (clip, link):
        rc = main(["upscale", str(clip), str(target), "--overwrite", *FAST])
        assert rc != 0 and "is the input" in one_error_line(capfd.readouterr().err)
    assert clip.read_bytes() == before


# -- row 6: signals --------------------------------------------------------------------------------------

SLOW_SHIM = """
import sys, time
from edvr_cli.engine import restorer
real = restorer.StreamRestorer._quantize
def slow(self, x):
    time.sleep(float(sys.argv[1]))
    return real(self, x)
restorer.StreamRestorer._quantize = slow
from edvr_cli.jobs import segplan
segplan.SHORTEST_TAIL = 1
from edvr_cli.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _run_and_signal(tmp_path: Path, args: list[str], sig: int, wait_for) -> subprocess.CompletedProcess:
    shim = tmp_path / "slow.py"
    shim.write_text(SLOW_SHIM)
    proc = subprocess.Popen([sys.executable, str(shim), "0.4", *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not wait_for():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_plain_run_removes_temporaries_and_exits_128_plus_signal(tmp_path, sig):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=30)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.mp4"
    done = _run_and_signal(tmp_path, ["upscale", str(src), str(out), "--no-resume", *FAST], sig,
                           lambda: any(p.name.startswith(".edvr-tmp-") for p in out_dir.iterdir()))
    assert done.returncode == 128 + sig, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edvr: interrupted") and "Traceback" not in done.stderr
    assert list(out_dir.iterdir()) == []


@pytest.mark.slow
def test_sigterm_mid_resumable_run_keeps_finished_segments(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=30)
    out = tmp_path / "o.mp4"
    manifest = work_dir(out) / "manifest.json"
    done = _run_and_signal(tmp_path, ["upscale", str(src), str(out), "--resume", "--segment-frames", "5", *FAST],
                           signal.SIGTERM,
                           lambda: manifest.exists() and '"index": 0' in manifest.read_text())
    assert done.returncode == 143, done.stderr
    assert "Traceback" not in done.stderr
    kept = sorted(p.name for p in work_dir(out).iterdir())
    assert "seg-000000.mp4" in kept and not any(".part" in n for n in kept)
    assert not out.exists()


def test_stale_temporaries_of_a_killed_run_are_removed_by_the_next_run(tmp_path, clip):
    out = tmp_path / "o.mp4"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = temporary_sibling(out).name.split("-")
    stale[3] = str(pid)  # .edvr-tmp-<id>-<pid>-<rand>.mp4 of a process that is gone
    stale_path = tmp_path / "-".join(stale)
    stale_path.write_bytes(b"partial")
    live = temporary_sibling(out)  # ours: a live process's temporary is never touched
    live.write_bytes(b"live")
    other = temporary_sibling(tmp_path / "other.mp4")
    other_parts = other.name.split("-")
    other_parts[3] = str(pid)
    other = tmp_path / "-".join(other_parts)
    other.write_bytes(b"another output's")
    assert remove_stale_temporaries(out) == [stale_path]
    assert not stale_path.exists() and live.exists() and other.exists()


def test_work_folder_of_an_output_already_in_place_is_removed_next_run(tmp_path, clip, capfd):
    out = tmp_path / "o.mp4"
    assert main(["upscale", str(clip), str(out), "--resume", *FAST]) == 0
    # What SIGKILL right after the final rename leaves: the output, and the work folder recording it.
    work = work_dir(out)
    work.mkdir()
    st = os.stat(out)
    (work / "manifest.json").write_text(
        '{"format": "edvr-cli resumable run", "version": 1, "run": {}, "segments": [], "finished": true, '
        f'"assembly": {{"dev": {st.st_dev}, "ino": {st.st_ino}}}}}')
    before = out.read_bytes()
    rc = main(["upscale", str(clip), str(out), *FAST])
    assert rc != 0 and "already exists" in one_error_line(capfd.readouterr().err)
    assert not work.exists() and out.read_bytes() == before


# -- row 7: Ctrl-C at start-up ----------------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_during_start_up_is_one_line(tmp_path, clip):
    """SIGINT at several moments of start-up (imports, model load): never a traceback."""
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([sys.executable, "-m", "edvr_cli", "upscale", str(clip), str(tmp_path / "o.mp4"),
                                 *FAST], stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            continue  # it finished first
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "corrupt" not in err, err
        assert [line for line in err.splitlines() if line.strip()][0].startswith("edvr: interrupted"), err
    assert not any(p.name.startswith(".edvr-tmp-") for p in tmp_path.iterdir())


# -- row 9: image folders ----------------------------------------------------------------------------------

def _write_image(path: Path, rgb: np.ndarray) -> None:
    codec = {".png": "png", ".jpg": "mjpeg", ".bmp": "bmp"}[path.suffix]
    with av.open(str(path), "w", format="image2") as c:
        s = c.add_stream(codec)
        s.width, s.height = rgb.shape[1], rgb.shape[0]
        s.pix_fmt = {"png": "rgb24", "mjpeg": "yuvj444p", "bmp": "bgr24"}[codec]
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=s.pix_fmt)
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def test_mixed_image_formats_each_decode_with_their_own_colour_rules(tmp_path):
    from edvr_cli.video import read_frames

    seq = tmp_path / "seq"
    seq.mkdir()
    names = ["0.png", "1.jpg", "2.bmp", "3.png"]
    for i, name in enumerate(names):
        _write_image(seq / name, pattern_rgb(i, 32, 24))
    frames = list(read_frames(seq))
    assert len(frames) == 4
    for i, frame in enumerate(frames):
        want = pattern_rgb(i, 32, 24).astype(np.float32) / 255
        err = np.abs(frame.rgb - want)
        limit = 0.08 if names[i].endswith(".jpg") else 1e-6  # JPEG is lossy; lossless files are exact
        assert float(err.mean()) < limit / 4 and float(err.max()) <= max(limit * 4, 1e-6), names[i]


def test_mixed_image_folder_restores(tmp_path, capfd):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i, name in enumerate(["0.png", "1.jpg", "2.bmp"]):
        _write_image(seq / name, pattern_rgb(i, 32, 24))
    assert main(["upscale", str(seq), str(tmp_path / "o.mkv"), *FAST]) == 0
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3


def test_corrupt_image_in_a_sequence_is_named_and_nothing_is_written(tmp_path, capfd):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(5):
        _write_image(seq / f"{i}.png", pattern_rgb(i, 32, 24))
    (seq / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    out = tmp_path / "o.mkv"
    rc = main(["upscale", str(seq), str(out), *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "'3.png'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]


# -- row 10: a batch whose output lies inside its input -------------------------------------------------------

def test_batch_output_inside_input_is_not_reprocessed(tmp_path, capfd):
    bt = tmp_path / "bt"
    bt.mkdir()
    make_clip(bt / "a.mp4", width=32, height=24, frames=5)
    make_clip(bt / "b.mp4", width=32, height=24, frames=5)
    assert [p.name for p, _ in plan_batch(bt, bt / "out", recursive=True)] == ["a.mp4", "b.mp4"]
    for _ in range(2):
        assert main(["upscale", str(bt), str(bt / "out"), "-r", *FAST]) == 0
    assert sorted(str(p.relative_to(bt)) for p in bt.rglob("*") if p.is_file()) == [
        "a.mp4", "b.mp4", "out/a.mp4", "out/b.mp4"]


# -- row 11: a long output name -------------------------------------------------------------------------------

@pytest.mark.parametrize("resume", ["--no-resume", "--resume"])
def test_a_246_character_output_name_works(tmp_path, clip, resume):
    out = tmp_path / ("n" * 246 + ".mp4")  # 250 bytes: legal, but a long temporary name would not be
    assert main(["upscale", str(clip), str(out), resume, *FAST]) == 0
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", out.name]


# -- row 14: environment problems named with the real path ------------------------------------------------------

@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_names_it(tmp_path, clip, capfd):  # pragma: no cover - CI runs as root
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    rc = main(["upscale", str(clip), str(ro / "o.mp4"), *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and str(ro) in line and ".edvr-tmp" not in line


def test_output_under_a_file_names_the_real_path(tmp_path, clip, capfd):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    rc = main(["upscale", str(clip), str(blocker / "o.mp4"), *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "afile" in line and ".edvr-tmp" not in line
    assert blocker.read_text() == "x"


def test_bad_preset_is_refused_before_work_and_names_no_temporary(tmp_path, clip, capfd):
    rc = main(["upscale", str(clip), str(tmp_path / "o.mp4"), "--preset", "warp-speed", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "warp-speed" in line and ".edvr-tmp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("args, word", [
    (["--tile", "7"], "--tile"),
    (["--tile", "-3"], "--tile"),
    (["--tile", "33", "--tile-overlap", "16"], "--tile 36"),
    (["--device", "quantum"], "--device"),
    (["--batch", "0"], "--batch"),
    (["--crf", "99"], "--crf"),
])
def test_options_are_checked_when_parsed(tmp_path, clip, capfd, args, word):
    argv = ["upscale", str(clip), str(tmp_path / "o.mp4"), "--model", SR, "--device", "cpu", "-q"]
    rc = main([*argv, *args])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and word in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_tiny_frames_restore_or_are_refused_in_one_line(tmp_path, capfd):
    from edvr_cli.jobs.limits import smallest_side

    assert (smallest_side(4), smallest_side(16)) == (3, 9)
    src = make_clip(tmp_path / "tiny.mp4", width=4, height=4, frames=3, pix_fmt="yuv444p")
    assert main(["upscale", str(src), str(tmp_path / "o.mp4"), *FAST]) == 0  # x4 SR pads 4x4 to itself
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (16, 16)
    deblur = str(GOLDEN / "basicsr_deblur_hrin.pth")  # hr_in: pads to multiples of 16 by reflection
    rc = main(["deblur", str(src), str(tmp_path / "d.mp4"), "--model", deblur, "--device", "cpu", "-q"])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "4x4" in line and "9x9" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "tiny.mp4"]


# -- the guard itself -------------------------------------------------------------------------------------------

def test_guard_refuses_an_existing_file_without_overwrite_and_a_file_as_frame_folder(tmp_path):
    f = tmp_path / "frames"
    f.write_bytes(b"mine")
    with pytest.raises(OutputExistsError):
        check_output(tmp_path / "frames", folder=False)
    with pytest.raises(OutputError, match="is a file"):
        check_output(f, overwrite=True, folder=True)
    assert f.read_bytes() == b"mine"


def test_guard_treats_an_empty_folder_as_free(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    with guarded_output(d, folder=True) as tmp:
        (tmp / "00000000.png").write_bytes(b"x")
    assert [p.name for p in d.iterdir()] == ["00000000.png"]


def test_guard_refuses_an_input_inside_the_output_folder_even_when_empty_otherwise(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "in.mp4").write_bytes(b"input")
    with pytest.raises(OutputError, match="contains the input"):
        check_output(d, overwrite=True, inputs=[d / "in.mp4"], folder=True)


def test_input_errors_are_input_errors(tmp_path):
    from edvr_cli.guard.inputs import check_input

    with pytest.raises(InputError, match="empty"):
        check_input("")
    with pytest.raises(InputError, match="does not exist"):
        check_input(tmp_path / "nope.mp4")


# -- second hostile pass: work folders, inputs inside folders, names, environment ---------------------------

@pytest.mark.parametrize("kind", ["user-folder", "symlink", "png-output", "fake-manifest", "edvr-like-names"])
def test_a_folder_named_like_a_work_folder_is_never_emptied(tmp_path, clip, capfd, kind):
    work = work_dir(tmp_path / "o.mp4")
    precious = tmp_path / "important"
    precious.mkdir()
    (precious / "a.txt").write_text("mine")
    if kind == "symlink":
        work.symlink_to(precious)
    elif kind == "png-output":
        assert main(["upscale", str(clip), str(work), *FAST]) == 0  # a frame folder that happens to have the name
    elif kind == "edvr-like-names":  # files under edvr's names, but no manifest edvr wrote
        work.mkdir()
        (work / "manifest.json").write_text("{}")
        (work / "seg-000000.mp4").write_text("precious")
    else:
        work.mkdir()
        (work / "precious.txt").write_text("mine")
        if kind == "fake-manifest":
            (work / "manifest.json").write_text("{}")
    before = snapshot(tmp_path)
    rc = main(["upscale", str(clip), str(tmp_path / "o.mp4"), "--resume", "--overwrite", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and work.name in line
    assert snapshot(tmp_path) == before
    assert (precious / "a.txt").read_text() == "mine"


def test_an_output_that_is_a_file_of_an_input_folder_is_refused(tmp_path, capfd):
    seq = tmp_path / "fr"
    seq.mkdir()
    for i in range(3):
        _write_image(seq / f"{i}.png", pattern_rgb(i, 32, 24))
    before = snapshot(seq)
    rc = main(["compare", str(seq), str(seq), "-o", str(seq / "0.png"), "--overwrite"])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "inside the input folder" in line
    assert snapshot(seq) == before


def test_a_folder_under_a_frame_name_is_not_taken_for_a_frame(tmp_path, clip, capfd):
    out = tmp_path / "o"
    (out / "00000000.png").mkdir(parents=True)
    (out / "00000000.png" / "keep.txt").write_text("mine")
    rc = main(["upscale", str(clip), str(out), "--overwrite", *FAST])
    assert rc != 0 and "00000000.png" in one_error_line(capfd.readouterr().err)
    assert (out / "00000000.png" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "o"]


def test_empty_model_name_is_refused_when_parsed(tmp_path, clip, capfd):
    rc = main(["upscale", str(clip), str(tmp_path / "o.mp4"), "--model", "", "--device", "cpu", "-q"])
    assert rc != 0 and "--model" in one_error_line(capfd.readouterr().err)


def test_a_name_with_a_newline_gives_one_line(tmp_path, clip, capfd):
    odd = tmp_path / "a\nb.mp4"
    odd.write_text("k")
    rc = main(["upscale", str(clip), str(odd), *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "a\\nb.mp4" in line and odd.read_text() == "k"


def test_dot_and_overlong_names_are_guard_messages(tmp_path, clip, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["upscale", str(clip), ".", "--overwrite", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "Error" not in line.split(":")[1]  # a guard message, not a bug's class name
    rc = main(["upscale", str(clip), "x" * 252 + ".mp4", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "longer than file names can be" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_an_unwritable_place_is_named_as_such(tmp_path, clip, capfd):
    rc = main(["upscale", str(clip), "/proc/o.mp4", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "/proc" in line and "container refuses" not in line and ".edvr-tmp" not in line


def test_a_failed_run_removes_the_folders_it_made_for_its_output(tmp_path, clip, capfd):
    out = tmp_path / "new" / "deeper" / "o.mp4"
    rc = main(["upscale", str(clip), str(out), "--preset", "warp-speed", "--no-resume", *FAST])
    assert rc != 0 and not (tmp_path / "new").exists()


def test_the_cache_never_writes_onto_a_fifo(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("EDVR_HOME", str(tmp_path / "home"))
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    os.mkfifo(models / "t.safetensors")
    rc = main(["weights", "import", SR, "--name", "t", "--force"])
    assert rc != 0 and "FIFO" in one_error_line(capfd.readouterr().err)
    assert (models / "t.safetensors").is_fifo()


def test_train_refuses_a_run_folder_holding_other_files_or_the_data(tmp_path, capfd):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        _write_image(data / f"p{i}.png", pattern_rgb(i, 48, 40))
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    base = ["train", str(data), "--steps", "1", "--device", "cpu", "-q", "--num-feat", "8", "--num-frame", "3",
            "--deformable-groups", "2", "--num-extract-block", "1", "--num-reconstruct-block", "1",
            "--batch-size", "1", "--patch", "8"]
    for out, word in ((run, "notes.txt"), (data, "is the input"), (data / "runs", "inside the training data")):
        before = snapshot(tmp_path)
        rc = main([*base, "-o", str(out)])
        line = one_error_line(capfd.readouterr().err)
        assert rc != 0 and word in line, line
        assert snapshot(tmp_path) == before


def test_an_input_named_like_a_stale_temporary_is_never_removed(tmp_path, clip, capfd):
    from edvr_cli.guard.output import temporary_sibling

    out = tmp_path / "o.mp4"
    parts = temporary_sibling(out).name.split("-")
    parts[3] = "999999"  # no such process: it would count as stale
    odd = tmp_path / "-".join(parts)
    odd.write_bytes(clip.read_bytes())
    before = odd.read_bytes()
    assert main(["upscale", str(odd), str(out), "--no-resume", *FAST]) == 0
    assert odd.read_bytes() == before


def test_the_current_folder_as_output_is_a_guard_message(tmp_path, clip, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["upscale", str(clip), ".", "--overwrite", *FAST])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "contains the input" in line


def test_a_crop_border_larger_than_the_frame_is_one_line(tmp_path, capfd):
    seq = tmp_path / "fr"
    seq.mkdir()
    for i in range(2):
        _write_image(seq / f"{i}.png", pattern_rgb(i, 32, 24))
    rc = main(["eval", "--pred", str(seq), "--gt", str(seq), "--crop-border", "1000"])
    line = one_error_line(capfd.readouterr().err)
    assert rc != 0 and "--crop-border" in line


def test_folders_named_like_stale_temporaries_are_kept_when_they_hold_inputs_or_other_files(tmp_path, clip):
    from edvr_cli.guard.output import temporary_sibling

    out = tmp_path / "o.mp4"
    parts = temporary_sibling(out).name.split("-")
    parts[3] = "999999"  # a process that is gone
    holder = tmp_path / "-".join(parts)
    holder.mkdir()
    (holder / "in.mp4").write_bytes(clip.read_bytes())
    other = tmp_path / ("-".join(parts[:-1]) + "-beef.mp4")
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["upscale", str(holder / "in.mp4"), str(out), "--no-resume", *FAST]) == 0
    assert (holder / "in.mp4").read_bytes() == clip.read_bytes() and (other / "keep.txt").read_text() == "mine"
