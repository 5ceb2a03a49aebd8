"""``python -m edvr_cli``: the ``edvr`` command."""

from edvr_cli.cli.main import entry

entry()
