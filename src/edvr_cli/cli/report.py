"""`edvr report`: the fidelity report of a restored video (and the ``--report`` of upscale and deblur).

The report modules (numpy, PyAV, the resize matrices) are imported inside the commands only: ``edvr
report --help`` loads no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edvr_cli.cli.options import not_empty, path_argument, shots_option, time_option


def _report_base(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip() or "\x00" in value:
        raise click.BadParameter("the report path is empty")
    if value.endswith(("/", "\\")) or Path(value).is_dir():
        raise click.BadParameter(f"'{value}' is a folder; give a file name (PATH.json and PATH.html are written)")
    return value


def report_option():
    """``--report PATH`` of ``upscale`` and ``deblur``."""
    return click.option("--report", default=None, metavar="PATH", callback=_report_base,
                        help="After the run, write its fidelity report to PATH.json and PATH.html "
                             "(see `edvr report`).")


def run_report(input_path: Path, output_path: Path, base: str | Path, *, model: str | None, shots: str,
               start: str | None = None, end: str | None = None, deinterlace: str = "auto",
               hf_repo: str | None = None, overwrite: bool = False, quiet: bool = False,
               on_warning: Any = None) -> tuple[tuple[Path, Path], dict[str, Any]]:
    """Collect and write one report (the command's and ``--report``'s common core); returns the paths
    (JSON, HTML) and the numbers."""
    from edvr_cli.display import FramesBar, frame_progress
    from edvr_cli.report.collect import ReportOptions, collect
    from edvr_cli.report.files import write_report

    options = ReportOptions(model=model, shots=shots, start=start, end=end, deinterlace=deinterlace, hf_repo=hf_repo)
    with frame_progress(quiet) as progress:
        bar = FramesBar(progress, f"{output_path.name}: report")
        report = collect(input_path, output_path, options, on_progress=bar, on_warning=on_warning)
    return write_report(report, base, overwrite=overwrite, inputs=[input_path, output_path]), report.data


def summary_line(paths: tuple[Path, Path], data: dict[str, Any]) -> str:
    """The line that says where the report went, with its headline numbers."""
    s = data["summary"]
    x1 = data["degradation"]["kind"] == "identity"
    numbers = []
    if s["consistency_psnr"] is not None:
        numbers.append(f"{'change' if x1 else 'consistency'} PSNR {s['consistency_psnr']:.2f} dB")
    if s["gain_db"] is not None:
        numbers.append(f"{s['gain_db']:+.2f} dB over bicubic")
    if s["flicker_ratio"] is not None:
        numbers.append(f"flicker {s['flicker_ratio']:.2f}")
    shots = data["shots"]["count"]
    numbers.append(f"{shots} shot{'s' if shots != 1 else ''}")
    return f"edvr: wrote report {paths[1]} and {paths[0].name} ({', '.join(numbers)})"


@click.command("report")
@click.argument("input_path", metavar="INPUT", callback=path_argument)
@click.argument("output_path", metavar="OUTPUT", callback=path_argument)
@click.option("--model", "-m", default=None, metavar="NAME|PATH", callback=not_empty,
              help="The model that made OUTPUT [default: the one OUTPUT's provenance names, else the frame "
                   "sizes decide the scale].")
@click.option("--shots", default="auto", show_default=True, metavar="auto|off|FILE", callback=shots_option,
              help="Shots as the run's --shots: auto = cuts found on INPUT's frames; FILE = cut times; off = one shot.")
@click.option("--start", default=None, metavar="TIME", callback=time_option,
              help="The run's --start: OUTPUT is that span of INPUT.")
@click.option("--end", default=None, metavar="TIME", callback=time_option, help="The run's --end.")
@click.option("--deinterlace", type=click.Choice(["auto", "on", "off", "field"]), default="auto", show_default=True,
              help="The run's --deinterlace (INPUT is read as the run read it).")
@click.option("--out", "-o", "base", default=None, metavar="PATH", callback=_report_base,
              help="Write PATH.json and PATH.html [default: OUTPUT's name + .report, beside it].")
@click.option("--overwrite", "-y", is_flag=True, help="Replace existing report files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def report(input_path: Path, output_path: Path, model: str | None, shots: str, start: str | None, end: str | None,
           deinterlace: str, base: str | None, overwrite: bool, quiet: bool) -> None:
    """Measure how well OUTPUT (restored by `edvr upscale`/`deblur`) agrees with INPUT, shot by shot.

    Writes a JSON file of numbers and a self-contained HTML page: data-consistency PSNR (OUTPUT
    degraded back to INPUT's size against INPUT) and its gain over bicubic, a detail ratio, a flicker
    ratio, the worst crops of each shot and a plot over time. OUTPUT is a video file or a folder of frames.
    """
    from edvr_cli.display import echo_err
    from edvr_cli.report.files import check_report, default_base

    target = Path(base) if base is not None else default_base(output_path)
    check_report(target, overwrite=overwrite, inputs=[input_path, output_path])  # before the work
    paths, data = run_report(input_path, output_path, target, model=model, shots=shots, start=start, end=end,
                       deinterlace=deinterlace, overwrite=overwrite, quiet=quiet,
                       on_warning=lambda m: echo_err(f"edvr: warning: {m}"))
    if not quiet:
        echo_err(summary_line(paths, data))
