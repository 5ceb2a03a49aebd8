"""`edvr upscale` and `edvr deblur`: restore a video, an image sequence, or a folder of videos."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from edvr_cli.cli.options import (
    cluster_option,
    device_option,
    devices_option,
    finite_float,
    not_empty,
    path_argument,
    shots_option,
    size_option,
    tile_option,
    time_option,
)
from edvr_cli.cli.report import report_option
from edvr_cli.display import FramesBar, echo_err, frame_progress, stderr_console
from edvr_cli.engine.names import PRECISION_NAMES
from edvr_cli.errors import EDVRError, Interrupted
from edvr_cli.guard import signals
from edvr_cli.jobs.settings import DEFAULT_MODELS, BatchItem, RestoreSettings
from edvr_cli.jobs.workfolder import RESUME_MIN_FRAMES, peek, work_dir
from edvr_cli.model.padding import PADDINGS


def restore_options(task: str):
    """The options `upscale` and `deblur` share."""

    def decorate(fn):
        options = [
            click.argument("input_path", metavar="INPUT", callback=path_argument),
            click.argument("output_path", metavar="OUTPUT", callback=path_argument),
            click.option("--model", "-m", default=None, metavar="NAME|PATH", callback=not_empty,
                         help=f"Registry name or checkpoint file [default: {DEFAULT_MODELS[task]}]."),
            click.option("--stage2", default=None, metavar="NAME|PATH", callback=not_empty,
                         help="Stage-2 model run over windows of stage-1 outputs (the paper's two-stage scheme)."),
            click.option("--padding", type=click.Choice(PADDINGS), default=None,
                         help="Temporal edge padding [default: the model's published mode]."),
            click.option("--tile", default="auto", show_default=True, metavar="N|auto", callback=tile_option,
                         help="Tile edge in input pixels; 0 = whole frame."),
            click.option("--tile-overlap", default=16, show_default=True, type=click.IntRange(0),
                         help="Pixels shared by neighbouring tiles (input scale)."),
            click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|cuda:N|mps",
                         callback=device_option),
            click.option("--precision", type=click.Choice(list(PRECISION_NAMES)), default=None,
                         help="[default: fp16 on CUDA, fp32 on CPU]"),
            click.option("--batch", default=None, type=click.IntRange(1),
                         help="Centre frames per forward pass [default: auto: 4 on CUDA and multi-threaded CPU]."),
            click.option("--compile/--no-compile", default=False, show_default=True,
                         help="torch.compile the network (pays off on GPU for long videos; compile cost is reported)."),
            click.option("--channels-last/--no-channels-last", default=None,
                         help="Channels-last memory format [default: on for CPU and CUDA]."),
            click.option("--codec", default=None,
                         help="Video encoder [default: the input's codec family, else libx264]."),
            click.option("--crf", default=None, type=click.IntRange(0, 63),
                         help="Constant rate factor [default: visually lossless]."),
            click.option("--preset", default=None, help="Encoder preset (e.g. slow, medium, fast)."),
            click.option("--pix-fmt", default=None,
                         help="Output pixel format [default: the input's depth and chroma]."),
            click.option("--size", default=None, metavar="WxH", callback=size_option,
                         help="Resample the output to this size (one side -1 keeps the aspect), antialiased "
                              "bicubic on the model's device."),
            click.option("--scale", default=None, type=float, callback=finite_float, metavar="S",
                         help="Output size as a multiple of the input (0 < S <= the model's scale)."),
            click.option("--start", default=None, metavar="TIME", callback=time_option,
                         help="Restore from this time on (seconds or HH:MM:SS.mmm, as ffmpeg's -ss)."),
            click.option("--end", default=None, metavar="TIME", callback=time_option,
                         help="Restore up to this time (as ffmpeg's -to); audio and subtitles are trimmed too."),
            click.option("--deinterlace", type=click.Choice(["auto", "on", "off", "field"]), default="auto",
                         show_default=True,
                         help="bwdif before restoring: auto = when the input is flagged interlaced; "
                              "field = one frame per field (the rate doubled)."),
            click.option("--shots", default="auto", show_default=True, metavar="auto|off|FILE",
                         callback=shots_option,
                         help="Pad each window at scene cuts as if its shot were the whole video: auto = cuts "
                              "found as the frames are read; FILE = cut times, one a line (seconds or "
                              "HH:MM:SS.mmm); off = windows cross cuts."),
            click.option("--shots-only", is_flag=True,
                         help="Print the cuts the run would use (one a line, as --shots FILE reads them) "
                              "and write nothing."),
            click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
                         help="Blend the restored frames with the bicubic upscale (the input for x1 models) in "
                              "linear light: 0 = bicubic, 1 = the model's output."),
            click.option("--strict-streams", is_flag=True,
                         help="Refuse (before any work) to convert or drop any audio or subtitle stream."),
            click.option("--workers", default=None, type=click.IntRange(1, 256),
                         help="Segments restored at once: local worker processes, or Ray actors with --cluster "
                              "[default: 1; on Ray one per GPU, else per CPU]."),
            click.option("--devices", default=None, metavar="DEV,DEV", callback=devices_option,
                         help="Devices of the workers, e.g. cuda:0,cuda:1 [default: every visible GPU]."),
            click.option("--cluster", default=None, metavar="ray://HOST:PORT|auto|local", callback=cluster_option,
                         help="Run the segments on a Ray cluster (local: start one on this machine)."),
            click.option("--threads", default=None, type=click.IntRange(1, 1024),
                         help="CPU threads per worker [default: the cores divided among the workers]."),
            click.option("--segment-frames", default=300, show_default=True, type=click.IntRange(1, 1_000_000),
                         help="Frames per segment (the unit of parallel and resumable work)."),
            click.option("--dry-run", is_flag=True,
                         help="Print the plan (streams, colour, encoder, tiles, segments) and write nothing."),
            click.option("--recursive", "-r", is_flag=True, help="With a folder of videos: include subfolders."),
            click.option("--hf-repo", default=None, envvar="EDVR_HF_REPO",
                         help="A Hugging Face repository mirroring the published weights, tried first "
                              "(none by default)."),
            click.option("--resume/--no-resume", default=None,
                         help="Write the output in segments beside it, so an interrupted run continues where it "
                              f"stopped [default: on for more than {RESUME_MIN_FRAMES} frames and for batches]."),
            click.option("--provenance/--no-provenance", default=True, show_default=True,
                         help="Record the edvr version, the models and the settings that change pixels in the "
                              "output (container tags, PNG text; `edvr info` shows them)."),
            report_option(),
            click.option("--overwrite", "-y", is_flag=True,
                         help="Replace existing outputs (and discard an unfinished resumable run)."),
            click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary."),
        ]
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@contextmanager
def _resume_hint(output: Path) -> Iterator[None]:
    """On a signal, say what an interrupted resumable run kept (one line, exit status 128 + the signal)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        kept = peek(output)
        if not kept or not kept[1]:
            raise
        if not isinstance(exc, Interrupted) and signals.last_received() is not None:
            exc = Interrupted(signals.last_received() or 2)  # a library re-raised our signal as KeyboardInterrupt
        name, code = (str(exc), exc.exit_code) if isinstance(exc, Interrupted) else ("SIGINT", 130)
        echo_err(f"edvr: interrupted ({name}); {kept[1]} finished frames of '{output.name}' are kept in "
                 f"'{work_dir(output).name}': run the same command again to continue")
        raise click.exceptions.Exit(code) from None


