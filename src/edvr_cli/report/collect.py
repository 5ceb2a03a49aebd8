"""Reading an input and its restored output together, frame by frame, into the report's numbers.

One pass over both (memory stays flat: two frames of each, the previous pair, a few small crops per
shot and a handful of numbers per frame). Frame ``i`` of the output is compared with frame ``i`` of the
input as the run read it: the same ``--start``/``--end`` and ``--deinterlace`` (a span's output starts
at the span's first frame); both must have the same number of frames.

Shots are the run's: ``auto`` finds cuts on the input's frames with the very detector the run pads at
(:class:`~edvr_cli.video.shots.CutDetector`, a cut is known one frame later), ``FILE`` places the cut
times on the input's frames as ``--shots FILE`` does (the first frame at or after each time), ``off``
is one shot. Flicker never pairs frames across a cut.
"""

from __future__ import annotations

import bisect
import heapq
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edvr_cli.errors import FrameSizeError, InputError, UsageError, WarningCallback
from edvr_cli.report import metrics
from edvr_cli.report.degradation import Degradation, ModelFacts, degradation_for

#: Worst crops kept per shot.
CROPS_PER_SHOT = 3
#: Scales an output may have when no model says which (the sizes decide).
GUESSED_SCALES = (1, 2, 3, 4)

REPORT_FORMAT = "edvr-fidelity-report"
REPORT_VERSION = 1


@dataclass
class ReportOptions:
    """What ``edvr report`` (and ``--report``) is told.

    Args:
        model: the model that made the output (name or file); None: the output's provenance, else the sizes.
        shots: ``auto``, ``off`` or a file of cut times, as ``--shots``.
        start, end: the span the run restored (as ``--start``/``--end``); the input is read over it.
        deinterlace: as the run's ``--deinterlace`` (the input is read as the run read it).
        crops: worst crops shown per shot.
        hf_repo: a Hugging Face mirror (only consulted for names it has; nothing is downloaded).
    """

    model: str | None = None
    shots: str = "auto"
    start: str | None = None
    end: str | None = None
    deinterlace: str = "auto"
    crops: int = CROPS_PER_SHOT
    hf_repo: str | None = None


@dataclass
class Crop:
    """One worst block: where (output pixels), its local PSNRs, and the two images (uint8 RGB)."""

    frame: int
    x: int
    y: int
    width: int
    height: int
    psnr: float
    bicubic_psnr: float | None
    before: np.ndarray = field(repr=False)
    after: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "x": self.x, "y": self.y, "width": self.width, "height": self.height,
                "psnr": _round(self.psnr), "bicubic_psnr": _round(self.bicubic_psnr)}


@dataclass
class Report:
    """The report: ``data`` (what the JSON holds) and, per shot, its worst crops with their images."""

    data: dict[str, Any]
    crops: list[list[Crop]]


# ---------------------------------------------------------------------------------------------- shots


class _ShotTracker:
    """Says which frames start a shot, as frames arrive; ``final`` = frames whose shot is known."""

    def __init__(self, mode: str, cut_times: list[Fraction] | None = None) -> None:
        from edvr_cli.video.shots import CutDetector

        self.mode = mode
        self.cuts: list[int] = []
        self.final = -1
        self._times = sorted(cut_times or [])
        self._k = 0
        self._detector = CutDetector() if mode == "auto" else None

    def push(self, index: int, image: Any, seconds: Fraction) -> None:
        if self._detector is not None:
            self.cuts += self._detector.push(image)
            self.final = index - 1  # a frame's cut is decided when the next one arrives
            return
        while self._k < len(self._times) and self._times[self._k] <= seconds:
            if index > 0 and (not self.cuts or self.cuts[-1] != index):
                self.cuts.append(index)
            self._k += 1
        self.final = index

    def finish(self, last: int) -> None:
        if self._detector is not None:
            self.cuts += self._detector.finish()
        self.final = last

    def shot_of(self, index: int) -> int:
        return bisect.bisect_right(self.cuts, index)


