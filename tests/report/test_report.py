"""Fidelity reports: the measures on arrays with known answers, the plot, the page (self-contained, every
image decodable at its stated size), the `edvr report` command and `--report` of a real run."""

from __future__ import annotations

import base64
import json
import math
import struct
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest

from clips import make_clip
from clips import scene_rgb as scene
from edvr_cli.cli import main
from edvr_cli.report import metrics, svg
from edvr_cli.video.images import iter_clip, quantize8, write_frames

TINY = ["--model", "edvr-tiny", "--device", "cpu", "--precision", "fp32", "--tile", "0", "--batch", "1",
        "--threads", "1", "-q"]
HR = (96, 128)
LR = (24, 32)


# ------------------------------------------------------------------------------------------ metrics


def test_psnr_known_values():
    a = np.zeros((8, 8, 3), np.float32)
    assert metrics.psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-5)  # mse 0.01 on the [0, 1] scale
    assert metrics.psnr(a, a) == metrics.PSNR_CAP
    b = a.copy()
    b[0, 0, 0] = 1.0  # one sample of 192 off by the peak: mse 1/192
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(192), abs=1e-9)


def test_psnr_is_the_lab_psnr():
    from edvr_cli.lab.metrics import calculate_psnr

    rng = np.random.default_rng(0)
    a, b = rng.random((20, 30, 3), dtype=np.float32), rng.random((20, 30, 3), dtype=np.float32)
    assert metrics.psnr(a, b) == pytest.approx(calculate_psnr(a * 255.0, b * 255.0), abs=1e-4)


def test_resampler_is_matlab_imresize():
    from edvr_cli.lab.imresize import imresize

    rng = np.random.default_rng(1)
    hr = rng.random((*HR, 3), dtype=np.float32)
    down = metrics.Resampler(HR, LR)(hr)
    assert down.shape == (*LR, 3)
    assert np.allclose(down, np.clip(imresize(hr, 0.25), 0, 1), atol=1e-5)
    lr = rng.random((*LR, 3), dtype=np.float32)
    assert np.allclose(metrics.Resampler(LR, HR)(lr), np.clip(imresize(lr, 4.0), 0, 1), atol=1e-5)


def hr_clip() -> list[np.ndarray]:
    """Two scenes of six frames each at 128x96: a smooth pan, then a moving checker (a cut at 6)."""
    return [scene(0, k, HR[1], HR[0]) for k in range(6)] + [scene(1, k, HR[1], HR[0]) for k in range(6)]


def lr_of(hr: list[np.ndarray]) -> list[np.ndarray]:
    down = metrics.Resampler(HR, LR)
    return [quantize8(down(f / np.float32(255))) for f in hr]


def test_the_true_high_res_is_more_consistent_than_bicubic():
    """The data-consistency of the frame an LR input was made from is the input's 8-bit rounding only."""
    down, up = metrics.Resampler(HR, LR), metrics.Resampler(LR, HR)
    hr = scene(2, 3, HR[1], HR[0]) / np.float32(255)
    lr = quantize8(down(hr)) / np.float32(255)
    truth = metrics.psnr(down(hr), lr)
    bicubic = metrics.psnr(down(up(lr)), lr)
    assert truth > 55  # rounding to 8 bits: about 10 log10(12 * 255^2) = 58.9 dB
    assert truth - bicubic > 10


def test_worst_block_finds_the_damaged_block():
    a = np.zeros((32, 40, 3), np.float32)
    b = a.copy()
    b[8:16, 16:24] = 0.5
    block = metrics.worst_block(a, b, 8)
    assert (block.x, block.y, block.size) == (16, 8, 8)
    assert block.psnr == pytest.approx(10 * math.log10(4), abs=1e-9)  # mse 0.25


def test_blocks_cover_the_edges_with_a_flush_last_block():
    values, ys, xs = metrics.block_mse(np.zeros((20, 12, 3)), np.ones((20, 12, 3)), 8)
    assert ys.tolist() == [0, 8, 12] and xs.tolist() == [0, 4]
    assert np.allclose(values, 1.0)
    assert metrics.block_edge(24, 32) == 8 and metrics.block_edge(1080, 1920) == 32 and metrics.block_edge(5, 4) == 4


def test_detail_of_a_flat_image_and_of_a_ramp():
    assert metrics.detail(np.full((10, 10, 3), 0.3, np.float32)) == 0.0
    ramp = np.repeat((np.arange(10, dtype=np.float32) * 0.01)[None, :, None], 6, axis=0).repeat(3, axis=2)
    assert metrics.detail(ramp) == pytest.approx(0.01 * 9 * 6 / 60, rel=1e-5)  # luma weights sum to 1


