"""Hostile inputs: mutated and crafted files end with a valid output or one clear error, never worse.

A mutation loop over small valid files (bit flips, byte and integer overwrites, truncations, cut,
doubled and inserted chunks, spliced headers, patched container fields, crafted headers claiming
absurd sizes or frame rates, empty files and streams). Every case runs the input side (``probe``,
``FrameReader``, the pipeline's frame checks); one in 25 of the cases that decode also runs the
whole ``edvr upscale`` command with the tiny golden model. Cases run in worker processes, each case
under an in-process time limit, the worker under a hard deadline, so a hang or a crash of the
interpreter is caught and the run goes on with the next case.

``EDVR_FUZZ_CASES`` (default 500; ``make fuzz`` runs 10,000), ``EDVR_FUZZ_SEED`` and
``EDVR_FUZZ_ONLY=<case>`` (rerun one case) steer it. Case ``i`` depends only on the seed and ``i``.
Run as a script, this file is the worker: ``python tests/e2e/test_fuzz.py worker SEEDS SCRATCH FIRST LAST``.
The loop is marked ``slow`` (``make test-fast`` leaves it out); its time limit grows with the number of cases.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

CASES = int(os.environ.get("EDVR_FUZZ_CASES", "500"))
SEED = int(os.environ.get("EDVR_FUZZ_SEED", "1729"))
ONLY = os.environ.get("EDVR_FUZZ_ONLY")
RESTORE_EVERY = 25  # of the cases that decode, those with index % 25 == 0 are restored end to end
CASE_SECONDS = 60  # in-process limit per case
DEADLINE_SECONDS = 180  # hard limit per case (and for a worker's start), enforced by killing the worker
MAX_DECODED = 120  # frames decoded per case on the input side
WORKER_MEMORY = 8 << 30  # address-space limit of a worker: a runaway allocation fails instead of swapping

INTERESTING8 = (0x00, 0x01, 0x7F, 0x80, 0xFF)
INTERESTING32 = (0, 1, 2, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 100000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
ABSURD_SIDES = (0, 1, 3, 17, 8193, 9000, 65535, 100000, 2**31 - 1)
ABSURD_RATES = ("25:1", "0:0", "0:1", "1:0", "1000000:1", "1:1000000", "2147483647:1", "-25:1")


# -- seeds ------------------------------------------------------------------------------------------------

def make_seeds(folder: Path) -> list[Path]:
    """Small valid inputs of many containers and codecs (a second or so to write them all)."""
    import av

    from clips import has_encoder, make_clip, write_image_folder

    folder.mkdir(parents=True, exist_ok=True)
    seeds = [
        make_clip(folder / "h264.mp4", width=32, height=24, frames=6),
        make_clip(folder / "h264_streams.mkv", width=32, height=24, frames=5, audio=True,
                  subtitles=[(0, 100, "hi"), (120, 60, "there")]),
        make_clip(folder / "mpeg4.avi", codec="mpeg4", width=32, height=24, frames=5),
        make_clip(folder / "mjpeg.mov", codec="mjpeg", pix_fmt="yuvj420p", width=32, height=24, frames=4),
        make_clip(folder / "mpeg2.ts", codec="mpeg2video", width=32, height=24, frames=5),
        make_clip(folder / "raw.y4m", codec="rawvideo", width=16, height=16, frames=3),
        make_clip(folder / "ffv1.nut", codec="ffv1", width=16, height=16, frames=3),
        make_clip(folder / "flv1.flv", codec="flv1", width=32, height=24, frames=4),
        make_clip(folder / "vfr.mkv", width=16, height=16, frames=6, pts=[0, 40, 41, 200, 201, 500]),
    ]
    if has_encoder("libvpx-vp9"):
        seeds.append(make_clip(folder / "vp9.webm", codec="libvpx-vp9", width=16, height=16, frames=3))
    if has_encoder("libx265"):
        seeds.append(make_clip(folder / "hevc.mp4", codec="libx265", width=32, height=24, frames=3))
    gif = folder / "anim.gif"
    with av.open(str(gif), "w") as out:
        stream = out.add_stream("gif", rate=10, width=16, height=16)
        stream.pix_fmt = "rgb8"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 40 * i, np.uint8), format="rgb24")
            out.mux(stream.encode(frame.reformat(format="rgb8")))
        out.mux(stream.encode(None))
    seeds.append(gif)
    still = write_image_folder(folder / "png", ["a.png"], width=16, height=16) / "a.png"
    seeds.append(still.rename(folder / "still.png"))
    (folder / "png").rmdir()
    empty = folder / "no_frames.mp4"  # a video stream with no packets
    with av.open(str(empty), "w") as out:
        out.add_stream("libx264", rate=25, width=16, height=16)
        out.start_encoding()
    seeds.append(empty)
    audio_only = folder / "audio_only.mka"
    make_clip(folder / "tmp_audio.mkv", width=16, height=16, frames=2, audio=True)
    with av.open(str(folder / "tmp_audio.mkv")) as src, av.open(str(audio_only), "w", format="matroska") as out:
        a = out.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.size:
                packet.stream = a
                out.mux(packet)
    (folder / "tmp_audio.mkv").unlink()
    seeds.append(audio_only)
    return sorted(seeds)


# -- mutations --------------------------------------------------------------------------------------------

def _span(rng: random.Random, size: int) -> tuple[int, int]:
    start = rng.randrange(size)
    return start, min(size, start + rng.choice((1, 4, 16, 64, 256, 1024)))


def _patch_box_field(rng: random.Random, data: bytearray, box: bytes, offset: int, width: int) -> str | None:
    """Overwrite a field ``offset`` bytes after an MP4 box type (big endian)."""
    at = data.find(box)
    if at < 0 or at + offset + width > len(data):
        return None
    value = rng.choice(INTERESTING32) & ((1 << (8 * width)) - 1)
    data[at + offset:at + offset + width] = value.to_bytes(width, "big")
    return f"{box.decode()}+{offset}={value}"


def crafted_y4m(rng: random.Random) -> bytes:
    w, h = rng.choice(ABSURD_SIDES), rng.choice(ABSURD_SIDES)
    header = f"YUV4MPEG2 W{w} H{h} F{rng.choice(ABSURD_RATES)} Ip A1:1 C420jpeg\n".encode()
    size = w * h * 3 // 2
    payload = bytes(size) if 0 < size <= 1 << 16 else rng.randbytes(rng.choice((0, 10, 5000)))
    return header + b"".join(b"FRAME\n" + payload for _ in range(rng.choice((1, 2))))


def crafted_png(rng: random.Random) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    w, h = rng.choice(ABSURD_SIDES), rng.choice(ABSURD_SIDES)
    raw = b"".join(b"\x00" + bytes(3 * min(w, 64)) for _ in range(min(h, 64)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def mutate(rng: random.Random, seeds: list[Path]) -> tuple[str, bytes, str]:
    """(extension, bytes, what was done) for one case."""
    seed = rng.choice(seeds)
    ext = seed.suffix
    kind = rng.choices(
        ("bitflip", "bytes", "ints", "truncate", "cut", "dup", "insert", "splice", "fields", "header",
         "y4m", "png", "zero"),
        weights=(20, 10, 14, 12, 6, 6, 5, 8, 8, 3, 5, 2, 1),
    )[0]
    if kind == "y4m":
        return ".y4m", crafted_y4m(rng), "crafted y4m header"
    if kind == "png":
        return rng.choice((".png", ".mp4")), crafted_png(rng), "crafted png header"
    if kind == "zero":
        return ext, b"", "zero-length file"
    data = bytearray(seed.read_bytes())
    what = [f"{seed.name}: {kind}"]
    for _ in range(1 + (rng.random() < 0.3)):
        size = len(data)
        if size == 0:
            break
        if kind == "bitflip":
            for _ in range(rng.choice((1, 2, 4, 8, 16))):
                data[rng.randrange(size)] ^= 1 << rng.randrange(8)
        elif kind == "bytes":
            for _ in range(rng.choice((1, 2, 4, 8))):
                data[rng.randrange(size)] = rng.choice(INTERESTING8)
        elif kind == "ints":
            width = rng.choice((2, 4))
            at = rng.randrange(max(1, size - width))
            value = rng.choice(INTERESTING32) & ((1 << (8 * width)) - 1)
            data[at:at + width] = value.to_bytes(width, rng.choice(("big", "little")))
        elif kind == "truncate":
            del data[rng.randrange(size):]
        elif kind == "cut":
            a, b = _span(rng, size)
            del data[a:b]
        elif kind == "dup":
            a, b = _span(rng, size)
            data[b:b] = data[a:b]
        elif kind == "insert":
            at = rng.randrange(size)
            data[at:at] = rng.randbytes(rng.choice((1, 7, 64, 512)))
        elif kind == "splice":  # one file's head on another's tail
            other = rng.choice(seeds).read_bytes()
            cut = rng.randrange(1, max(2, min(size, 2048)))
            data = bytearray(data[:cut] + other[rng.randrange(max(1, len(other))):])
            what.append(f"+{rng.choice(seeds).name}")
        elif kind == "fields":  # MP4 fields: sizes, time scale, sample timing
            done = [_patch_box_field(rng, data, *spec) for spec in rng.sample([
                (b"tkhd", 80, 4), (b"tkhd", 84, 4), (b"avc1", 28, 2), (b"avc1", 30, 2), (b"mdhd", 16, 4),
                (b"stts", 16, 4), (b"stsz", 16, 4), (b"mvhd", 16, 4), (b"elst", 12, 4), (b"hvc1", 28, 2),
            ], rng.choice((1, 2)))]
            if not any(done):
                data[rng.randrange(size)] ^= 0xFF
            what += [d for d in done if d]
        elif kind == "header":
            del data[rng.choice((8, 16, 32, 64, 128, 256)):]
    if rng.random() < 0.05:
        ext = rng.choice((".mp4", ".mkv", ".avi", ".mov", ".ts", ".webm"))
    return ext, bytes(data), " ".join(what)


# -- one case (in a worker) --------------------------------------------------------------------------------

class CaseTimeout(BaseException):
    """The case ran past its in-process time limit (a BaseException: nothing on the way catches it)."""


def _alarm(signum, frame):
    raise CaseTimeout


def input_side(path: Path) -> tuple[int, object]:
    """probe + decode + the pipeline's checks; (frames decoded, info). EDVRError on a refused input."""
    from edvr_cli.jobs.limits import check_frame, check_frame_size
    from edvr_cli.video import FrameReader, probe

    info = probe(path)
    check_frame_size(info.width, info.height, 4)
    n = 0
    with FrameReader(path, info, on_warning=lambda m: None) as reader:
        for frame in reader:
            check_frame(frame.index, frame.rgb, info)
            rgb = frame.rgb
            if rgb.dtype != np.float32 or rgb.shape != (info.height, info.width, 3):
                raise AssertionError(f"frame {frame.index}: {rgb.dtype} {rgb.shape}")
            if not np.isfinite(rgb).all() or rgb.min() < 0 or rgb.max() > 1:
                raise AssertionError(f"frame {frame.index}: values outside [0, 1]")
            n += 1
            if n >= MAX_DECODED:
                break
    return n, info


