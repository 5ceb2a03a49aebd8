"""The report's plot, drawn as inline SVG text: per-frame consistency PSNR (output and bicubic) above,
flicker ratio below, scene cuts as vertical lines through both. No plotting library, no scripts.

Long clips are drawn with at most :data:`MAX_POINTS` points per line: each point then stands for a run
of frames and shows its worst value (lowest PSNR, highest flicker), so a bad frame is never averaged away.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from html import escape

MAX_POINTS = 2000

WIDTH = 920
LEFT, RIGHT = 64, 16
TOP_PANEL = (28, 220)  # (y of the top, height)
BOTTOM_PANEL = (290, 130)
HEIGHT = 460

OUTPUT_COLOUR = "#d9480f"
BICUBIC_COLOUR = "#1c7ed6"
FLICKER_COLOUR = "#2b8a3e"
CUT_COLOUR = "#868e96"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) from ``lo`` to ``hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def buckets(n: int, most: int = MAX_POINTS) -> list[tuple[int, int]]:
    """``[lo, hi)`` frame ranges, at most ``most`` of them, covering ``0 .. n - 1`` in order."""
    if n <= most:
        return [(i, i + 1) for i in range(n)]
    edges = [round(k * n / most) for k in range(most + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]


def reduce(values: Sequence[float | None], spans: list[tuple[int, int]], worst: str) -> list[float | None]:
    """One value per span: the lowest (``worst='min'``) or highest (``'max'``) that is not None."""
    pick = min if worst == "min" else max
    out: list[float | None] = []
    for lo, hi in spans:
        kept = [v for v in values[lo:hi] if v is not None and math.isfinite(v)]
        out.append(pick(kept) if kept else None)
    return out


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v - round(v, 1)) < 1e-9 else f"{v:.2f}"


def _line(run: list[tuple[float, float]], colour: str, dash: str) -> list[str]:
    """One polyline through ``run`` (a lone point: a dot; no point: nothing)."""
    if len(run) == 1:
        return [f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2" fill="{colour}"/>']
    if not run:
        return []
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in run)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return [f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"{extra}/>']


def _polylines(xs: list[float], ys: list[float | None], colour: str, dash: str = "",
               breaks: frozenset[int] = frozenset()) -> list[str]:
    """Polylines through the points, broken where a value is missing and before each point in ``breaks``
    (a new shot)."""
    out: list[str] = []
    run: list[tuple[float, float]] = []
    for j, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y is None or j in breaks:
            out += _line(run, colour, dash)
            run = []
        if y is not None:
            run.append((x, y))
    return out + _line(run, colour, dash)


def _axis(top: int, height: int, lo: float, hi: float, ticks: list[float], label: str, x0: float,
          x1: float) -> list[str]:
    parts = [f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{height}" fill="#fff" stroke="#ced4da"/>']
    for t in ticks:
        y = top + height - (t - lo) / (hi - lo) * height
        parts.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#f1f3f5"/>')
        parts.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    parts.append(f'<text x="14" y="{top + height / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + height / 2:.1f})">{escape(label)}</text>')
    return parts


def plot(psnr: Sequence[float | None], bicubic: Sequence[float | None], flicker: Sequence[float | None],
         cuts: Sequence[int], *, psnr_label: str = "consistency PSNR (dB)", bicubic_label: str = "bicubic") -> str:
    """The SVG of a clip's per-frame numbers (one value per frame; None: not measured for that frame)."""
    n = len(psnr)
    spans = buckets(n)
    x0, x1 = float(LEFT), float(WIDTH - RIGHT)
    frames_per_px = max(1, n - 1)

    def x_of(frame: float) -> float:
        return x0 + (x1 - x0) * (0.5 if n <= 1 else frame / frames_per_px)

    xs = [x_of((lo + hi - 1) / 2) for lo, hi in spans]
    shot = [bisect.bisect_right(list(cuts), lo) for lo, _ in spans]
    last_shot = [bisect.bisect_right(list(cuts), hi - 1) for _, hi in spans]
    breaks = frozenset(j for j in range(1, len(spans)) if shot[j] != last_shot[j - 1])
    top_psnr, top_bic = reduce(psnr, spans, "min"), reduce(bicubic, spans, "min")
    flick = reduce(flicker, spans, "max")
    levels = [v for v in (*top_psnr, *top_bic) if v is not None]
    lo, hi = (min(levels), max(levels)) if levels else (0.0, 1.0)
    pad = max(0.5, (hi - lo) * 0.08)
    lo, hi = math.floor(lo - pad), math.ceil(hi + pad)
    ftop = max(2.0, *(v for v in flick if v is not None)) if any(v is not None for v in flick) else 2.0
    ftop = min(8.0, math.ceil(ftop * 2) / 2)

    t_top, t_h = TOP_PANEL
    b_top, b_h = BOTTOM_PANEL
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-label="per-frame consistency PSNR and flicker" '
             'font-family="sans-serif" font-size="11" fill="#212529">']
    parts += _axis(t_top, t_h, lo, hi, nice_ticks(lo, hi), psnr_label, x0, x1)
    parts += _axis(b_top, b_h, 0.0, ftop, nice_ticks(0.0, ftop, 4), "flicker ratio", x0, x1)

    def y_top(v: float | None) -> float | None:
        return None if v is None else t_top + t_h - (min(max(v, lo), hi) - lo) / (hi - lo) * t_h

    def y_bottom(v: float | None) -> float | None:
        return None if v is None else b_top + b_h - min(v, ftop) / ftop * b_h

    one = y_bottom(1.0)
    parts.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{one:.1f}" y2="{one:.1f}" stroke="#495057" '
                 'stroke-dasharray="2 3"/>')
    for c in cuts:
        xc = x_of(c - 0.5)
        for top, h in (TOP_PANEL, BOTTOM_PANEL):
            parts.append(f'<line x1="{xc:.1f}" x2="{xc:.1f}" y1="{top}" y2="{top + h}" stroke="{CUT_COLOUR}" '
                         'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{xc:.1f}" y="{t_top - 4}" text-anchor="middle" fill="{CUT_COLOUR}">cut {c}</text>')
    parts += _polylines(xs, [y_top(v) for v in top_bic], BICUBIC_COLOUR, "5 3", breaks)
    parts += _polylines(xs, [y_top(v) for v in top_psnr], OUTPUT_COLOUR, "", breaks)
    parts += _polylines(xs, [y_bottom(v) for v in flick], FLICKER_COLOUR, "", breaks)
    for t in nice_ticks(0, max(1, n - 1), 8):
        if t != int(t):
            continue
        xt = x_of(t)
        parts.append(f'<text x="{xt:.1f}" y="{b_top + b_h + 16}" text-anchor="middle">{int(t)}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{b_top + b_h + 34}" text-anchor="middle">frame</text>')
    legend = [(OUTPUT_COLOUR, "", "output"), (BICUBIC_COLOUR, "5 3", bicubic_label),
              (FLICKER_COLOUR, "", "flicker (1 = as the input)")]
    if not any(v is not None for v in top_bic):
        legend.pop(1)
    lx = x0
    for colour, dash, text in legend:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{lx:.1f}" x2="{lx + 22:.1f}" y1="{t_top + t_h + 22}" y2="{t_top + t_h + 22}" '
                     f'stroke="{colour}" stroke-width="2"{extra}/>')
        parts.append(f'<text x="{lx + 27:.1f}" y="{t_top + t_h + 26}">{escape(text)}</text>')
        lx += 40 + 7 * len(text)
    if len(spans) < n:
        parts.append(f'<text x="{x1:.1f}" y="{t_top + t_h + 26}" text-anchor="end" fill="{CUT_COLOUR}">each point: '
                     f'the worst of {math.ceil(n / len(spans))} frames</text>')
    parts.append("</svg>")
    return "\n".join(parts)