def _shot_tracker(shots: str) -> tuple[_ShotTracker, str | None]:
    """The tracker of ``--shots``; for a file its name too (errors as ``--shots`` gives them)."""
    from edvr_cli.video.shots import SHOT_MODES, shots_file

    if shots in SHOT_MODES:
        return _ShotTracker(shots), None
    path, times = shots_file(shots)
    return _ShotTracker("file", times), str(path)


# -------------------------------------------------------------------------------------------- crops


class _CropKeeper:
    """The ``n`` worst blocks of each shot, one per block position (a spot that stays bad over many
    frames is shown once, at its worst)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pending: list[Crop] = []
        self.kept: dict[int, list[tuple[float, int, Crop]]] = {}  # shot -> heap of (-psnr, tie, crop)
        self._tie = 0

    def offer(self, crop: Crop) -> None:
        if self.n > 0:
            self.pending.append(crop)

    def settle(self, tracker: _ShotTracker) -> None:
        """File the pending crops whose shot is known."""
        keep = []
        for crop in self.pending:
            if crop.frame <= tracker.final:
                self._file(tracker.shot_of(crop.frame), crop)
            else:
                keep.append(crop)
        self.pending = keep

    def _file(self, shot: int, crop: Crop) -> None:
        heap = self.kept.setdefault(shot, [])
        for k, (_, _, old) in enumerate(heap):
            if (old.x, old.y) == (crop.x, crop.y):
                if crop.psnr < old.psnr:
                    heap[k] = (-crop.psnr, self._next(), crop)
                    heapq.heapify(heap)
                return
        item = (-crop.psnr, self._next(), crop)
        if len(heap) < self.n:
            heapq.heappush(heap, item)
        elif crop.psnr < -heap[0][0]:  # heap[0] holds the best (highest PSNR) of the kept
            heapq.heapreplace(heap, item)

    def _next(self) -> int:
        self._tie += 1
        return self._tie

    def of_shot(self, shot: int) -> list[Crop]:
        return sorted((c for _, _, c in self.kept.get(shot, [])), key=lambda c: (c.psnr, c.frame))


# ------------------------------------------------------------------------------------------ reading


def _input_seconds(reader: Any, frame: Any) -> Fraction:
    """Seconds from the input's first frame (how ``--start`` and ``--shots FILE`` count)."""
    shift = reader.shift if reader.shift is not None else Fraction(0)
    return Fraction(frame.time) + shift - reader.info.origin


def _scale_of(in_hw: tuple[int, int], out_hw: tuple[int, int], model: ModelFacts, names: tuple[str, str]) -> int:
    """The output's scale, checked against the model's (or guessed from the sizes when no model is known)."""
    (ih, iw), (oh, ow) = in_hw, out_hw
    shown = f"'{names[1]}' is {ow}x{oh} and '{names[0]}' {iw}x{ih}"
    if model.scale is not None:
        s = model.scale
        if (oh, ow) != (ih * s, iw * s):
            raise FrameSizeError(f"{shown}: not the x{s} of {model.name} (was the output resized with --size or "
                                 "--scale, or made by another model? pass it with --model)")
        return s
    for s in GUESSED_SCALES:
        if (oh, ow) == (ih * s, iw * s):
            return s
    raise FrameSizeError(f"{shown}: the output is not a x1, x2, x3 or x4 of the input (was it resized with "
                         "--size or --scale?)")


def _crop_images(ref: np.ndarray, out: np.ndarray, block: metrics.Block, scale: int) -> tuple[np.ndarray, ...]:
    from edvr_cli.video.images import quantize8

    x, y, e = block.x * scale, block.y * scale, block.size * scale
    return quantize8(ref[y : y + e, x : x + e]), quantize8(out[y : y + e, x : x + e])


