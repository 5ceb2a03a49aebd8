"""The report as one self-contained HTML page: inline CSS, the plot as inline SVG, crops as ``data:`` PNGs.

Nothing is fetched when the page opens (no scripts, fonts, style sheets or images from anywhere), so it
can be mailed, archived or opened offline. Every text that comes from outside (file names) is escaped.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from edvr_cli.report.collect import Crop, Report
from edvr_cli.report.svg import plot

#: Crops are shown at least this wide (pixels enlarged without smoothing).
MIN_SHOWN = 192

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212529; margin: 0;
       background: #f8f9fa; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: #495057; margin: 0 0 16px; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: #fff; border: 1px solid #dee2e6; border-radius: 6px; padding: 10px 14px; min-width: 130px; }
.card b { display: block; font-size: 20px; } .card span { color: #495057; font-size: 12px; }
.good { color: #2b8a3e; } .bad { color: #c92a2a; } .warn { color: #e67700; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border: 1px solid #dee2e6; padding: 5px 8px; text-align: right; }
th { background: #f1f3f5; } td:first-child, th:first-child { text-align: left; }
.plot { background: #fff; border: 1px solid #dee2e6; border-radius: 6px; padding: 8px; overflow-x: auto; }
.shot { background: #fff; border: 1px solid #dee2e6; border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.crops { display: flex; flex-wrap: wrap; gap: 18px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #495057; max-width: 420px; }
.pair { display: flex; gap: 6px; } .pair div { text-align: center; font-size: 12px; color: #495057; }
img.px { image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid #ced4da; display: block; }
dl dt { font-weight: 600; margin-top: 8px; } dl dd { margin: 2px 0 0 16px; color: #343a40; }
.note { background: #fff3bf; border: 1px solid #ffe066; border-radius: 6px; padding: 8px 12px; }
"""