def test_flicker_ratio_is_one_for_the_same_change_and_four_for_twice_the_change():
    a = np.full((16, 16, 3), 0.5, np.float32)
    assert metrics.energy_ratio(metrics.diff_energy(a, a), metrics.diff_energy(a, a)) == 1.0
    ref = metrics.diff_energy(a, a + 0.1)
    out = metrics.diff_energy(a, a + 0.2)
    assert ref == pytest.approx(0.01, rel=1e-5)
    assert metrics.energy_ratio(out, ref) == pytest.approx(4.0, rel=1e-3)


# ---------------------------------------------------------------------------------------------- svg


def test_plot_points_are_bounded_and_lines_break_at_cuts():
    assert svg.buckets(5) == [(i, i + 1) for i in range(5)]
    spans = svg.buckets(5003)
    assert len(spans) <= svg.MAX_POINTS and spans[0][0] == 0 and spans[-1][1] == 5003
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert svg.reduce([3.0, 1.0, None, 5.0], [(0, 2), (2, 4)], "min") == [1.0, 5.0]
    assert svg.nice_ticks(0, 10, 5) == [0, 2, 4, 6, 8, 10]
    page = svg.plot([30.0] * 4 + [40.0] * 4, [28.0] * 8, [None, 1.0, 1.1, 1.0, None, 1.2, 1.3, 1.2], [4])
    assert page.startswith("<svg") and page.endswith("</svg>") and "nan" not in page.lower()
    assert page.count("<polyline") == 6  # three lines, each broken at the cut
    assert "cut 4" in page


# ----------------------------------------------------------------------------------------- the page


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        found = dict(attrs)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "img":
            self.images.append(found)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG: decoded by PyAV, and its IHDR read by hand (the two must agree)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    header = struct.unpack(">II", data[16:24])
    codec = av.CodecContext.create("png", "r")
    frames = codec.decode(av.Packet(data))
    assert len(frames) == 1
    assert (frames[0].width, frames[0].height) == header
    return header


def check_page(path: Path, data: dict) -> None:
    text = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    page.close()
    assert {"html", "svg", "table", "img", "style"} <= page.tags and "script" not in page.tags
    assert "http://" not in text and "https://" not in text
    assert page.urls and all(u.startswith("data:image/png;base64,") for u in page.urls)
    crops = sum(len(s["worst_crops"]) for s in data["per_shot"])
    assert len(page.images) == 2 * crops  # before and after of each crop
    for img in page.images:
        raw = base64.b64decode(str(img["src"]).split(",", 1)[1], validate=True)
        assert png_size(raw) == (int(str(img["width"])), int(str(img["height"])))
    sizes = {(c["width"], c["height"]) for s in data["per_shot"] for c in s["worst_crops"]}
    assert {(int(str(i["width"])), int(str(i["height"]))) for i in page.images} == sizes


def check_numbers(data: dict, frames: int, cuts: list[int]) -> None:
    assert data["format"] == "edvr-fidelity-report" and data["input"]["frames"] == frames
    assert data["shots"]["cuts"] == cuts and len(data["per_shot"]) == len(cuts) + 1
    bounds = [0, *cuts, frames]
    for shot, lo, hi in zip(data["per_shot"], bounds, bounds[1:], strict=False):
        assert (shot["first_frame"], shot["last_frame"], shot["frames"]) == (lo, hi - 1, hi - lo)
        assert shot["frame_pairs"] == hi - lo - 1
        for key in ("consistency_psnr", "detail_ratio", "flicker_ratio"):
            assert math.isfinite(shot[key]), key
        assert 1 <= len(shot["worst_crops"]) <= 3
        for crop in shot["worst_crops"]:
            assert lo <= crop["frame"] < hi and math.isfinite(crop["psnr"])
    per_frame = data["per_frame"]
    assert all(len(v) == frames for v in per_frame.values())
    assert [per_frame["flicker_ratio"][b] for b in bounds[:-1]] == [None] * (len(cuts) + 1)
    assert set(data["definitions"]) >= {"consistency_psnr", "bicubic_consistency_psnr", "gain_db", "detail_ratio",
                                         "flicker_ratio", "worst_crops"}


# ----------------------------------------------------------------------------- the command, no model run


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """An LR input made from known HR frames, that HR as a perfect output, and the bicubic upscale."""
    root = tmp_path_factory.mktemp("report")
    hr = hr_clip()
    lr = lr_of(hr)
    up = metrics.Resampler(LR, HR)
    bic = [quantize8(up(f / np.float32(255))) for f in lr]
    out = {}
    for name, frames in (("lr", lr), ("hr", hr), ("bic", bic), ("short", hr[:-2])):
        write_frames(root / name, frames)
        out[name] = root / name
    return out


def report(src: Path, dst: Path, base: Path, *extra: str) -> dict:
    assert main(["report", str(src), str(dst), "-o", str(base), "-q", *extra]) == 0
    return json.loads(base.with_name(base.name + ".json").read_text())


