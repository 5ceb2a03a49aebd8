"""GIF output: RGB frames to 256-colour frames with one good palette, in bounded memory.

The palette is libavfilter's ``palettegen`` (``stats_mode=full``) over a *sample*: the first
:data:`PALETTE_SAMPLE_FRAMES` frames, fewer when they would hold more than
:data:`PALETTE_SAMPLE_BYTES` (large frames), never the whole clip. Those frames are held until
the palette exists, then every frame goes through ``paletteuse`` (Sierra-2-4A error diffusion)
with it, one at a time. The usual one-liner ``split[a][b];[a]palettegen[p];[b][p]paletteuse``
buffers the whole clip instead (``paletteuse`` waits for the palette, which comes at the end).
Colours that appear only after the sample are dithered from the palette's nearest colours.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.error
import av.filter

#: Frames the palette is computed from (at most; see :data:`PALETTE_SAMPLE_BYTES`).
PALETTE_SAMPLE_FRAMES = 64
#: Most RGB bytes held for the palette sample (the sample shrinks for large frames, to 1 frame).
PALETTE_SAMPLE_BYTES = 256 << 20

_RGB24 = av.VideoFormat("rgb24")


class GifPalettizer:
    """``push`` RGB (``rgb24``) frames, get ``pal8`` frames back (same pts), ``flush`` at the end."""

    def __init__(self, width: int, height: int, time_base: Fraction) -> None:
        self.width, self.height, self.time_base = width, height, time_base
        self.sample_frames = max(1, min(PALETTE_SAMPLE_FRAMES, PALETTE_SAMPLE_BYTES // max(1, width * height * 3)))
        self._held: list[av.VideoFrame] = []
        self._main: av.filter.context.FilterContext | None = None
        self._sink: av.filter.context.FilterContext | None = None
        self._graph: av.filter.Graph | None = None

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        if self._main is None:
            self._held.append(frame)
            if len(self._held) < self.sample_frames:
                return []
            self._start()
            held, self._held = self._held, []
            return [out for f in held for out in self._map(f)]
        return self._map(frame)

    def flush(self) -> list[av.VideoFrame]:
        out: list[av.VideoFrame] = []
        if self._main is None:
            if not self._held:
                return out
            self._start()
            held, self._held = self._held, []
            for f in held:
                out += self._map(f)
        assert self._main is not None
        self._main.push(None)
        return out + self._pull()

    def _start(self) -> None:
        palette = self._palette(self._held)
        graph = av.filter.Graph()
        main = graph.add_buffer(width=self.width, height=self.height, format=_RGB24, time_base=self.time_base)
        pal = graph.add_buffer(width=palette.width, height=palette.height, format=palette.format,
                               time_base=self.time_base)
        use = graph.add("paletteuse", "dither=sierra2_4a")
        sink = graph.add("buffersink")
        main.link_to(use, 0, 0)
        pal.link_to(use, 0, 1)
        use.link_to(sink)
        graph.configure()
        palette.pts = 0
        pal.push(palette)
        pal.push(None)  # paletteuse keeps the last palette for every later frame
        self._graph, self._main, self._sink = graph, main, sink

    def _palette(self, frames: list[av.VideoFrame]) -> av.VideoFrame:
        graph = av.filter.Graph()
        src = graph.add_buffer(width=self.width, height=self.height, format=_RGB24, time_base=self.time_base)
        gen = graph.add("palettegen", "stats_mode=full")
        sink = graph.add("buffersink")
        src.link_to(gen)
        gen.link_to(sink)
        graph.configure()
        for f in frames:
            src.push(f)
        src.push(None)
        palette = sink.pull()
        assert isinstance(palette, av.VideoFrame)
        return palette

    def _map(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        assert self._main is not None
        self._main.push(frame)
        return self._pull()

    def _pull(self) -> list[av.VideoFrame]:
        assert self._sink is not None
        out: list[av.VideoFrame] = []
        while True:
            try:
                got = self._sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
            assert isinstance(got, av.VideoFrame)
            out.append(got)