def run_task(task: str, input_path: Path, output_path: Path, recursive: bool, **opts: Any) -> None:
    """Parse-free core of both commands: one input, an image sequence, or a batch."""
    from edvr_cli.jobs.batch import input_kind, restore_batch
    from edvr_cli.jobs.models import load_models
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.video.paths import is_stdout

    shots_only = opts.pop("shots_only", False)
    settings = RestoreSettings(task=task, **opts)
    kind = input_kind(input_path)
    quiet = settings.quiet
    if shots_only:
        _print_shots(kind, input_path, output_path, settings)
        return
    if settings.report is not None:
        _check_report(kind, input_path, output_path, settings)  # before the run (and its dry run), not after it
    if settings.dry_run:
        _dry_run(kind, input_path, output_path, settings, recursive)
        return

    def warn(message: str) -> None:
        echo_err(f"edvr: warning: {message}")

    if kind != "batch":
        models = load_models(settings)
        with frame_progress(quiet) as progress:
            advance = FramesBar(progress, input_path.name)
            with _resume_hint(output_path):
                result = restore_video(input_path, output_path, settings, models=models,
                                       on_progress=advance, on_warning=warn)
        if not quiet:
            where = "standard output" if is_stdout(output_path) else str(result.output)
            how = f"; {result.encoder.removeprefix('encoder: ')}" if result.encoder else ""
            converted = f"; {'; '.join(result.streams)}" if result.streams else ""
            echo_err(f"edvr: wrote {where} ({result.frames} frames in {result.seconds:.1f} s, "
                     f"{result.fps:.2f} fps{how}{converted})")
        if settings.report is not None:
            _write_report(input_path, result.output, settings)
        return

    with frame_progress(quiet) as progress:
        overall = progress.add_task("files", total=None, rate=None, eta=None)
        bars: dict[Path, FramesBar] = {}

        def planned(count: int) -> None:
            progress.update(overall, total=count)

        def start(src: Path, dst: Path) -> None:
            bars[src] = FramesBar(progress, str(src.relative_to(input_path)))

        def advance_file(src: Path, done: int, total: int | None) -> None:
            bars[src](done, total)

        def done(item: BatchItem) -> None:
            if item.status == "failed":
                echo_err(f"edvr: {item.input.relative_to(input_path)}: failed: {item.message}")
            bar = bars.pop(item.input, None)
            if bar is not None:
                bar.remove()
            progress.advance(overall)

        with _resume_hint(output_path):
            items = restore_batch(input_path, output_path, settings, recursive=recursive, on_planned=planned,
                                  on_start=start, on_progress=advance_file, on_done=done, on_warning=warn)
    _summary(items, input_path, quiet)
    failed = [i for i in items if i.status == "failed"]
    if failed:
        raise EDVRError(f"{len(failed)} of {len(items)} file(s) failed")