def collect(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    options: ReportOptions | None = None,
    *,
    model: ModelFacts | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    on_warning: WarningCallback | None = None,
) -> Report:
    """Measure ``output_path`` (what a model made of ``input_path``), shot by shot.

    Args:
        input_path: the video file or image folder the run restored.
        output_path: its output: a video file or a folder of frames.
        options: the report's options (the run's model, shots, span and deinterlacing).
        model: what is known of the model (else worked out from ``options.model``, the output's
            provenance, or the frame sizes).
        on_progress: called as ``(frames_done, frames_total_or_None)``.
        on_warning: called with the readers' warnings.

    Raises:
        InputError: a path that cannot be read, frame counts that differ, no frames.
        FrameSizeError: sizes that are not the model's scale.
        UsageError: an unreadable ``--shots`` file.
    """
    from edvr_cli.video.pipes import is_stdin
    from edvr_cli.video.reader import FrameReader

    options = options or ReportOptions()
    src, dst = Path(input_path), Path(output_path)
    for p, what in ((src, "INPUT"), (dst, "OUTPUT")):
        if is_stdin(p):
            raise UsageError(f"the report reads files: {what} cannot be a pipe ('-')")
        if not p.exists():
            raise InputError(f"{what} '{p}' does not exist")
    if model is None:
        model = _model_facts(options, dst)
    tracker, shots_file = _shot_tracker(options.shots)
    keeper = _CropKeeper(options.crops)
    names = (src.name, dst.name)
    rows: dict[str, list] = {k: [] for k in ("time", "psnr", "bicubic_psnr", "detail", "bicubic_detail",
                                              "energy", "bicubic_energy")}
    scale = edge = 0
    in_hw = out_hw = (0, 0)
    down = up = None
    prev: tuple[np.ndarray, np.ndarray] | None = None
    count = 0
    with FrameReader(src, on_warning=on_warning, deinterlace=options.deinterlace, start=options.start,
                     end=options.end) as inputs, FrameReader(dst, on_warning=on_warning, deinterlace="off") as outputs:
        total = inputs.num_frames
        out_iter = iter(outputs)
        for fin in inputs:
            fout = next(out_iter, None)
            if fout is None:
                raise InputError(f"'{names[1]}' has {count} frames but '{names[0]}' more; if the output is a span "
                                 "of the input, pass the run's --start and --end")
            inp, out = fin.rgb, fout.rgb
            if scale == 0:
                scale = _scale_of(inp.shape[:2], out.shape[:2], model, names)
                if scale > 1:
                    down = metrics.Resampler(out.shape[:2], inp.shape[:2])
                    up = metrics.Resampler(inp.shape[:2], out.shape[:2])
                edge = metrics.block_edge(*inp.shape[:2])
            elif inp.shape[:2] != in_hw or out.shape[:2] != out_hw:
                raise FrameSizeError(f"frame {count} changes size; the report needs one frame size")
            in_hw, out_hw = inp.shape[:2], out.shape[:2]
            ref = up(inp) if up is not None else inp
            back = down(out) if down is not None else out
            seconds = _input_seconds(inputs, fin)
            rows["time"].append(float(seconds))
            rows["psnr"].append(metrics.psnr(back, inp))
            ref_back = down(ref) if down is not None else None
            rows["bicubic_psnr"].append(metrics.psnr(ref_back, inp) if ref_back is not None else None)
            rows["detail"].append(metrics.detail(out))
            rows["bicubic_detail"].append(metrics.detail(ref))
            if prev is None:
                rows["energy"].append(None)
                rows["bicubic_energy"].append(None)
            else:
                rows["energy"].append(metrics.diff_energy(prev[1], out))
                rows["bicubic_energy"].append(metrics.diff_energy(prev[0], ref))
            prev = (ref, out)
            block = metrics.worst_block(back, inp, edge)
            local_ref = None
            if ref_back is not None:
                sl = np.s_[block.y : block.y + edge, block.x : block.x + edge]
                local_ref = metrics.psnr(ref_back[sl], inp[sl])
            before, after = _crop_images(ref, out, block, scale)
            keeper.offer(Crop(count, block.x * scale, block.y * scale, edge * scale, edge * scale, block.psnr,
                              local_ref, before, after))
            tracker.push(count, fin.image, seconds)
            keeper.settle(tracker)
            count += 1
            if on_progress is not None:
                on_progress(count, total)
        if count == 0:
            raise InputError(f"'{names[0]}' has no frames" + (" in the span" if options.start or options.end else ""))
        if next(out_iter, None) is not None:
            raise InputError(f"'{names[1]}' has more frames than the {count} of '{names[0]}'; if the output is a "
                             "span of the input, pass the run's --start and --end")
        fps = inputs.fps
    tracker.finish(count - 1)
    keeper.settle(tracker)
    degradation = degradation_for(model, scale)
    facts = ModelFacts(model.name, model.task, scale, model.source)
    data = _summarise(rows, tracker, keeper, degradation, facts, shots_file, options,
                      {"path": str(src), "width": in_hw[1], "height": in_hw[0], "frames": count,
                       "fps": float(fps) if fps else None},
                      {"path": str(dst), "width": out_hw[1], "height": out_hw[0], "frames": count})
    return Report(data, [keeper.of_shot(k) for k in range(len(tracker.cuts) + 1)])


