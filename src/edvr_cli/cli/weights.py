"""``edvr weights``: list, download, import, inspect, locate and remove pretrained models.

The commands only parse options and print; the work is in ``edvr_cli.zoo``. Errors are our
exception classes (``EDVRError``), which the main CLI prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edvr_cli.errors import DownloadError, EDVRError, OfflineError
from edvr_cli.zoo import cache
from edvr_cli.zoo.models import (
    as_cache_name,
    describe_sources,
    download_model,
    import_model,
    inspect_file,
    model_path,
    remove_model,
)
from edvr_cli.zoo.registry import ModelEntry, default_registry


def _human_size(n: float | None, approx: bool = False) -> str:
    if not n:
        return "-"
    units = ("B", "kB", "MB", "GB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    text = f"{n:.0f} {units[i]}" if n >= 10 or i == 0 else f"{n:.1f} {units[i]}"
    return "~" + text if approx else text


def _human_params(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.0f}k"


def _config_line(config: dict[str, Any]) -> str:
    keys = ("num_feat", "num_frame", "deformable_groups", "num_extract_block", "num_reconstruct_block")
    parts = [f"{k}={config[k]}" for k in keys if k in config]
    parts += [k for k in ("with_tsa", "with_predeblur", "hr_in") if config.get(k)]
    return ", ".join(parts)


@click.group("weights")
def weights() -> None:
    """Pretrained models: list, download, import, inspect and remove them."""


@weights.command("list")
def list_models() -> None:
    """Every published model (and every imported one), and whether it is in the cache."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    registry = default_registry()
    cached = {c.name: c for c in cache.list_models()}
    console = Console()
    narrow = console.width < 100  # 80 columns: one-space gaps, stage-2 tasks wrap after "stage2"
    rows: list[tuple[str, ...]] = []
    for entry in registry:
        hit = cached.pop(entry.name, None)
        if entry.bundled:
            bundled = entry.bundled_path()
            size = _human_size(bundled.stat().st_size) if bundled and bundled.is_file() else "-"
            state = "bundled"
        elif hit is not None:
            size, state = _human_size(hit.size), "yes"
        else:
            size = _human_size((entry.params or 0) * 4, approx=True)
            state = "no" if entry.sources else "import"
        score = entry.scores[0].short() if entry.scores else "-"
        task = entry.task.replace("stage2-", "stage2 ") if narrow else entry.task
        params = _human_params(entry.params)
        rows.append((entry.name, task, str(entry.scale), str(entry.frames), params, size, score, state))
    for hit in cached.values():  # imported under names of their own
        config = hit.config
        scale = "1" if config.get("hr_in") else "4"
        frames = str(config.get("num_frame", "?"))
        rows.append((hit.name, "imported", scale, frames, _human_params(hit.params), _human_size(hit.size), "-", "yes"))
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0) if narrow else (0, 1),  # plus the box's one-space column divider
        header_style="bold",
    )
    table.add_column("Name", no_wrap=True, min_width=max(len(r[0]) for r in rows))
    table.add_column("Task", min_width=10)
    table.add_column("×", justify="right")
    table.add_column("T", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Published", no_wrap=True)
    table.add_column("Cached", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"cache: {cache.models_dir()}", style="dim", overflow="fold")


@weights.command("download")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every downloadable published model.")
@click.option(
    "--hf-repo",
    metavar="REPO",
    help="A Hugging Face Hub repository mirroring the checkpoints, tried before the upstream sources"
    " (default: $EDVR_HF_REPO; none).",
)
@click.option("--force", is_flag=True, help="Download again even if cached.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def download(names: tuple[str, ...], all_: bool, hf_repo: str | None, force: bool, quiet: bool) -> None:
    """Download published models into the cache (verified by SHA-256, converted to safetensors)."""
    registry = default_registry()
    if all_:
        names = tuple(e.name for e in registry if e.sources)
    elif not names:
        raise click.UsageError("name a model (see: edvr weights list) or pass --all")
    failures: list[tuple[str, EDVRError]] = []
    for name in names:
        try:
            entry = registry.get(name)
            already = entry is not None and cache.get(entry.name) is not None
            cached = download_model(name, hf_repo=hf_repo, quiet=quiet, force=force)
        except EDVRError as exc:
            if len(names) == 1 or (isinstance(exc, OfflineError) and "network is off" in str(exc)):
                raise
            click.echo(f"{name}: failed: {exc}", err=True)
            failures.append((name, exc))
            continue
        if already and not force:
            click.echo(f"{cached.name}: already cached: {cached.path}")
        else:
            click.echo(f"{cached.name}: downloaded from {cached.source}: {cached.path}")
    if failures:
        kind = OfflineError if all(isinstance(e, OfflineError) for _, e in failures) else DownloadError
        raise kind(f"{len(failures)} of {len(names)} downloads failed: {', '.join(n for n, _ in failures)}")


@weights.command("import")
@click.argument("file", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--name", help="Name to file it under (required unless the file is a published checkpoint).")
@click.option("--force", is_flag=True, help="Replace a cached model of the same name.")
def import_cmd(file: Path, name: str | None, force: bool) -> None:
    """Put a checkpoint file (.pth, .pt, .safetensors; BasicSR, original or MMagic naming) into the cache."""
    result = import_model(file, name=name, force=force)
    cached = result.cached
    if result.entry is not None:
        note = f" (--name {name} ignored)" if name and name != result.entry.name else ""
        what = f"recognised {file.name} as the published {result.entry.name}{note}"
    else:
        what = f"imported {file.name} as {cached.name}"
    if result.already:
        what += "; it was already in the cache"
    click.echo(f"{what}: {cached.path}")
    click.echo(f"  naming {cached.record.get('naming')}, {_config_line(cached.config)}")


def _echo_fields(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if value not in (None, "", []):
            click.echo(f"{key + ':':<{width + 2}}{value}")


def _entry_rows(entry: ModelEntry) -> list[tuple[str, Any]]:
    return [
        ("name", entry.name),
        ("task", entry.task),
        ("scale", f"x{entry.scale}"),
        ("frames", entry.frames),
        ("padding", entry.padding),
        ("config", _config_line(entry.config)),
        ("params", f"{entry.params:,}" if entry.params else None),
        ("published", "; ".join(s.long() for s in entry.scores) or None),
        ("origin", entry.origin),
        ("file", entry.file),
        ("sha256", entry.sha256 or "unknown"),
        ("stage1", entry.stage1),
    ]


@weights.command("info")
@click.argument("target")
def info(target: str) -> None:
    """What a model name or a checkpoint file is: configuration, source, hash."""
    registry = default_registry()
    path = Path(target).expanduser()
    if path.is_file():
        described = inspect_file(path)
        rows: list[tuple[str, Any]] = [
            ("file", described.path),
            ("sha256", described.sha256),
            ("published as", described.entry.name if described.entry else "no (not a published checkpoint)"),
            ("naming", described.naming),
            ("config", _config_line(described.config)),
            ("scale", f"x{1 if described.config.get('hr_in') else 4}"),
            ("params", f"{described.params:,}"),
        ]
        if described.metadata.get("edvr_source"):
            rows.append(("source", described.metadata["edvr_source"]))
            rows.append(("source sha256", described.metadata.get("edvr_source_sha256")))
        _echo_fields(rows)
        return
    entry = registry.get(target)
    hit = cache.get(entry.name if entry else as_cache_name(target))  # not a file: a model name, or one error line
    if entry is None and hit is None:
        model_path(target)  # raises ModelNotFoundError with close matches
    rows = _entry_rows(entry) if entry else [("name", hit.name), ("task", "imported")]  # type: ignore[union-attr]
    if entry is not None:
        sources = describe_sources(entry)
        none = "bundled" if entry.bundled else "none (import only)"
        rows.append(("sources", " -> ".join(sources) if sources else none))
    if hit is not None:
        if entry is None:
            rows.append(("config", _config_line(hit.config)))
            rows.append(("params", f"{hit.params:,}" if hit.params else None))
        if hit.sha256:
            check = "ok" if cache.is_intact(hit) else f"CHANGED since it was cached; edvr weights remove {hit.name}"
        else:
            check = "not recorded (cached by an older version)"
        rows += [
            ("cached", hit.path),
            ("came from", hit.source),
            ("source file", hit.source_file),
            ("source sha256", hit.source_sha256),
            ("cached sha256", hit.sha256),
            ("file check", check),
        ]
    elif entry is not None and entry.bundled:
        rows.append(("cached", f"bundled: {entry.bundled_path()}"))
    else:
        rows.append(("cached", "no"))
    _echo_fields(rows)


@weights.command("path")
@click.argument("name")
def path_cmd(name: str) -> None:
    """Print the file of a downloaded, imported or bundled model."""
    click.echo(str(model_path(name)))


@weights.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Delete a model from the cache (and any unfinished download of it)."""
    removed = remove_model(name)
    click.echo(f"removed {name}: " + ", ".join(p.name for p in removed))
