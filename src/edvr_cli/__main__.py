"""``python -m edvr_cli``: the ``edvr`` command."""

import sys

from edvr_cli.cli.main import main

sys.exit(main())