def test_the_true_high_res_output_gains_over_bicubic(folders, tmp_path):
    data = report(folders["lr"], folders["hr"], tmp_path / "r", "--model", "edvr-tiny")
    check_numbers(data, 12, [6])
    check_page(tmp_path / "r.html", data)
    assert data["model"] == {"name": "edvr-tiny", "task": "sr", "scale": 4, "known_from": "--model"}
    assert data["degradation"]["kind"] == "bicubic" and data["degradation"]["matches_training"] is True
    for shot in data["per_shot"]:
        assert shot["consistency_psnr"] > 55  # only the input's rounding to 8 bits differs
        assert shot["gain_db"] == pytest.approx(shot["consistency_psnr"] - shot["bicubic_consistency_psnr"], abs=2e-4)
        assert shot["detail_ratio"] >= 1  # at least as sharp as bicubic
        assert 0.5 < shot["flicker_ratio"] < 2
    # the ripple has detail bicubic cannot restore; on the smooth pan the bicubic round trip is almost the
    # identity and both re-degrade to the input within its rounding (the gain says little there)
    assert data["per_shot"][1]["gain_db"] > 10 and data["per_shot"][1]["detail_ratio"] > 1.05
    assert abs(data["per_shot"][0]["gain_db"]) < 5


def test_a_bicubic_output_gains_nothing_and_adds_no_flicker(folders, tmp_path):
    data = report(folders["lr"], folders["bic"], tmp_path / "r", "--model", "edvr-tiny")
    for shot in data["per_shot"]:
        assert abs(shot["gain_db"]) < 1.0  # the same frames, rounded to 8 bits
        assert shot["detail_ratio"] == pytest.approx(1.0, abs=0.02)
        assert shot["flicker_ratio"] == pytest.approx(1.0, abs=0.02)


def test_without_a_model_the_sizes_decide_and_x1_is_a_change_psnr(folders, tmp_path):
    data = report(folders["lr"], folders["hr"], tmp_path / "sr")
    assert data["model"]["known_from"] == "sizes" and data["model"]["scale"] == 4
    assert data["degradation"]["matches_training"] is None
    same = report(folders["lr"], folders["lr"], tmp_path / "x1")
    assert same["degradation"]["kind"] == "identity" and same["model"]["scale"] == 1
    s = same["summary"]
    assert s["consistency_psnr"] == metrics.PSNR_CAP and s["bicubic_consistency_psnr"] is None and s["gain_db"] is None
    assert s["flicker_ratio"] == 1.0 and s["detail_ratio"] == 1.0
    assert "Change PSNR" in same["definitions"]["consistency_psnr"]
    check_page(tmp_path / "x1.html", same)


def test_shots_from_a_file_or_off(folders, tmp_path):
    (tmp_path / "cuts.txt").write_text("# one cut\n0.16\n")  # frame 4 at 25 fps
    data = report(folders["lr"], folders["hr"], tmp_path / "f", "--shots", str(tmp_path / "cuts.txt"))
    assert data["shots"]["mode"] == "file"
    check_numbers(data, 12, [4])
    off = report(folders["lr"], folders["hr"], tmp_path / "o", "--shots", "off")
    check_numbers(off, 12, [])
    assert off["summary"]["frame_pairs"] == 11


def error_lines(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if line]


@pytest.mark.parametrize("case, words", [
    ("missing", "does not exist"),
    ("scale", "not the x4 of edvr-tiny"),
    ("count", "has 10 frames"),
    ("shots", "--shots: cannot read"),
])
def test_bad_inputs_are_one_error_line_and_write_nothing(folders, tmp_path, capfd, case, words):
    src, dst, extra = folders["lr"], folders["hr"], ["--model", "edvr-tiny"]
    if case == "missing":
        dst = tmp_path / "nowhere.mkv"
    elif case == "scale":
        dst = folders["lr"]
    elif case == "count":
        dst = folders["short"]
    else:
        extra += ["--shots", str(tmp_path / "no-such-cuts.txt")]
    assert main(["report", str(src), str(dst), "-o", str(tmp_path / "r"), "-q", *extra]) == 1
    lines = error_lines(capfd)
    assert len(lines) == 1 and lines[0].startswith("edvr: error: ") and words in lines[0], lines
    assert not list(tmp_path.glob("r.*"))


