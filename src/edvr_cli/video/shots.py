"""Scene cuts: found on the decoded frames as they stream by, or read from a file of cut times.

The rule (documented in the README, "Shot-aware windows"): each frame is reduced to a small luma
thumbnail (a strided sample, block-averaged to :data:`THUMB` cells) and a :data:`BINS`-bin luma
histogram. The distance of two frames is the mean absolute difference of their thumbnails plus half
the L1 distance of their histograms (both in [0, 1]). Frame ``i`` starts a new shot when its distance
to frame ``i - 1`` is at least :data:`MIN_JUMP` and at least :data:`SPIKE` times the distances on
either side (``i - 2`` to ``i - 1`` and ``i`` to ``i + 1``): a cut is a spike, while fast motion, a pan
or a fade keeps neighbouring distances alike, and a one-frame flash makes two spikes of one height.

The decision for frame ``i`` uses frames ``i - 2`` .. ``i + 1`` only, so any stretch of the clip read
with two frames before it and one after decides its cuts as the whole clip does: segments, workers and
resumed runs agree with a one-pass run.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Thumbnail cells (width, height) and luma histogram bins of a frame's signature.
THUMB = (32, 18)
BINS = 32
#: Smallest distance that can be a cut, and how many times the neighbouring distances it must exceed.
MIN_JUMP = 0.10
SPIKE = 2.0
#: Pixels sampled across the frame's width before the block average (the cost is independent of size).
SAMPLES = 128
#: Most cut times a file may list (a film has a few thousand).
MAX_CUTS = 1_000_000

SHOT_MODES = ("auto", "off")


def _luma_sample(image: Any) -> np.ndarray:
    """A strided sample of the frame's luma as float32 in [0, 1] (YUV planes: Y itself; RGB: Rec.709 weights)."""
    import numpy as np

    y = getattr(image, "y", None)
    if y is not None:
        h, w = y.shape
        step = max(1, w // SAMPLES)
        scale = float((1 << int(image.bits)) - 1)
        return np.asarray(y[step // 2::step, step // 2::step], dtype=np.float32) / scale
    arr = np.asarray(image)
    h, w = arr.shape[:2]
    step = max(1, w // SAMPLES)
    s = arr[step // 2::step, step // 2::step].astype(np.float32)
    if arr.dtype == np.uint8:
        s /= 255.0
    elif arr.dtype == np.uint16:
        s /= 65535.0
    if s.ndim == 3:
        s = s[..., 0] * 0.2126 + s[..., 1] * 0.7152 + s[..., 2] * 0.0722
    return s


@dataclass(frozen=True)
class Signature:
    """What the cut rule compares: a block-averaged thumbnail and a normalised histogram of luma."""

    thumb: np.ndarray
    hist: np.ndarray


def signature(image: Any) -> Signature:
    """The signature of one frame (:class:`~edvr_cli.video.planes.YUVFrame` or an RGB array)."""
    import numpy as np

    s = np.clip(_luma_sample(image), 0.0, 1.0)
    tw, th = THUMB
    h, w = s.shape
    rows = np.minimum((np.arange(th + 1) * h) // th, h)
    cols = np.minimum((np.arange(tw + 1) * w) // tw, w)
    # block means by cumulative sums (cells of unequal size on small frames are fine)
    c = np.zeros((h + 1, w + 1), dtype=np.float64)
    c[1:, 1:] = s.cumsum(0).cumsum(1)
    area = np.maximum(np.diff(rows)[:, None] * np.diff(cols)[None, :], 1)
    sums = c[rows[1:]][:, cols[1:]] - c[rows[:-1]][:, cols[1:]] - c[rows[1:]][:, cols[:-1]] + c[rows[:-1]][:, cols[:-1]]
    hist = np.bincount(np.minimum((s * BINS).astype(np.int64), BINS - 1).ravel(), minlength=BINS).astype(np.float64)
    return Signature((sums / area).astype(np.float32), hist / max(1.0, hist.sum()))


def distance(a: Signature, b: Signature) -> float:
    """How different two frames look: thumbnail MAD plus half the histograms' total-variation distance (0 = alike)."""
    import numpy as np

    return float(np.abs(a.thumb - b.thumb).mean()) + 0.25 * float(np.abs(a.hist - b.hist).sum())


def is_cut(jump: float, before: float, after: float) -> bool:
    """The cut rule for one frame: its distance to the previous one (``jump``) against its neighbours'."""
    return jump >= MIN_JUMP and jump >= SPIKE * max(before, after)


class CutDetector:
    """Feeds frames in order, says which start a new shot.

    Args:
        first: clip index of the first frame pushed.
        clip_start: whether that frame is the first of the clip (else no cut is decided for
            ``first + 1``, where the rule lacks the frame before).
    """

    def __init__(self, first: int = 0, clip_start: bool = True) -> None:
        self.first = first
        self.clip_start = clip_start
        self.next = first
        self._last: Signature | None = None
        self._jump: dict[int, float] = {}  # frame i -> distance of frames i-1 and i (the last three)

    def push(self, image: Any) -> list[int]:
        """Take the next frame; returns the cuts decided now (a frame's cut is known one frame later)."""
        sig = signature(image)
        i = self.next
        self.next += 1
        if self._last is not None:
            self._jump[i] = distance(self._last, sig)
            self._jump.pop(i - 3, None)
        self._last = sig
        return self._decide(i - 1, self._jump.get(i))

    def finish(self) -> list[int]:
        """The clip ended: decide its last frame (nothing comes after it)."""
        return self._decide(self.next - 1, 0.0)

    def _decide(self, i: int, after: float | None) -> list[int]:
        jump = self._jump.get(i)
        before = 0.0 if self.clip_start and i == self.first + 1 else self._jump.get(i - 1)
        if jump is None or before is None or after is None:
            return []
        return [i] if is_cut(jump, before, after) else []


def find_cuts(frames: Iterable[Any]) -> list[int]:
    """The cuts of a whole clip (indices of the frames that start a shot, the first frame excluded)."""
    detector = CutDetector()
    cuts: list[int] = []
    for image in frames:
        cuts += detector.push(image)
    return cuts + detector.finish()


class Shots:
    """The cuts of a clip, known in advance (a plan's, a file's) or growing as a detector finds them.

    Thread-safe: the decoder thread adds cuts while the restorers ask for a centre's shot. A restorer
    only asks about centres whose window has been read, so every cut it may need is already known.
    """

    def __init__(self, cuts: Iterable[int] = (), detector: CutDetector | None = None) -> None:
        self._cuts = sorted(set(int(c) for c in cuts))
        self._lock = threading.Lock()
        self.detector = detector

    def start_detecting(self, first: int, clip_start: bool) -> None:
        """Find cuts in the frames :meth:`push` is given from clip index ``first`` on (``clip_start``:
        that frame begins the clip)."""
        self.detector = CutDetector(first, clip_start)

    def push(self, image: Any) -> None:
        if self.detector is not None:
            self.add(self.detector.push(image))

    def finish(self) -> None:
        if self.detector is not None:
            self.add(self.detector.finish())

    def add(self, cuts: Iterable[int]) -> None:
        with self._lock:
            for c in cuts:
                if c not in self._cuts:
                    bisect.insort(self._cuts, c)

    @property
    def cuts(self) -> list[int]:
        with self._lock:
            return list(self._cuts)

    def bounds(self, centre: int, lo: int, hi: int | None) -> tuple[int, int | None]:
        """The shot holding ``centre`` within the clip's ``[lo, hi)`` (``hi`` None: not known yet)."""
        with self._lock:
            k = bisect.bisect_right(self._cuts, centre)
            if k:
                lo = max(lo, self._cuts[k - 1])
            if k < len(self._cuts):
                nxt = self._cuts[k]
                hi = nxt if hi is None else min(hi, nxt)
        return lo, hi


# -- cut files -------------------------------------------------------------------------------------

def parse_cut_times(text: str, label: str = "the cut list") -> list[Fraction]:
    """Cut times from a file's text: one per line, in ``--start``'s syntax (seconds or ``HH:MM:SS.mmm``:
    :func:`~edvr_cli.video.span.parse_time`); blank lines and ``#`` comments are skipped. Raises
    ValueError naming the first bad line."""
    from edvr_cli.video.span import parse_time

    out: list[Fraction] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(parse_time(line))
        except ValueError as exc:
            raise ValueError(f"{label}, line {n}: {exc}") from None
        if len(out) > MAX_CUTS:
            raise ValueError(f"{label} lists more than {MAX_CUTS} cuts")
    return out


def read_cut_file(path: str | Path) -> list[Fraction]:
    """The cut times of a file (see :func:`parse_cut_times`); OSError and ValueError pass through."""
    p = Path(path)
    size = p.stat().st_size
    if size > 64 * MAX_CUTS:
        raise ValueError(f"'{p.name}' is {size} bytes: too large for a cut list")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"'{p.name}' is not a text file of cut times") from None
    return parse_cut_times(text, f"'{p.name}'")


def shots_file(value: str) -> tuple[Path, list[Fraction]]:
    """The path and cut times of ``--shots FILE``; what cannot be read is one :class:`UsageError` line."""
    from edvr_cli.errors import UsageError

    path = Path(value).expanduser()
    try:
        return path, read_cut_file(path)
    except OSError as exc:
        raise UsageError(f"--shots: cannot read '{path}': {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--shots: {exc}") from None


def cuts_at(times: Sequence[Fraction], frame_times: Sequence[Fraction]) -> list[int]:
    """Frame indices of cut times: each cut starts at the first frame shown at or after it (times that
    fall on the first frame or past the last are no cut)."""
    out = set()
    for t in times:
        k = bisect.bisect_left(frame_times, t)
        if 0 < k < len(frame_times):
            out.add(k)
    return sorted(out)


def format_cut(index: int, seconds: Fraction) -> str:
    """One line of a cut list, as :func:`parse_cut_times` reads it back (``MM:SS.mmm  # frame N``)."""
    from edvr_cli.video.span import format_time

    return f"{format_time(seconds)}  # frame {index}"


@dataclass(frozen=True)
class ShotPlan:
    """A run's shots: ``mode`` 'auto' (found as the stream is read: ``cuts`` None), 'off', or 'file'
    (``cuts`` from the file, as clip frame indices; ``sha256`` of the file for the record)."""

    mode: str
    cuts: tuple[int, ...] | None = None
    file: str | None = None
    sha256: str | None = None

    @property
    def live(self) -> bool:
        return self.mode == "auto" and self.cuts is None

    def make(self) -> Shots | None:
        """The run's :class:`Shots` (None: windows cross cuts); a live one gets its detector on the
        first frame (:meth:`Shots.live`)."""
        if self.mode == "off":
            return None
        return Shots(self.cuts or ())

    def describe(self) -> str:
        if self.mode == "off":
            return "off (windows cross scene cuts)"
        if self.mode == "auto":
            return "auto (cuts found as the frames are read; each shot padded as a whole clip)"
        n = len(self.cuts or ())
        return f"{n} cut{'s' if n != 1 else ''} from '{Path(self.file or '').name}'; each shot padded as a whole clip"