def restore_cli(path: Path, out_dir: Path, resume: bool) -> tuple[str, str]:
    """The whole `edvr upscale` command in this process: ('restored' | 'clear error' | 'traceback', detail)."""
    from clips import frame_times
    from edvr_cli.cli import main
    from conftest import GOLDEN

    out = out_dir / "out.mkv"
    args = ["upscale", str(path), str(out), "--model", str(GOLDEN / "basicsr_sr_tsa.pth"), "--device", "cpu",
            "--precision", "fp32", "--tile", "0", "-q", "-y", "--resume" if resume else "--no-resume"]
    if resume:
        args += ["--segment-frames", "3"]
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        if resume:  # three-frame segments: joining them is fuzzed too
            from edvr_cli.jobs import segplan

            tail = segplan.SHORTEST_TAIL
            segplan.SHORTEST_TAIL = 3
            stack.callback(setattr, segplan, "SHORTEST_TAIL", tail)
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(err))
        rc = main(args)
    lines = [line for line in err.getvalue().splitlines() if line.strip() and "warning:" not in line]
    if rc == 0 and out.exists():
        n = len(frame_times(out))
        return ("restored", f"{n} frames") if n > 0 else ("traceback", "an output without frames")
    if rc == 1 and len(lines) == 1 and lines[0].startswith("edvr: error:"):
        leftovers = [p.name for p in out_dir.iterdir()]
        if "finished frames are kept in" in lines[0]:  # a resumable run keeps its finished segments
            leftovers = [name for name in leftovers if not name.endswith(".edvr-work")]
        if leftovers:
            return "traceback", f"partial output left: {leftovers}"
        return "clear error", lines[0][len("edvr: error: "):]
    return "traceback", f"rc={rc}: {err.getvalue()[-600:]}"