def _dry_run(kind: str, input_path: Path, output_path: Path, settings: RestoreSettings, recursive: bool) -> None:
    """Print the plan of every input (on stdout: it is what the command was asked for) and write nothing."""
    from edvr_cli.jobs.batch import batch_settings, plan_batch
    from edvr_cli.jobs.plan import plan_run

    pairs = plan_batch(input_path, output_path, recursive) if kind == "batch" else [(input_path, output_path)]
    if kind == "batch":
        settings = batch_settings(settings)
    for n, (src, dst) in enumerate(pairs):
        if len(pairs) > 1:
            click.echo(f"{'' if n == 0 else chr(10)}[{n + 1}/{len(pairs)}] {src.relative_to(input_path)}")
        for line in plan_run(src, dst, settings):
            click.echo(line)


def _check_report(kind: str, input_path: Path, output_path: Path, settings: RestoreSettings) -> None:
    """``--report``: refuse what it cannot measure, and report files the guard will not write."""
    from edvr_cli.errors import UsageError
    from edvr_cli.jobs.settings import TASK_SCALE
    from edvr_cli.report.files import check_report
    from edvr_cli.video.paths import is_stdout
    from edvr_cli.video.pipes import is_stdin

    if kind == "batch":
        raise UsageError("--report measures one output; run `edvr report` on each file of a batch")
    if is_stdin(input_path) or is_stdout(output_path):
        raise UsageError("--report reads the input and the output again: neither can be a pipe ('-')")
    if settings.size is not None or settings.scale not in (None, TASK_SCALE[settings.task]):
        raise UsageError("--report measures the output at the model's scale; drop --size/--scale, or run "
                         "`edvr report` on an output of the model's size")
    assert settings.report is not None
    check_report(settings.report, overwrite=settings.overwrite, inputs=[input_path, output_path])


