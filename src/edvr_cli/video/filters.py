"""libavfilter graphs run on decoded frames: deinterlacing with ``bwdif`` (``Deinterlacer``).

``bwdif`` (Bob Weaver Deinterlacing Filter: yadif's motion adaptivity with w3fdif's cubic
interpolation) works on the frames as decoded, before any RGB conversion, so it sees the real
fields of 4:2:0 chroma. It reads the frame before and after each frame, so its output for a frame
depends on its neighbours (a reader that seeks feeds it at least one frame before the first one
it keeps).

Modes of :class:`Deinterlacer`:

* ``field=False``: one frame per frame (``mode=send_frame``), timestamps unchanged.
* ``field=True``: one frame per field (``mode=send_field``): twice the frames, the second of each
  pair at the midpoint of its frame and the next, so the output time base is half the input's.

``all_frames=False`` (``deint=interlaced``) only touches frames flagged interlaced; progressive
ones pass through untouched. Output frames are flagged progressive by the filter.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.error
import av.filter

#: ``parity`` values: the field shown first (``auto`` reads each frame's flag).
PARITIES = ("tff", "bff", "auto")


class Deinterlacer:
    """A ``buffer -> bwdif -> buffersink`` graph, configured on the first frame pushed.

    Args:
        time_base: units of the pts of the frames pushed (every frame needs a pts).
        field: one output frame per field (rate doubled) instead of one per frame.
        all_frames: deinterlace every frame (``deint=all``), not only those flagged interlaced.
        parity: ``'tff'``, ``'bff'`` or ``'auto'`` (each frame's own flag; top first when unflagged).
    """

    def __init__(self, time_base: Fraction, *, field: bool = False, all_frames: bool = True,
                 parity: str = "auto") -> None:
        if parity not in PARITIES:
            raise ValueError(f"parity must be one of {PARITIES}, not {parity!r}")
        self.time_base = Fraction(time_base)
        self.field = field
        self.all_frames = all_frames
        self.parity = parity
        self.frames_in = 0
        self._graph: av.filter.Graph | None = None
        self._size: tuple[int, int, str] | None = None

    @property
    def out_time_base(self) -> Fraction:
        """Units of the output pts: the input's, or half of it for one frame per field."""
        return self.time_base / 2 if self.field else self.time_base

    @property
    def args(self) -> str:
        """The ``bwdif`` options used."""
        mode = "send_field" if self.field else "send_frame"
        deint = "all" if self.all_frames else "interlaced"
        return f"mode={mode}:parity={self.parity}:deint={deint}"

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Feed one decoded frame; returns the frames that came out (none at first: bwdif looks one ahead)."""
        size = (frame.width, frame.height, frame.format.name)
        if self._graph is None:
            self._configure(frame)
        elif size != self._size:
            raise ValueError(
                f"the frame size or format changed from {self._size} to {size} in the middle of the video"
            )
        assert self._graph is not None
        frame.time_base = self.time_base
        self._graph.vpush(frame)
        self.frames_in += 1
        return self._drain()

    def flush(self) -> list[av.VideoFrame]:
        """End of input: the frames still held (the last one, and its second field)."""
        if self._graph is None:
            return []
        self._graph.vpush(None)
        out = self._drain()
        self._graph = None
        return out

    def _configure(self, frame: av.VideoFrame) -> None:
        graph = av.filter.Graph()
        src = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                               time_base=self.time_base)
        bwdif = graph.add("bwdif", self.args)
        sink = graph.add("buffersink")
        src.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        self._graph = graph
        self._size = (frame.width, frame.height, frame.format.name)

    def _drain(self) -> list[av.VideoFrame]:
        assert self._graph is not None
        out: list[av.VideoFrame] = []
        while True:
            try:
                frame = self._graph.vpull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
            # bwdif's output time base is always half its input's (pts doubled); one frame per
            # frame goes back to the input's units, exactly.
            if frame.pts is not None and not self.field:
                frame.pts //= 2
            frame.time_base = self.out_time_base
            out.append(frame)