def run_case(index: int, seeds: list[Path], scratch: Path) -> dict:
    from edvr_cli.errors import EDVRError

    rng = random.Random(f"{SEED}:{index}")
    ext, data, what = mutate(rng, seeds)
    case_dir = scratch / f"case{index}"
    case_dir.mkdir(parents=True, exist_ok=True)
    path = case_dir / f"input{ext}"
    path.write_bytes(data)
    out_dir = case_dir / "out"
    out_dir.mkdir()
    result = {"case": index, "what": what, "ext": ext, "size": len(data)}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        frames, info = input_side(path)
        if frames == 0:
            raise EDVRError("no frame could be decoded")  # what the pipeline says
        small = frames <= 24 and info.width * info.height <= 64 * 64
        if index % RESTORE_EVERY == 0 and small:
            result["outcome"], result["detail"] = restore_cli(path, out_dir, resume=index % 50 == 0)
        else:
            result["outcome"], result["detail"] = "decoded", f"{frames} frames {info.width}x{info.height}"
    except CaseTimeout:
        result["outcome"], result["detail"] = "hang", f"over {CASE_SECONDS} s"
    except EDVRError as exc:
        text = str(exc)
        ok = text and "\n" not in text
        result["outcome"], result["detail"] = ("clear error" if ok else "traceback"), text[:300]
    except BaseException as exc:  # noqa: BLE001 - any other escape is what the fuzzer looks for
        result["outcome"] = "traceback"
        result["detail"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-1500:]
    finally:
        signal.alarm(0)
    if result["outcome"] in ("clear error", "decoded", "restored"):
        _rmtree(case_dir)
    return result


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def worker(seeds_dir: str, scratch: str, first: int, last: int) -> None:
    """Run cases ``first..last-1``, one JSON line before and after each on stdout."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > WORKER_MEMORY:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, hard))
    seeds = sorted(Path(seeds_dir).iterdir())
    report = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr  # nothing else may write into the report
    print(json.dumps({"ready": True}), file=report)
    for index in range(first, last):
        print(json.dumps({"start": index}), file=report)
        print(json.dumps(run_case(index, seeds, Path(scratch))), file=report)


# -- the parent: runs workers, survives their deaths ---------------------------------------------------------

def run_cases(indices: list[int], seeds_dir: Path, scratch: Path, log: Path) -> list[dict]:
    """Every case's result; a worker that dies or stalls is replaced, its current case marked."""
    results: dict[int, dict] = {}
    todo = list(indices)
    while todo:
        first, last = todo[0], todo[-1] + 1
        with open(log, "a") as err:
            proc = subprocess.Popen(
                [sys.executable, __file__, "worker", str(seeds_dir), str(scratch), str(first), str(last)],
                stdout=subprocess.PIPE, stderr=err, text=True,
            )
        current: int | None = None
        deadline = time.monotonic() + DEADLINE_SECONDS
        try:
            while True:
                ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    proc.kill()
                    proc.wait()
                    stuck = current if current is not None else todo[0]
                    results[stuck] = {"case": stuck, "outcome": "hang",
                                      "detail": f"no answer within {DEADLINE_SECONDS} s (worker killed)"}
                    break
                line = proc.stdout.readline()
                if not line:
                    rc = proc.wait()
                    if current is not None:
                        results[current] = {"case": current, "outcome": "crash",
                                            "detail": f"the worker died (exit status {rc}) in this case"}
                    elif not results and rc != 0:
                        raise RuntimeError(f"the fuzz worker could not start (exit status {rc}); see {log}")
                    break
                message = json.loads(line)
                deadline = time.monotonic() + DEADLINE_SECONDS
                if "start" in message:
                    current = message["start"]
                elif "case" in message:
                    results[message["case"]] = message
                    current = None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        todo = [i for i in todo if i not in results]
    return [results[i] for i in indices]


