"""The ``edvr`` command line: one module per command group over the Python API."""

from edvr_cli.cli.main import cli, main

__all__ = ["cli", "main"]