def _model_facts(options: ReportOptions, output: Path) -> ModelFacts:
    from edvr_cli.report.degradation import facts_from_provenance, facts_of

    if options.model is not None:
        return facts_of(options.model, hf_repo=options.hf_repo)
    return facts_from_provenance(output) or ModelFacts(None, None, None, "sizes")


# -------------------------------------------------------------------------------------------- numbers


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _aggregate(rows: dict[str, list], lo: int, hi: int, starts: set[int]) -> dict[str, Any]:
    """The measures of frames ``lo .. hi - 1``; frame pairs across a cut (a frame in ``starts``) are left out."""
    psnr = _mean(rows["psnr"][lo:hi])
    base = _mean(rows["bicubic_psnr"][lo:hi])
    pairs = [(rows["energy"][i], rows["bicubic_energy"][i]) for i in range(lo, hi)
             if rows["energy"][i] is not None and i not in starts]
    flicker = metrics.energy_ratio(sum(p[0] for p in pairs), sum(p[1] for p in pairs), len(pairs)) if pairs else None
    return {
        "consistency_psnr": _round(psnr),
        "bicubic_consistency_psnr": _round(base),
        "gain_db": _round(psnr - base) if psnr is not None and base is not None else None,
        "detail_ratio": _round(metrics.ratio(sum(rows["detail"][lo:hi]), sum(rows["bicubic_detail"][lo:hi]))),
        "flicker_ratio": _round(flicker),
        "frame_pairs": len(pairs),
    }


def _summarise(rows: dict[str, list], tracker: _ShotTracker, keeper: _CropKeeper, degradation: Degradation,
               model: ModelFacts, shots_file: str | None, options: ReportOptions, input_info: dict[str, Any],
               output_info: dict[str, Any]) -> dict[str, Any]:
    from edvr_cli import __version__
    from edvr_cli.report.definitions import definitions

    n = len(rows["psnr"])
    cuts = list(tracker.cuts)
    starts = set(cuts)
    bounds = [0, *cuts, n]
    shots = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1]
        shot: dict[str, Any] = {"index": k, "first_frame": lo, "last_frame": hi - 1, "frames": hi - lo,
                "start_seconds": _round(rows["time"][lo], 6), "end_seconds": _round(rows["time"][hi - 1], 6)}
        shot.update(_aggregate(rows, lo, hi, starts))
        shot["worst_crops"] = [c.to_dict() for c in keeper.of_shot(k)]
        shots.append(shot)
    flicker = [None if rows["energy"][i] is None or i in starts
               else _round(metrics.energy_ratio(rows["energy"][i], rows["bicubic_energy"][i]))
               for i in range(n)]
    detail = [_round(metrics.ratio(a, b)) for a, b in zip(rows["detail"], rows["bicubic_detail"], strict=True)]
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "edvr": __version__,
        "input": input_info,
        "output": output_info,
        "span": {"start": options.start, "end": options.end} if options.start or options.end else None,
        "model": model.to_dict(),
        "degradation": degradation.to_dict(),
        "shots": {"mode": tracker.mode, "file": shots_file, "cuts": cuts, "count": len(shots)},
        "summary": _aggregate(rows, 0, n, starts),
        "per_shot": shots,
        "per_frame": {
            "time": [_round(t, 6) for t in rows["time"]],
            "consistency_psnr": [_round(v) for v in rows["psnr"]],
            "bicubic_consistency_psnr": [_round(v) for v in rows["bicubic_psnr"]],
            "detail_ratio": detail,
            "flicker_ratio": flicker,
        },
        "definitions": definitions(degradation),
    }
