"""The `edvr` command line: parses options, calls the Python API, and turns our errors into one line."""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import EDVRError


class _Group(click.Group):
    """A click group whose commands end with one clear stderr line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except EDVRError as exc:
            click.echo(f"edvr: error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("edvr: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug or an unforeseen failure: still one line, traceback on request
            if os.environ.get("EDVR_DEBUG"):
                raise
            click.echo(f"edvr: error: {type(exc).__name__}: {exc} (set EDVR_DEBUG=1 for a traceback)", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="edvr")
def main() -> None:
    """Restore videos with EDVR: 4x upscaling and deblurring that keep audio, timing and colour."""


def _register() -> None:
    from .cli_restore import deblur, upscale

    main.add_command(upscale)
    main.add_command(deblur)
    try:
        from .cli_weights import weights
    except ImportError:  # pragma: no cover - during development of the zoo
        pass
    else:
        main.add_command(weights)
    try:
        from .cli_train import compare, eval_command, train
    except ImportError:  # pragma: no cover
        pass
    else:
        main.add_command(train)
        main.add_command(eval_command, name="eval")
        main.add_command(compare)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
