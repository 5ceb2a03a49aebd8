"""The ``edvr`` command line: one module per command group over the Python API."""

from edvr_cli.guard import signals

signals.install(note_only=True)  # a signal while the command is still loading is acted on when main() starts

from edvr_cli.cli.main import cli, main  # noqa: E402

__all__ = ["cli", "main"]