def _write_report(input_path: Path, output_path: Path, settings: RestoreSettings) -> None:
    """``--report``: the report of the run just made, with its model, shots, span and deinterlacing (the
    readers' warnings were the run's, said once already)."""
    from edvr_cli.cli.report import run_report, summary_line

    assert settings.report is not None
    try:
        paths, data = run_report(input_path, output_path, settings.report,
                                 model=settings.model or DEFAULT_MODELS[settings.task], shots=settings.shots,
                                 start=settings.start, end=settings.end, deinterlace=settings.deinterlace,
                                 hf_repo=settings.hf_repo, overwrite=settings.overwrite, quiet=settings.quiet)
    except EDVRError as exc:  # the output is in place: say so in the one line
        raise EDVRError(f"wrote '{output_path}', but its report failed: {exc}") from exc
    if not settings.quiet:
        echo_err(summary_line(paths, data))


def _print_shots(kind: str, input_path: Path, output_path: Path, settings: RestoreSettings) -> None:
    """``--shots-only``: the cuts of one input on stdout (a file ``--shots`` reads back); nothing written."""
    from edvr_cli.errors import UsageError
    from edvr_cli.jobs.plan import dry_plan, scan_shots
    from edvr_cli.video.shots import format_cut

    if kind == "batch":
        raise UsageError("--shots-only reads one input, not a folder of videos")
    if settings.shots == "off":
        raise UsageError("--shots-only lists the cuts of --shots auto or FILE, not of --shots off")
    plan = dry_plan(input_path, output_path, settings)
    with frame_progress(settings.quiet) as progress:
        cuts = scan_shots(plan, FramesBar(progress, f"{input_path.name}: finding cuts"))
    click.echo(f"# {len(cuts)} cut{'s' if len(cuts) != 1 else ''} in '{input_path.name}' "
               f"({len(cuts) + 1} shot{'s' if cuts else ''}); edit and pass back with --shots FILE")
    for index, seconds in cuts:
        click.echo(format_cut(index, seconds))


def _summary(items: list[BatchItem], root: Path, quiet: bool) -> None:
    console = stderr_console()
    if quiet:
        return
    table = Table(title="edvr batch summary")
    for col in ("file", "status", "frames", "fps", "note"):
        table.add_column(col)
    style = {"done": "green", "skipped": "yellow", "failed": "red"}
    for i in items:
        fps = f"{i.frames / i.seconds:.2f}" if i.seconds > 0 else ""
        status = f"[{style[i.status]}]{i.status}[/]"
        table.add_row(str(i.input.relative_to(root)), status, str(i.frames or ""), fps, i.message)
    console.print(table)
    counts = {s: sum(1 for i in items if i.status == s) for s in ("done", "skipped", "failed")}
    console.print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed")


@click.command()
@restore_options("upscale")
def upscale(input_path: Path, output_path: Path, recursive: bool, **opts) -> None:
    """Upscale INPUT 4x with EDVR into OUTPUT (video file, PNG folder, or a folder for a batch).

    INPUT is a video file, a folder of images (one sequence, natural order), or a folder of videos.
    """
    run_task("upscale", input_path, output_path, recursive, **opts)


@click.command()
@restore_options("deblur")
def deblur(input_path: Path, output_path: Path, recursive: bool, **opts) -> None:
    """Remove motion blur from INPUT with EDVR into OUTPUT (same size).

    INPUT is a video file, a folder of images (one sequence, natural order), or a folder of videos.
    """
    run_task("deblur", input_path, output_path, recursive, **opts)