def summary(results: list[dict]) -> str:
    counts = Counter(r["outcome"] for r in results)
    return (f"fuzz: {len(results)} cases: {counts['restored']} restored, {counts['decoded']} decoded "
            f"(input side only), {counts['clear error']} clear errors, {counts['traceback']} tracebacks, "
            f"{counts['hang']} hangs, {counts['crash']} crashes")


@pytest.mark.slow
@pytest.mark.timeout(300 + CASES // 4)  # make fuzz runs 10,000 cases
def test_fuzz_hostile_inputs(tmp_path, capsys):
    seeds_dir = make_seeds(tmp_path / "seeds")[0].parent
    scratch = tmp_path / "cases"
    indices = [int(ONLY)] if ONLY else list(range(CASES))
    start = time.monotonic()
    results = run_cases(indices, seeds_dir, scratch, tmp_path / "workers.log")
    bad = [r for r in results if r["outcome"] not in ("restored", "decoded", "clear error")]
    kept = tmp_path / "failures"
    for r in bad:
        inputs = list((scratch / f"case{r['case']}").glob("input*"))
        if inputs:
            kept.mkdir(exist_ok=True)
            inputs[0].rename(kept / f"case{r['case']}{inputs[0].suffix}")
    line = summary(results)
    with capsys.disabled():
        print(f"\n{line} in {time.monotonic() - start:.0f} s (seed {SEED})")
        kinds = Counter(r.get("what", "?").split(": ")[-1].split()[0] for r in results)
        print("fuzz: mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        errors = Counter(_gist(r["detail"]) for r in results if r["outcome"] == "clear error")
        print("fuzz: most frequent errors: " + "; ".join(f"{n} x {e}" for e, n in errors.most_common(6)))
    details = "\n".join(f"case {r['case']} ({r.get('what', '?')}): {r['outcome']}: {r['detail']}" for r in bad[:10])
    assert not bad, f"{line}\nrerun one with EDVR_FUZZ_ONLY=<case>; inputs kept in {kept}\n{details}"
    assert len(results) == len(indices)


def _gist(message: str) -> str:
    """An error message without the file names and numbers that make each one different."""
    import re

    return re.sub(r"'[^']*'|\d+", "_", message)[:90]


# -- the guards on their own --------------------------------------------------------------------------------

def test_frame_size_guards():
    from edvr_cli.errors import FrameSizeError
    from edvr_cli.jobs.limits import MAX_INPUT_PIXELS, check_frame_size, effective_tile, queue_depth

    check_frame_size(3840, 2160, 4)  # 4K upscaled to 16K: allowed (tiled)
    check_frame_size(7680, 4320, 1)  # 8K deblurred: allowed
    for w, h, s in [(7680, 4320, 4), (100000, 100000, 1), (9000, 16, 1), (0, 10, 1), (5000, 8000, 1)]:
        with pytest.raises(FrameSizeError, match="edvr|cannot be restored"):
            check_frame_size(w, h, s)
    assert 7680 * 4320 <= MAX_INPUT_PIXELS
    assert effective_tile(0, 3840, 2160) == 0 and effective_tile(0, 7680, 4320) is None
    assert effective_tile(256, 7680, 4320) == 256 and effective_tile(None, 64, 64) is None
    assert queue_depth(100) == 8 and queue_depth(15360 * 8640 * 6) == 1


def test_crafted_huge_header_is_refused_before_any_work(tmp_path, capfd):
    from conftest import GOLDEN
    from edvr_cli.cli import main

    huge = tmp_path / "huge.y4m"
    huge.write_bytes(b"YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(1000))
    wide = tmp_path / "wide.y4m"  # FFmpeg decodes it; edvr refuses its size
    wide.write_bytes(b"YUV4MPEG2 W9000 H2 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(9000 * 3))
    for src, words in ((huge, "header is not valid: frame size 100000x100000 is larger than FFmpeg can read"),
                       (wide, "larger than edvr restores")):
        rc = main(["upscale", str(src), str(tmp_path / "out.mp4"), "--model", str(GOLDEN / "basicsr_sr_tsa.pth"),
                   "--device", "cpu", "-q"])
        err = capfd.readouterr().err
        import re

        assert rc == 1 and err.count("\n") == 1 and re.search(words, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.y4m", "wide.y4m"]


def test_found_by_fuzzing_one_frame_hevc(tmp_path):
    """x265 leaves the dts of a one- or two-frame stream uninitialised: the writer must not pass it on."""
    from clips import has_encoder, make_clip
    from conftest import GOLDEN
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.settings import RestoreSettings

    if not has_encoder("libx265"):
        pytest.skip("no libx265 encoder in this FFmpeg build")
    src = make_clip(tmp_path / "in.mkv", width=16, height=16, frames=1)
    settings = RestoreSettings(model=str(GOLDEN / "basicsr_sr_tsa.pth"), device="cpu", precision="fp32", tile=0,
                               quiet=True, codec="hevc", overwrite=True, resume=False)
    for _ in range(4):  # the garbage made most attempts fail
        assert restore_video(src, tmp_path / "out.mkv", settings).frames == 1


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "worker":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the helpers (clips, conftest)
    worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