def test_an_existing_report_is_kept_without_overwrite(folders, tmp_path, capfd):
    (tmp_path / "r.html").write_text("mine")
    assert main(["report", str(folders["lr"]), str(folders["hr"]), "-o", str(tmp_path / "r"), "-q"]) == 1
    assert "already exists" in error_lines(capfd)[0]
    assert (tmp_path / "r.html").read_text() == "mine" and not (tmp_path / "r.json").exists()
    assert main(["report", str(folders["lr"]), str(folders["hr"]), "-o", str(tmp_path / "r.html"), "-q",
                 "--overwrite"]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>") and (tmp_path / "r.json").is_file()


def test_default_report_path_is_beside_the_output(folders, tmp_path):
    import shutil

    out = shutil.copytree(folders["hr"], tmp_path / "frames")
    assert main(["report", str(folders["lr"]), str(out), "-q"]) == 0
    assert (tmp_path / "frames.report.json").is_file() and (tmp_path / "frames.report.html").is_file()


@pytest.mark.parametrize("extra, words", [
    (["--size", "64x48"], "--size/--scale"),
    (["-"], "pipe"),
])
def test_report_option_refuses_before_the_run(folders, tmp_path, capfd, extra, words):
    out = tmp_path / "out.mkv"
    args = ["upscale", str(folders["lr"]), str(out), *TINY, "--report", str(tmp_path / "r")]
    if extra == ["-"]:
        args[2] = "-"
    else:
        args += extra
    assert main(args) == 1
    lines = error_lines(capfd)
    assert len(lines) == 1 and words in lines[0], lines
    assert not out.exists() and not list(tmp_path.glob("r.*"))


def test_report_option_refuses_an_existing_report_before_the_run(folders, tmp_path, capfd):
    (tmp_path / "r.json").write_text("{}")
    out = tmp_path / "out.mkv"
    assert main(["upscale", str(folders["lr"]), str(out), *TINY, "--report", str(tmp_path / "r")]) == 1
    assert "already exists" in error_lines(capfd)[0]
    assert not out.exists()


def test_a_report_failing_after_the_run_says_the_output_was_written(folders, tmp_path, capfd, monkeypatch):
    import edvr_cli.cli.report as report_cli
    from edvr_cli.errors import InputError

    def fails(*args, **kw):
        raise InputError("'out.mkv' has 3 frames, the input 8")

    monkeypatch.setattr(report_cli, "run_report", fails)
    out = tmp_path / "out.mkv"
    assert main(["upscale", str(folders["lr"]), str(out), *TINY, "--report", str(tmp_path / "r")]) == 1
    lines = error_lines(capfd)
    assert lines == [f"edvr: error: wrote '{out}', but its report failed: 'out.mkv' has 3 frames, the input 8"]
    assert out.is_file() and not list(tmp_path.glob("r.*"))


# --------------------------------------------------------------------------------------- a real run


@pytest.mark.slow
def test_upscale_with_report_and_the_report_command_agree(tmp_path):
    """A two-scene clip restored by the bundled model, with --report; `edvr report` of the same run (and of
    its frames as a PNG folder) gives the same numbers."""
    frames = [scene(0, k, 32, 24) for k in range(6)] + [scene(2, k, 32, 24) for k in range(6)]
    yuv = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv444p") for f in frames]
    src = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="yuv444p", width=32, height=24, yuv_frames=yuv)
    out = tmp_path / "out.mkv"
    assert main(["upscale", str(src), str(out), *TINY, "--codec", "ffv1", "--report", str(tmp_path / "run")]) == 0
    data = json.loads((tmp_path / "run.json").read_text())
    check_numbers(data, 12, [6])
    check_page(tmp_path / "run.html", data)
    assert data["model"]["name"] == "edvr-tiny" and data["output"]["width"] == 128
    assert math.isfinite(data["summary"]["gain_db"])
    again = report(src, out, tmp_path / "again")  # the model from the output's provenance
    assert again["model"]["known_from"] == "provenance"
    assert again["per_shot"] == data["per_shot"] and again["summary"] == data["summary"]
    write_frames(tmp_path / "frames", iter_clip(out))
    pngs = report(src, tmp_path / "frames", tmp_path / "pngs", "--model", "edvr-tiny")
    for a, b in zip(pngs["per_shot"], data["per_shot"], strict=True):
        assert a["consistency_psnr"] == pytest.approx(b["consistency_psnr"], abs=0.5)  # 8-bit rounding only
        assert a["flicker_ratio"] == pytest.approx(b["flicker_ratio"], abs=0.05)


def test_a_failed_write_leaves_neither_report_file(tmp_path, monkeypatch):
    """The JSON and the page are both written before either is put in place: a full disk leaves nothing."""
    import errno
    import os as _os

    from edvr_cli.report.collect import Report
    from edvr_cli.report.files import write_report

    real_fsync = _os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the page's write
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    import edvr_cli.report.html as html_mod

    monkeypatch.setattr(_os, "fsync", fsync)
    monkeypatch.setattr(html_mod, "render", lambda report, name: "<html></html>")
    with pytest.raises(OSError):
        write_report(Report({"a": 1}, []), tmp_path / "r", overwrite=False, inputs=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == []
