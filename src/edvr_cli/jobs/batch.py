"""Many inputs: what an INPUT folder holds, the (input, output) pairs of a batch, and the batch loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edvr_cli.errors import EDVRError, InputError, WarningCallback, first_line
from edvr_cli.guard.inputs import check_input
from edvr_cli.jobs.settings import BatchItem, RestoreSettings


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def plan_batch(input_dir: Path, output_dir: Path, recursive: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs: every video in ``input_dir``, each keeping its name (and relative path).

    Hidden folders (our own work folders among them) and the output tree itself, when it lies inside
    ``input_dir``, are not inputs: a second run does not restore its own outputs.
    """
    from edvr_cli.video import list_videos

    pairs = []
    for video in list_videos(input_dir, recursive=recursive):
        relative = video.relative_to(input_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if _inside(video, output_dir):
            continue
        pairs.append((video, output_dir / relative))
    return pairs


def input_kind(path: Path) -> str:
    """'video', 'sequence' (a folder of images) or 'batch' (a folder of videos)."""
    from edvr_cli.video import list_images, list_videos
    from edvr_cli.video.pipes import is_stdin

    path = check_input(path)
    if is_stdin(path) or path.is_file():
        return "video"
    if list_videos(path, recursive=False):
        return "batch"
    if list_images(path):
        return "sequence"
    if list_videos(path, recursive=True):
        return "batch"
    raise InputError(f"'{path}' holds neither videos nor images")


BatchProgress = Callable[[Path, int, "int | None"], None]


def batch_settings(settings: RestoreSettings) -> RestoreSettings:
    """The settings each file of a batch runs with: resumable unless told otherwise (every file survives
    an interruption); the dry run of a batch plans with them too."""
    import dataclasses

    return dataclasses.replace(settings, resume=True) if settings.resume is None else settings


def restore_batch(
    input_dir: Path,
    output_dir: Path,
    settings: RestoreSettings,
    *,
    recursive: bool = False,
    on_planned: Callable[[int], None] | None = None,
    on_start: Callable[[Path, Path], None] | None = None,
    on_progress: BatchProgress | None = None,
    on_done: Callable[[BatchItem], None] | None = None,
    on_warning: WarningCallback | None = None,
) -> list[BatchItem]:
    """Restore every video of ``input_dir`` into ``output_dir`` (same relative names), loading the models once.

    A file whose output exists is skipped (unless ``settings.overwrite``); a file that fails is
    reported and the batch goes on. Every file is resumable unless ``settings.resume`` is False.
    """
    from edvr_cli.jobs.models import load_models
    from edvr_cli.jobs.run import restore_video

    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"a folder of videos needs a folder as OUTPUT; '{output_dir}' is a file")
    if _inside(input_dir, output_dir) and input_dir.resolve() != output_dir.resolve():
        raise InputError(f"the output folder '{output_dir}' contains the input folder '{input_dir}'")
    settings = batch_settings(settings)
    pairs = plan_batch(input_dir, output_dir, recursive)
    if not pairs:
        raise InputError(f"'{input_dir}' holds no videos to restore (outside '{output_dir}')")
    if on_planned is not None:
        on_planned(len(pairs))
    models = load_models(settings)
    items: list[BatchItem] = []
    for src, dst in pairs:
        name = str(src.relative_to(input_dir))
        if dst.exists() and not settings.overwrite:
            item = BatchItem(src, dst, "skipped", "output exists (use --overwrite)")
        else:
            if on_start is not None:
                on_start(src, dst)

            def progress(done: int, total: int | None, src: Path = src) -> None:
                if on_progress is not None:
                    on_progress(src, done, total)

            def warn(message: str, name: str = name) -> None:
                if on_warning is not None:
                    on_warning(f"{name}: {message}")

            try:
                result = restore_video(src, dst, settings, models=models, on_progress=progress, on_warning=warn)
                item = BatchItem(src, dst, "done", "; ".join(result.warnings), result.frames, result.seconds)
            except EDVRError as exc:
                item = BatchItem(src, dst, "failed", str(exc))
            except (OSError, RuntimeError, ValueError, MemoryError) as exc:
                item = BatchItem(src, dst, "failed", f"{type(exc).__name__}: {first_line(exc)}")
        items.append(item)
        if on_done is not None:
            on_done(item)
    return items