def png_data_uri(rgb: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of a ``(h, w, 3)`` uint8 image (PNG encoded by PyAV)."""
    from edvr_cli.video.images import png_bytes

    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")


def _num(value: float | None, unit: str = "", digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return f"{text}{unit}"


def _tone(key: str, value: float | None) -> str:
    if value is None:
        return ""
    if key == "gain_db":
        return "good" if value > 0 else "bad" if value < 0 else ""
    if key == "flicker_ratio":
        return "bad" if value > 1.5 else "warn" if value > 1.15 else "good"
    return ""


def _cell(key: str, value: float | None, unit: str = "", signed: bool = False) -> str:
    tone = _tone(key, value)
    cls = f' class="{tone}"' if tone else ""
    return f"<td{cls}>{_num(value, unit, signed=signed)}</td>"


def _image(rgb: np.ndarray, alt: str) -> str:
    h, w = rgb.shape[:2]
    zoom = max(1, MIN_SHOWN // max(1, w))
    return (f'<img class="px" src="{png_data_uri(rgb)}" width="{w}" height="{h}" '
            f'style="width:{w * zoom}px;height:{h * zoom}px" alt="{escape(alt)}">')


def _crop_figure(crop: Crop, x1: bool) -> str:
    before = "input" if x1 else "bicubic"
    base = "" if crop.bicubic_psnr is None else f", bicubic {crop.bicubic_psnr:.2f} dB"
    measure = "change PSNR" if x1 else "consistency"
    return (
        "<figure><div class=\"pair\">"
        f"<div>{_image(crop.before, f'{before}, frame {crop.frame}')}{before}</div>"
        f"<div>{_image(crop.after, f'output, frame {crop.frame}')}output</div></div>"
        f"<figcaption>frame {crop.frame}, x {crop.x}, y {crop.y}, {crop.width}x{crop.height} px: "
        f"{measure} {crop.psnr:.2f} dB{base}</figcaption></figure>"
    )


def _cards(summary: dict[str, Any], data: dict[str, Any], x1: bool) -> str:
    label = "change PSNR (output vs input)" if x1 else "data-consistency PSNR"
    cards = [
        (label, _num(summary["consistency_psnr"], " dB"), ""),
        ("bicubic baseline", _num(summary["bicubic_consistency_psnr"], " dB"), ""),
        ("gain over bicubic", _num(summary["gain_db"], " dB", signed=True), _tone("gain_db", summary["gain_db"])),
        ("detail ratio", _num(summary["detail_ratio"]), ""),
        ("flicker ratio", _num(summary["flicker_ratio"]), _tone("flicker_ratio", summary["flicker_ratio"])),
        ("frames / shots", f"{data['input']['frames']} / {data['shots']['count']}", ""),
    ]
    body = "".join(f'<div class="card"><b class="{tone}">{escape(value)}</b><span>{escape(name)}</span></div>'
                   for name, value, tone in cards)
    return f'<div class="cards">{body}</div>'


def _shot_table(shots: list[dict[str, Any]], x1: bool) -> str:
    head = (f"<tr><th>shot</th><th>frames</th><th>seconds</th><th>{'change PSNR' if x1 else 'consistency'}</th>"
            "<th>bicubic</th><th>gain</th><th>detail</th><th>flicker</th></tr>")
    rows = []
    for s in shots:
        rows.append(
            f"<tr><td>{s['index']}</td><td>{s['first_frame']}&ndash;{s['last_frame']} ({s['frames']})</td>"
            f"<td>{s['start_seconds']:.3f}&ndash;{s['end_seconds']:.3f}</td>"
            f"{_cell('psnr', s['consistency_psnr'], ' dB')}{_cell('bicubic', s['bicubic_consistency_psnr'], ' dB')}"
            f"{_cell('gain_db', s['gain_db'], ' dB', signed=True)}{_cell('detail_ratio', s['detail_ratio'])}"
            f"{_cell('flicker_ratio', s['flicker_ratio'])}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def render(report: Report, json_name: str | None = None) -> str:
    """The page's HTML text."""
    data = report.data
    x1 = data["degradation"]["kind"] == "identity"
    model = data["model"]
    name = model["name"] or f"unknown model (x{model['scale']} from the frame sizes)"
    src, dst = Path(data["input"]["path"]).name, Path(data["output"]["path"]).name
    per_frame = data["per_frame"]
    svg = plot(per_frame["consistency_psnr"], per_frame["bicubic_consistency_psnr"], per_frame["flicker_ratio"],
               data["shots"]["cuts"], psnr_label="change PSNR (dB)" if x1 else "consistency PSNR (dB)")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>edvr fidelity report: {escape(dst)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Fidelity report</h1>",
        f'<p class="sub">{escape(src)} ({data["input"]["width"]}x{data["input"]["height"]}) &rarr; {escape(dst)} '
        f'({data["output"]["width"]}x{data["output"]["height"]}), {data["input"]["frames"]} frames; model '
        f'{escape(name)}{"" if model["task"] is None else " (" + escape(model["task"]) + ")"}, '
        f'known from {escape(model["known_from"])}</p>',
    ]
    if data["degradation"]["matches_training"] is not True:
        parts.append(f'<p class="note">Degradation: {escape(data["degradation"]["description"])}</p>')
    else:
        parts.append(f'<p class="sub">Degradation: {escape(data["degradation"]["description"])}</p>')
    parts += [_cards(data["summary"], data, x1), "<h2>Over time</h2>", f'<div class="plot">{svg}</div>',
              "<h2>Shots</h2>", _shot_table(data["per_shot"], x1)]
    parts.append("<h2>Worst crops</h2>")
    for shot, crops in zip(data["per_shot"], report.crops, strict=True):
        figures = "".join(_crop_figure(c, x1) for c in crops) or "<p>none kept</p>"
        parts.append(f'<div class="shot"><b>shot {shot["index"]}</b> (frames {shot["first_frame"]}&ndash;'
                     f'{shot["last_frame"]})<div class="crops">{figures}</div></div>')
    parts.append("<h2>What the numbers mean</h2><dl>")
    for key, text in data["definitions"].items():
        parts.append(f"<dt>{escape(key)}</dt><dd>{escape(text)}</dd>")
    parts.append("</dl>")
    shots = data["shots"]
    how = {"auto": "found on the input's frames (as --shots auto)", "off": "off (one shot)",
           "file": f"from {escape(Path(shots['file'] or '').name)} (as --shots FILE)"}[shots["mode"]]
    parts.append(f'<p class="sub">Shots: {how}. edvr {escape(data["edvr"])}'
                 f'{"; numbers also in " + escape(json_name) if json_name else ""}.</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
