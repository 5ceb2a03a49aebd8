"""Temporal windows and edge padding: which frames feed the network for each centre frame (upstream rules)."""

from __future__ import annotations

PADDINGS = ("reflection_circle", "reflection", "replicate", "circle")


def window_indices(center: int, num_frames: int, window: int = 5, padding: str = "reflection_circle") -> list[int]:
    """Frame indices of the window around ``center`` in a clip of ``num_frames`` frames.

    Out-of-clip positions are filled as the upstream test scripts do (for centre 0 and 5 frames):
    ``replicate`` [0,0,0,1,2], ``reflection`` [2,1,0,1,2], ``reflection_circle`` [4,3,0,1,2]
    (the original repository's ``new_info``), ``circle`` [3,4,0,1,2]; symmetric at the end.
    Indices are finally clamped into the clip, so clips shorter than the window work.
    """
    if padding not in PADDINGS:
        raise ValueError(f"unknown temporal padding {padding!r}; choose one of {', '.join(PADDINGS)}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be odd and positive, got {window}")
    if not 0 <= center < num_frames:
        raise ValueError(f"centre {center} is outside a clip of {num_frames} frames")
    last = num_frames - 1
    half = window // 2
    out = []
    for i in range(center - half, center + half + 1):
        if i < 0:
            idx = {
                "replicate": 0,
                "reflection": -i,
                "reflection_circle": center + half - i,
                "circle": window + i,
            }[padding]
        elif i > last:
            idx = {
                "replicate": last,
                "reflection": 2 * last - i,
                "reflection_circle": center - half - (i - last),
                "circle": i - window,
            }[padding]
        else:
            idx = i
        out.append(min(max(idx, 0), last))
    return out


def shot_window(center: int, lo: int, hi: int, window: int = 5, padding: str = "reflection_circle") -> list[int]:
    """:func:`window_indices` for a centre of the shot (or clip) of clip indices ``[lo, hi)``: padded at
    the shot's ends as if the shot were the whole clip."""
    return [lo + i for i in window_indices(center - lo, hi - lo, window, padding)]


def published_padding(with_predeblur: bool) -> str:
    """The temporal padding the published models were tested with: ``replicate`` for the models with
    a pre-deblur module (SRblur, deblur, deblurcomp and their stage 2), ``reflection_circle`` for sharp SR."""
    return "replicate" if with_predeblur else "reflection_circle"


def lookahead(window: int) -> int:
    """How many frames past the centre any padding mode may need (before the clip's end is known)."""
    return 2 * (window // 2)
